"""The apply engine takes over what kubectl applied, unless the object asks to be merged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ground.gitops import kubectl
from lockstep.apply import Action, apply_all, default_apply_options, kustomization_owner
from lockstep.kube import KubeClient, KubeObject, ObjectRef

pytestmark = pytest.mark.integration

OWNER = kustomization_owner("apps", "flux-system")
OWNER_LABELS = {
    "kustomize.toolkit.fluxcd.io/name": "apps",
    "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
}
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _settings(namespace: str, data: dict[str, str], **metadata: object) -> KubeObject:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": namespace, **metadata},
        "data": data,
    }


async def _created_by_kubectl_apply(kubeconfig: Path, namespace: str) -> ObjectRef:
    manifest = _settings(namespace, {"a": "1", "b": "2"}, labels={"team": "payments"})
    await kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(manifest))
    return ObjectRef.of(manifest)


def _managers(obj: KubeObject) -> set[str]:
    return {entry["manager"] for entry in obj["metadata"].get("managedFields") or []}


async def test_fields_kubectl_applied_and_git_dropped_are_removed(
    kube: KubeClient, kubeconfig: Path, namespace: str
) -> None:
    ref = await _created_by_kubectl_apply(kubeconfig, namespace)
    assert "kubectl-client-side-apply" in _managers(await kube.get(ref))

    changeset = await apply_all(
        kube, [_settings(namespace, {"a": "1"})], default_apply_options(OWNER)
    )

    assert [str(entry) for entry in changeset.entries] == [
        f"ConfigMap/{namespace}/settings configured"
    ]
    live = await kube.get(ref)
    assert live["data"] == {"a": "1"}
    assert live["metadata"]["labels"] == OWNER_LABELS
    assert LAST_APPLIED not in (live["metadata"].get("annotations") or {})
    assert _managers(live) == {"lockstep"}

    again = await apply_all(kube, [_settings(namespace, {"a": "1"})], default_apply_options(OWNER))
    assert [entry.action for entry in again.entries] == [Action.UNCHANGED]


async def test_an_object_annotated_ssa_merge_keeps_what_kubectl_set(
    kube: KubeClient, kubeconfig: Path, namespace: str
) -> None:
    ref = await _created_by_kubectl_apply(kubeconfig, namespace)
    merged = _settings(
        namespace, {"a": "1"}, annotations={"kustomize.toolkit.fluxcd.io/ssa": "Merge"}
    )

    changeset = await apply_all(kube, [merged], default_apply_options(OWNER))

    assert [entry.action for entry in changeset.entries] == [Action.CONFIGURED]
    live = await kube.get(ref)
    assert live["data"] == {"a": "1", "b": "2"}
    assert live["metadata"]["labels"] == {"team": "payments", **OWNER_LABELS}
    assert LAST_APPLIED in live["metadata"]["annotations"]
    assert _managers(live) == {"kubectl-client-side-apply", "lockstep"}
