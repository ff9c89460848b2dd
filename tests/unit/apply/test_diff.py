"""The diff verb: the plan as entries to show, notes saying why, and what a prune would do."""

from __future__ import annotations

import dataclasses
from typing import cast

from lockstep.apply import (
    Action,
    InventoryEntry,
    default_apply_options,
    diff_all,
    kustomization_owner,
)
from lockstep.apply.diff import TAKE_OVER_NOTE
from lockstep.kube import KubeClient, KubeObject, ObjectRef
from unit.apply.fake_cluster import FakeCluster

OWNER = kustomization_owner("apps", "flux-system")
KUSTOMIZE = "kustomize.toolkit.fluxcd.io"


def _object(kind: str, name: str, value: str, **annotations: str) -> KubeObject:
    metadata: KubeObject = {"name": name, "namespace": "apps"}
    if annotations:
        metadata["annotations"] = {f"{KUSTOMIZE}/{k}": v for k, v in annotations.items()}
    return {"apiVersion": "v1", "kind": kind, "metadata": metadata, "spec": {"value": value}}


async def test_every_kind_of_entry_with_its_note_and_objects() -> None:
    cluster = FakeCluster(immutable={"Pod": ("spec",)})
    for obj in (
        _object("ConfigMap", "same", "1"),
        _object("ConfigMap", "changed", "1"),
        _object("Pod", "web", "1"),
        _object("ConfigMap", "stale", "1"),
        _object("ConfigMap", "kept", "1", prune="disabled"),
    ):
        cluster.store(OWNER.mark(obj))
    taken = OWNER.mark(_object("ConfigMap", "taken", "1"))
    taken["metadata"]["managedFields"] = [{"manager": "kubectl-edit", "operation": "Update"}]
    cluster.store(taken)
    objects = [
        _object("ConfigMap", "same", "1"),
        _object("ConfigMap", "changed", "2"),
        _object("ConfigMap", "taken", "1"),
        _object("Pod", "web", "2", force="enabled"),
        _object("ConfigMap", "new", "1"),
        _object("ConfigMap", "off", "1", reconcile="disabled"),
    ]
    stale = [
        InventoryEntry.of(ObjectRef("v1", "ConfigMap", name, "apps"))
        for name in ("stale", "kept", "gone")
    ]

    diff = await diff_all(cast(KubeClient, cluster), objects, default_apply_options(OWNER), stale)

    entries = {e.ref.name: (e.action, e.note, e.recreated) for e in diff.objects}
    assert entries == {
        "same": (Action.UNCHANGED, "", False),
        "changed": (Action.CONFIGURED, "", False),
        "taken": (Action.CONFIGURED, TAKE_OVER_NOTE, False),
        "web": (Action.CREATED, "spec is immutable", True),
        "new": (Action.CREATED, "", False),
        "off": (Action.SKIPPED, "reconcile disabled", False),
        "stale": (Action.DELETED, "", False),
        "kept": (Action.SKIPPED, "prune disabled", False),
    }
    changed = next(e for e in diff.objects if e.ref.name == "changed")
    assert changed.live is not None
    assert changed.merged is not None
    assert (changed.live["spec"], changed.merged["spec"]) == ({"value": "1"}, {"value": "2"})
    assert "resourceVersion" not in changed.live["metadata"]
    assert diff.changes
    assert not diff.failures
    assert "delete" not in cluster.verbs()
    assert "apply" not in cluster.verbs()


async def test_nothing_to_change_and_a_refused_change_are_told_apart() -> None:
    cluster = FakeCluster(immutable={"Pod": ("spec",)})
    cluster.store(OWNER.mark(_object("Pod", "web", "1")))
    options = default_apply_options(OWNER)

    same = await diff_all(cast(KubeClient, cluster), [_object("Pod", "web", "1")], options)
    assert not same.changes
    assert not same.failures

    refused = await diff_all(cast(KubeClient, cluster), [_object("Pod", "web", "2")], options)
    assert not refused.changes
    assert refused.failures[0].startswith("Pod/apps/web dry-run failed: spec is immutable; ")

    forced = dataclasses.replace(options, recreate_immutable=True)
    recreated = await diff_all(cast(KubeClient, cluster), [_object("Pod", "web", "2")], forced)
    assert recreated.changes
    assert recreated.objects[0].recreated
