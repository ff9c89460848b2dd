"""The apply engine on objects Flux applied: nothing is written until Git changes, and a
field Git drops is removed although Flux's field manager owned it.

Flux's kustomize-controller applies under the field manager
``kustomize-controller``, with objects normalized through Kubernetes' typed
structs (empty ``strategy``/``resources`` structs, ports' ``protocol: TCP``). A
client with that field manager applies objects written that way here; the real
controllers do the same in tests/oracle (``make flux-oracle``).
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ground.wait import eventually
from lockstep.apply import Action, apply_all, default_apply_options, kustomization_owner
from lockstep.kube import KubeClient, KubeObject, ObjectRef

pytestmark = pytest.mark.integration

FLUX_FIELD_MANAGER = "kustomize-controller"


@pytest.fixture
async def flux(kubeconfig: Path) -> AsyncIterator[KubeClient]:
    async with KubeClient.from_kubeconfig(kubeconfig, field_manager=FLUX_FIELD_MANAGER) as client:
        yield client


def _labels(namespace: str) -> dict[str, str]:
    return {
        "kustomize.toolkit.fluxcd.io/name": "apps",
        "kustomize.toolkit.fluxcd.io/namespace": namespace,
    }


def _objects(namespace: str) -> list[KubeObject]:
    """A ConfigMap, a Service and a Deployment as Git declares them."""
    metadata = {"namespace": namespace, "labels": _labels(namespace)}
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", **metadata},
            "data": {"a": "1", "b": "2"},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", **metadata},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", **metadata},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
                },
            },
        },
    ]


def _as_flux_applies(obj: KubeObject) -> KubeObject:
    """``obj`` normalized the way Flux's apply normalizes it."""
    normalized = copy.deepcopy(obj)
    if obj["kind"] == "Service":
        for port in normalized["spec"]["ports"]:
            port["protocol"] = "TCP"
    if obj["kind"] == "Deployment":
        normalized["spec"]["strategy"] = {}
        for container in normalized["spec"]["template"]["spec"]["containers"]:
            container["resources"] = {}
    return normalized


async def _applied_as_flux(flux: KubeClient, objects: list[KubeObject]) -> None:
    """Apply ``objects`` as Flux does, then wait until the Deployment controller has seen
    the Deployment: its first write (the revision annotation, the status) would otherwise
    race the apply under test and read as a change."""
    for obj in objects:
        await flux.apply(_as_flux_applies(obj))
    for ref in [ObjectRef.of(obj) for obj in objects if obj["kind"] == "Deployment"]:
        await eventually(
            lambda ref=ref: flux.get(ref),
            _seen_by_its_controller,
            what="the Deployment seen by its controller",
        )


def _seen_by_its_controller(live: KubeObject) -> bool:
    annotations = live["metadata"].get("annotations") or {}
    observed = (live.get("status") or {}).get("observedGeneration")
    return observed == live["metadata"]["generation"] and (
        "deployment.kubernetes.io/revision" in annotations
    )


def _managers(obj: KubeObject) -> set[str]:
    return {entry["manager"] for entry in obj["metadata"].get("managedFields") or []}


async def test_objects_flux_applied_are_not_written_while_git_is_unchanged(
    kube: KubeClient, flux: KubeClient, namespace: str
) -> None:
    objects = _objects(namespace)
    await _applied_as_flux(flux, objects)
    before = {ObjectRef.of(obj): await kube.get(ObjectRef.of(obj)) for obj in objects}

    changeset = await apply_all(
        kube, objects, default_apply_options(kustomization_owner("apps", namespace))
    )

    assert [entry.action for entry in changeset.entries] == [Action.UNCHANGED] * 3
    for ref, obj in before.items():
        now = await kube.get(ref)
        if ref.kind != "Deployment":  # the cluster's controllers write its status
            assert now["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]
        assert _managers(now) == _managers(obj)
        assert "lockstep" not in _managers(now)


async def test_a_field_git_drops_is_removed_from_an_object_flux_applied(
    kube: KubeClient, flux: KubeClient, namespace: str
) -> None:
    settings, service, web = _objects(namespace)
    await _applied_as_flux(flux, [settings, service, web])
    dropped = copy.deepcopy(settings)
    del dropped["data"]["b"]
    dropped["metadata"]["labels"] = _labels(namespace)

    changeset = await apply_all(
        kube,
        [dropped, service, web],
        default_apply_options(kustomization_owner("apps", namespace)),
    )

    assert sorted(str(entry) for entry in changeset.entries) == [
        f"ConfigMap/{namespace}/settings configured",
        f"Deployment/{namespace}/web unchanged",
        f"Service/{namespace}/web unchanged",
    ]
    live = await kube.get(ObjectRef.of(settings))
    assert live["data"] == {"a": "1"}
    assert FLUX_FIELD_MANAGER not in _managers(live)
    again = await apply_all(
        kube, [dropped], default_apply_options(kustomization_owner("apps", namespace))
    )
    assert [entry.action for entry in again.entries] == [Action.UNCHANGED]
