"""The apply engine against the real API server: staging, dry-run, drift, annotations, prune."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from lockstep.apply import (
    Action,
    ApplyError,
    ChangeSet,
    GroupAnnotations,
    InventoryEntry,
    Owner,
    OwnerLabels,
    apply_all,
    default_apply_options,
    default_prune_options,
    kustomization_owner,
    plan_all,
    prune,
)
from lockstep.kube import KubeClient, KubeObject, NotFound, ObjectRef

pytestmark = pytest.mark.integration

OWNER = kustomization_owner("apps", "flux-system")
OWNER_LABELS = {
    "kustomize.toolkit.fluxcd.io/name": "apps",
    "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
}


def _config_map(namespace: str, name: str, colour: str, **annotations: str) -> KubeObject:
    metadata: KubeObject = {"name": name, "namespace": namespace}
    if annotations:
        metadata["annotations"] = {
            f"kustomize.toolkit.fluxcd.io/{key}": value for key, value in annotations.items()
        }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata,
        "data": {"colour": colour},
    }


def _actions(changeset: ChangeSet) -> dict[str, Action]:
    return {entry.subject: entry.action for entry in changeset.entries}


@pytest.fixture
async def widget_crd(kube: KubeClient) -> AsyncIterator[KubeObject]:
    group = f"t{uuid.uuid4().hex[:8]}.example.com"
    crd: KubeObject = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {"size": {"type": "integer"}},
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    yield crd
    await kube.delete(ObjectRef.of(crd))


async def _resource_versions(kube: KubeClient, objects: list[KubeObject]) -> list[str]:
    return [
        str((await kube.get(ObjectRef.of(obj)))["metadata"]["resourceVersion"]) for obj in objects
    ]


async def test_a_crd_and_its_custom_resource_in_one_set_then_only_drift_is_written(
    kube: KubeClient, namespace: str, widget_crd: KubeObject
) -> None:
    group = widget_crd["spec"]["group"]
    widget: KubeObject = {
        "apiVersion": f"{group}/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": namespace},
        "spec": {"size": 1},
    }
    settings = _config_map(namespace, "settings", "blue")
    objects = [widget, settings, widget_crd]
    options = default_apply_options(OWNER)

    created = await apply_all(kube, objects, options)
    assert _actions(created) == {
        f"CustomResourceDefinition/widgets.{group}": Action.CREATED,
        f"ConfigMap/{namespace}/settings": Action.CREATED,
        f"Widget/{namespace}/w": Action.CREATED,
    }
    live_widget = await kube.get(ObjectRef.of(widget))
    assert live_widget["metadata"]["labels"] == OWNER_LABELS

    before = await _resource_versions(kube, objects)
    again = await apply_all(kube, objects, options)
    assert set(_actions(again).values()) == {Action.UNCHANGED}
    assert await _resource_versions(kube, objects) == before

    widget["spec"]["size"] = 2
    changed = await apply_all(kube, objects, options)
    assert _actions(changed) == {
        f"CustomResourceDefinition/widgets.{group}": Action.UNCHANGED,
        f"ConfigMap/{namespace}/settings": Action.UNCHANGED,
        f"Widget/{namespace}/w": Action.CONFIGURED,
    }
    assert (await kube.get(ObjectRef.of(widget)))["spec"]["size"] == 2


async def test_one_invalid_object_fails_the_set_before_anything_is_written(
    kube: KubeClient, namespace: str
) -> None:
    service: KubeObject = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
    }
    deployment: KubeObject = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "Not_A_Name", "image": "nginx"}]},
            },
        },
    }
    objects = [_config_map(namespace, "settings", "blue"), service, deployment]

    with pytest.raises(ApplyError) as failure:
        await apply_all(kube, objects, default_apply_options(OWNER))

    message = str(failure.value)
    assert message.startswith(f"Deployment/{namespace}/web dry-run failed: ")
    assert "Not_A_Name" in message
    assert "Invalid value" in message
    assert failure.value.changeset.entries == []
    for obj in objects:
        with pytest.raises(NotFound):
            await kube.get(ObjectRef.of(obj))


async def test_an_invalid_object_of_a_later_stage_stops_the_earlier_stages_too(
    kube: KubeClient, namespace: str
) -> None:
    new_namespace = f"{namespace}-extra"
    created: KubeObject = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": new_namespace},
    }
    role: KubeObject = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": f"{namespace}-reader"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
    }
    invalid = _config_map(namespace, "Not_A_Name", "blue")
    inside_new = _config_map(new_namespace, "settings", "blue")

    with pytest.raises(ApplyError) as failure:
        await apply_all(kube, [created, role, invalid, inside_new], default_apply_options(OWNER))

    assert str(failure.value).startswith(f"ConfigMap/{namespace}/Not_A_Name dry-run failed: ")
    for obj in (created, role):
        with pytest.raises(NotFound):
            await kube.get(ObjectRef.of(obj))


async def test_a_namespaced_object_without_namespace_is_refused(
    kube: KubeClient, namespace: str
) -> None:
    homeless: KubeObject = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "homeless"},
        "data": {"colour": "blue"},
    }
    with pytest.raises(ApplyError) as failure:
        await apply_all(
            kube,
            [_config_map(namespace, "settings", "blue"), homeless],
            default_apply_options(OWNER),
        )
    assert str(failure.value).startswith("ConfigMap/homeless namespace not specified; ")
    with pytest.raises(NotFound):
        await kube.get(ObjectRef("v1", "ConfigMap", "settings", namespace))


async def test_ssa_and_reconcile_annotations_are_honoured(kube: KubeClient, namespace: str) -> None:
    await kube.apply(_config_map(namespace, "seeded", "blue"))
    objects = [
        _config_map(namespace, "seeded", "green", ssa="IfNotPresent"),
        _config_map(namespace, "fresh", "green", ssa="IfNotPresent"),
        _config_map(namespace, "ignored", "green", ssa="Ignore"),
        _config_map(namespace, "frozen", "green", reconcile="disabled"),
    ]

    changeset = await apply_all(kube, objects, default_apply_options(OWNER))

    assert _actions(changeset) == {
        f"ConfigMap/{namespace}/fresh": Action.CREATED,
        f"ConfigMap/{namespace}/frozen": Action.SKIPPED,
        f"ConfigMap/{namespace}/ignored": Action.SKIPPED,
        f"ConfigMap/{namespace}/seeded": Action.SKIPPED,
    }
    seeded = await kube.get(ObjectRef("v1", "ConfigMap", "seeded", namespace))
    assert seeded["data"] == {"colour": "blue"}
    for name in ("ignored", "frozen"):
        with pytest.raises(NotFound):
            await kube.get(ObjectRef("v1", "ConfigMap", name, namespace))


async def test_prune_deletes_only_our_objects_and_honours_prune_disabled(
    kube: KubeClient, namespace: str
) -> None:
    ours = _config_map(namespace, "ours", "blue")
    kept = _config_map(namespace, "kept", "blue", prune="disabled")
    await apply_all(kube, [ours, kept], default_apply_options(OWNER))
    await kube.apply(
        kustomization_owner("other", "flux-system").mark(_config_map(namespace, "theirs", "red"))
    )
    stale = [
        InventoryEntry.of(ObjectRef("v1", "ConfigMap", name, namespace))
        for name in ("ours", "kept", "theirs", "gone")
    ]

    changeset = await prune(kube, stale, default_prune_options(OWNER))

    assert _actions(changeset) == {
        f"ConfigMap/{namespace}/ours": Action.DELETED,
        f"ConfigMap/{namespace}/kept": Action.SKIPPED,
        f"ConfigMap/{namespace}/theirs": Action.SKIPPED,
    }
    assert changeset.failures == []
    with pytest.raises(NotFound):
        await kube.get(ObjectRef("v1", "ConfigMap", "ours", namespace))
    for name in ("kept", "theirs"):
        await kube.get(ObjectRef("v1", "ConfigMap", name, namespace))


async def test_a_failed_delete_is_reported_not_raised(kube: KubeClient) -> None:
    default = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}
    await kube.apply(OWNER.mark(default))
    try:
        changeset = await prune(
            kube, [InventoryEntry.of(ObjectRef.of(default))], default_prune_options(OWNER)
        )
    finally:
        await kube.apply(default)

    assert changeset.entries == []
    [failed] = changeset.failures
    assert failed.subject == "Namespace/default"
    assert failed.message.startswith("delete failed: ")
    assert "may not be deleted" in failed.message


HELM = "helm.toolkit.fluxcd.io"


def _helm_owner(name: str) -> Owner:
    return Owner(
        field_manager="helm-controller",
        marking=OwnerLabels(HELM, name, "flux-system"),
        annotations=GroupAnnotations(HELM),
        recreate_hint="set spec.upgrade.force: true on the HelmRelease",
    )


async def test_another_owner_marks_applies_and_prunes_as_itself(
    kube: KubeClient, namespace: str
) -> None:
    owner = _helm_owner("podinfo")
    options = default_apply_options(owner)
    await kube.apply(_config_map(namespace, "hands-off", "red"))
    hands_off = _config_map(namespace, "hands-off", "blue")
    hands_off["metadata"]["annotations"] = {f"{HELM}/reconcile": "disabled"}
    kept = _config_map(namespace, "kept", "blue")
    kept["metadata"]["annotations"] = {f"{HELM}/prune": "disabled"}
    objects = [
        _config_map(namespace, "ours", "blue"),
        kept,
        _config_map(namespace, "flux-off", "blue", reconcile="disabled"),
        hands_off,
    ]

    changeset = await apply_all(kube, objects, options)

    assert _actions(changeset) == {
        f"ConfigMap/{namespace}/ours": Action.CREATED,
        f"ConfigMap/{namespace}/kept": Action.CREATED,
        f"ConfigMap/{namespace}/flux-off": Action.CREATED,
        f"ConfigMap/{namespace}/hands-off": Action.SKIPPED,
    }
    ours = await kube.get(ObjectRef("v1", "ConfigMap", "ours", namespace))
    assert ours["metadata"]["labels"] == {
        f"{HELM}/name": "podinfo",
        f"{HELM}/namespace": "flux-system",
    }
    assert [entry["manager"] for entry in ours["metadata"]["managedFields"]] == ["helm-controller"]
    untouched = await kube.get(ObjectRef("v1", "ConfigMap", "hands-off", namespace))
    assert untouched["data"] == {"colour": "red"}

    await kube.apply(_helm_owner("other").mark(_config_map(namespace, "theirs", "red")))
    stale = [
        InventoryEntry.of(ObjectRef("v1", "ConfigMap", name, namespace))
        for name in ("ours", "kept", "theirs")
    ]
    pruned = await prune(kube, stale, default_prune_options(owner))
    assert _actions(pruned) == {
        f"ConfigMap/{namespace}/ours": Action.DELETED,
        f"ConfigMap/{namespace}/kept": Action.SKIPPED,
        f"ConfigMap/{namespace}/theirs": Action.SKIPPED,
    }


async def test_the_plan_is_what_the_apply_then_does_and_costs_no_write(
    kube: KubeClient, namespace: str
) -> None:
    options = default_apply_options(OWNER)
    await apply_all(kube, [_config_map(namespace, "same", "blue")], options)
    await apply_all(kube, [_config_map(namespace, "changed", "blue")], options)
    objects = [
        _config_map(namespace, "same", "blue"),
        _config_map(namespace, "changed", "green"),
        _config_map(namespace, "new", "blue"),
        _config_map(namespace, "off", "blue", reconcile="disabled"),
    ]
    before = await _resource_versions(kube, objects[:2])

    plan = await plan_all(kube, objects, options)

    assert await _resource_versions(kube, objects[:2]) == before, "planning writes nothing"
    with pytest.raises(NotFound):
        await kube.get(ObjectRef("v1", "ConfigMap", "new", namespace))
    changeset = await apply_all(kube, objects, options)
    assert {str(p.ref): p.action for p in plan.objects} == _actions(changeset)
    assert _actions(changeset)[f"ConfigMap/{namespace}/changed"] is Action.CONFIGURED
    changed = next(p for p in plan.objects if p.ref.name == "changed")
    live = await kube.get(changed.ref)
    assert changed.merged is not None
    assert changed.merged["data"] == live["data"]
