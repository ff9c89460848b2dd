"""The deletion of an Application, one look at a time, against an in-memory cluster: a
PreDelete hook created and waited for before any object goes, objects deleted a step at a
time, the PostDelete hook only once they are gone, ``HookSucceeded`` hooks removed at the
end, and a hook that neither completes nor fails within the bound counted as failed."""

from __future__ import annotations

from typing import Any, cast

import pytest

from lockstep.apply import Owner
from lockstep.controllers.argo.deletion import (
    HOOK_TIMEOUT_SECONDS,
    DeletionHookFailed,
    delete_application,
    named_delete_hook,
)
from lockstep.controllers.argo.owner import application_owner
from lockstep.controllers.argo.syncplan import HookType, SyncOptions, plan_deletion
from lockstep.kube import KubeClient, KubeObject, NotFound, ObjectRef

CREATED = "2026-01-01T00:00:00Z"
CREATED_AT = 1767225600.0


class Cluster:
    """What the deletion reads and writes: objects by reference, deletions in order."""

    def __init__(self, *objects: KubeObject) -> None:
        self.objects = {ObjectRef.of(o): o for o in objects}
        self.deleted: list[str] = []

    async def get(self, ref: ObjectRef) -> KubeObject:
        if ref not in self.objects:
            raise NotFound(f"{ref} not found")
        return self.objects[ref]

    async def apply(self, obj: KubeObject, **_: Any) -> KubeObject:
        created = {**obj, "metadata": {**obj["metadata"], "creationTimestamp": CREATED}}
        self.objects[ObjectRef.of(obj)] = created
        return created

    async def delete(self, ref: ObjectRef, **_: Any) -> None:
        self.deleted.append(ref.name)
        self.objects.pop(ref, None)

    def complete(self, name: str) -> None:
        job = next(o for r, o in self.objects.items() if r.name == name)
        job["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}


def hook(name: str, hook_type: str, policy: str = "BeforeHookCreation") -> KubeObject:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "annotations": {
                "argocd.argoproj.io/hook": hook_type,
                "argocd.argoproj.io/hook-delete-policy": policy,
            },
        },
        "spec": {"template": {"spec": {"containers": []}}},
    }


def deployed(kind: str, name: str, wave: str = "0") -> KubeObject:
    annotations = {"argocd.argoproj.io/sync-wave": wave}
    return {
        "apiVersion": "v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "shop", "annotations": annotations},
    }


def owner() -> Owner:
    return application_owner("web", "shop", SyncOptions())


async def look(cluster: Cluster, desired: list[KubeObject], **kw: Any) -> float | None:
    live = [o for r, o in cluster.objects.items() if r.kind != "Job"]
    plan = plan_deletion(desired, live, options=SyncOptions())
    kube = cast(KubeClient, cluster)
    return await delete_application(kube, plan, owner=owner(), background=False, **kw)


async def test_pre_delete_then_objects_by_wave_then_post_delete_then_clean_up() -> None:
    hooks = [hook("backup", "PreDelete", "HookSucceeded"), hook("bye", "PostDelete")]
    cluster = Cluster(deployed("ConfigMap", "early", "0"), deployed("ConfigMap", "late", "1"))

    assert await look(cluster, hooks, clock=CREATED_AT) is not None
    assert "backup" in {r.name for r in cluster.objects}
    assert cluster.deleted == []
    assert await look(cluster, hooks, clock=CREATED_AT) is not None, "the hook is running"
    assert cluster.deleted == []

    cluster.complete("backup")
    assert await look(cluster, hooks, clock=CREATED_AT) is not None
    assert cluster.deleted == ["late"], "the highest wave goes first, alone"
    assert await look(cluster, hooks, clock=CREATED_AT) is not None
    assert cluster.deleted == ["late", "early"]
    assert "bye" not in {r.name for r in cluster.objects}

    assert await look(cluster, hooks, clock=CREATED_AT) is not None
    cluster.complete("bye")
    assert await look(cluster, hooks, clock=CREATED_AT) is None
    assert cluster.deleted == ["late", "early", "backup"], "BeforeHookCreation stays"


async def test_a_hook_that_runs_past_the_bound_stops_the_deletion() -> None:
    hooks = [hook("backup", "PreDelete")]
    cluster = Cluster(deployed("ConfigMap", "settings"))
    await look(cluster, hooks, clock=CREATED_AT)

    assert await look(cluster, hooks, clock=CREATED_AT + HOOK_TIMEOUT_SECONDS) is not None
    with pytest.raises(DeletionHookFailed) as failed:
        await look(cluster, hooks, clock=CREATED_AT + HOOK_TIMEOUT_SECONDS + 1)

    assert str(failed.value).startswith(
        "PreDelete hook Job/shop/backup has not completed within 300s: "
    )
    assert cluster.deleted == []


def test_a_generate_name_hook_gets_one_name_per_type() -> None:
    generated = hook("", "PreDelete")
    generated["metadata"] = {**generated["metadata"], "name": "", "generateName": "backup-"}

    named = named_delete_hook(generated, HookType.PRE_DELETE)

    assert named["metadata"]["name"] == "backup-predelete"
    assert named_delete_hook(hook("x", "PreDelete"), HookType.PRE_DELETE)["metadata"]["name"] == "x"
