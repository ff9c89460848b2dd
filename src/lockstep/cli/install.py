"""``lockstep install``: put lockstep on a cluster.

The CRDs come from :func:`lockstep.api.crds.crd_manifests`: Flux's complete set,
generated from the kind table and the typed models, so that Flux's own
controllers start against them too. The engine's manifests come from
:mod:`lockstep.cli.components`. They are server-side applied with lockstep's field
manager, the CRDs first, and the command waits until the API server reports each
CRD Established and lists its objects, so that any command run next finds the
kinds served. A CRD already installed (by Flux) keeps the versions its objects were
stored at, no longer served, as the API server requires until they are migrated.
"""

from __future__ import annotations

import asyncio
import copy
import time
from typing import Annotated, Any

import typer

from lockstep.api.crds import crd_manifests, manifests_yaml
from lockstep.cli.components import DEFAULT_IMAGE, DEFAULT_NAMESPACE, all_manifests
from lockstep.cli.context import UserError, console, state
from lockstep.kube import KubeClient, NotFound, ObjectRef, ServerError
from lockstep.runtime.served import CRD_API_VERSION, CRD_KIND, is_established

ESTABLISHED_TIMEOUT_SECONDS = 60.0


def install(
    ctx: typer.Context,
    crds: Annotated[
        bool, typer.Option("--crds", help="Install only the custom resource definitions.")
    ] = False,
    namespace: Annotated[
        str, typer.Option("--namespace", "-n", help="Namespace of the engine.")
    ] = DEFAULT_NAMESPACE,
    image: Annotated[str, typer.Option(help="Container image of the engine.")] = DEFAULT_IMAGE,
    export: Annotated[
        bool, typer.Option("--export", help="Print the manifests as YAML instead of applying them.")
    ] = False,
) -> None:
    """Install lockstep on the current cluster: CRDs, namespace, RBAC and the engine.

    The CRDs serve the Flux-compatible APIs; the engine runs as a Deployment.

    Examples:

      lockstep install

      lockstep install --crds

      lockstep install --image registry.example.com/lockstep:1.0 --export > lockstep.yaml
    """
    manifests = crd_manifests() if crds else all_manifests(namespace, image)
    if export:
        typer.echo(manifests_yaml(manifests), nl=False)
        return
    asyncio.run(_install(state(ctx).kube_client(), manifests))
    if crds:
        console.print(f"[green]✓[/] {len(manifests)} CRDs installed and established")
    else:
        console.print(f"[green]✓[/] lockstep installed in namespace {namespace}")


async def _install(kube: KubeClient, manifests: list[dict[str, Any]]) -> None:
    async with kube:
        await apply_manifests(kube, manifests)


async def apply_manifests(kube: KubeClient, manifests: list[dict[str, Any]]) -> None:
    """The CRDs first (waiting until they are Established), then everything else."""
    crds = [m for m in manifests if m["kind"] == "CustomResourceDefinition"]
    await apply_crds(kube, crds)
    for manifest in manifests:
        if manifest["kind"] != "CustomResourceDefinition":
            await kube.apply(manifest)
            console.print(f"[dim]•[/] {manifest['kind']} {manifest['metadata']['name']} applied")


async def apply_crds(kube: KubeClient, manifests: list[dict[str, Any]]) -> None:
    """Server-side apply the CRDs, then wait until each is Established and served."""
    for manifest in manifests:
        await kube.apply(await _keeping_stored_versions(kube, manifest))
        console.print(f"[dim]•[/] {manifest['metadata']['name']} applied")
    pending = {manifest["metadata"]["name"] for manifest in manifests}
    deadline = time.monotonic() + ESTABLISHED_TIMEOUT_SECONDS
    while pending:
        for name in sorted(pending):
            crd = await kube.get(ObjectRef(CRD_API_VERSION, CRD_KIND, name))
            if is_established(crd) and await _listed(kube, crd):
                pending.discard(name)
        if pending and time.monotonic() > deadline:
            raise UserError(
                f"CustomResourceDefinition {sorted(pending)[0]} is not Established after "
                f"{ESTABLISHED_TIMEOUT_SECONDS:.0f}s",
                hint="kubectl describe crd " + sorted(pending)[0],
            )
        if pending:
            await asyncio.sleep(0.2)


async def _keeping_stored_versions(kube: KubeClient, manifest: dict[str, Any]) -> dict[str, Any]:
    """``manifest``, plus each version objects are stored at in the installed CRD that
    it does not list, not served: the API server refuses a CRD without them."""
    ref = ObjectRef(CRD_API_VERSION, CRD_KIND, manifest["metadata"]["name"])
    try:
        live = await kube.get(ref)
    except NotFound:
        return manifest
    versions = manifest["spec"]["versions"]
    listed = {version["name"] for version in versions}
    stored = (live.get("status") or {}).get("storedVersions") or []
    kept = [
        {**copy.deepcopy(versions[0]), "name": name, "served": False, "storage": False}
        for name in stored
        if name not in listed
    ]
    if not kept:
        return manifest
    return {**manifest, "spec": {**manifest["spec"], "versions": [*versions, *kept]}}


async def _listed(kube: KubeClient, crd: dict[str, Any]) -> bool:
    """Whether the API server lists objects of the CRD's kind. For a few seconds after a CRD
    is Established (or changed), lists may still be refused with 429 "storage is
    (re)initializing", which a command run right after the install would fail with."""
    spec = crd["spec"]
    version = next(version["name"] for version in spec["versions"] if version.get("storage"))
    try:
        await kube.list(f"{spec['group']}/{version}", spec["names"]["kind"])
    except (NotFound, ServerError):
        return False
    return True
