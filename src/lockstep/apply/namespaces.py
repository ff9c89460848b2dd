"""The namespace of rendered objects that name none, as the tools that render them set it:
Helm's client and Argo CD put namespaced objects without a namespace in the release's
or the destination's namespace, and leave cluster-scoped ones as they are.

Called by the HelmRelease reconciler and its preview, and by the Argo CD Application
reconciler, before their objects are planned or applied.
"""

from __future__ import annotations

from lockstep.kube import KubeClient, KubeObject, NotFound


async def with_default_namespace(
    kube: KubeClient, objects: list[KubeObject], namespace: str
) -> list[KubeObject]:
    """``objects``, changed in place, with ``namespace`` set on the namespaced ones that name
    none; a kind the cluster does not serve (yet: its CRD may come with the same objects)
    counts as namespaced."""
    for obj in objects:
        metadata = obj.setdefault("metadata", {})
        if metadata.get("namespace"):
            continue
        try:
            info = await kube.resource_info(obj["apiVersion"], obj["kind"])
        except NotFound:
            info = None
        if info is None or info.namespaced:
            metadata["namespace"] = namespace
    return objects
