"""Planning: the action per object and the requests it costs, the annotations honoured,
take-over, immutable fields, and a whole set planned before its namespace exists."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import cast

import pytest

from lockstep.apply import (
    Action,
    ApplyOptions,
    SkipReason,
    default_apply_options,
    kustomization_owner,
    plan_all,
)
from lockstep.apply.owners import KUSTOMIZATION_RECREATE_HINT
from lockstep.apply.plan import CONCURRENT_REQUESTS, plan_stage
from lockstep.kube import KubeClient, KubeObject, ObjectRef, Unreachable
from unit.apply.fake_cluster import FakeCluster, Request

OWNER = kustomization_owner("apps", "flux-system")
OPTIONS = default_apply_options(OWNER)
KUSTOMIZE = "kustomize.toolkit.fluxcd.io"


def _config_map(
    name: str, colour: str = "blue", namespace: str = "apps", **annotations: str
) -> KubeObject:
    metadata: KubeObject = {"name": name, "namespace": namespace}
    if annotations:
        metadata["annotations"] = {
            f"{KUSTOMIZE}/{key}": value for key, value in annotations.items()
        }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata,
        "data": {"colour": colour},
    }


def _job(image: str, **annotations: str) -> KubeObject:
    job = _config_map("migrate", **annotations)
    del job["data"]
    return {**job, "apiVersion": "batch/v1", "kind": "Job", "spec": {"image": image}}


async def _plan(cluster: FakeCluster, objects: list[KubeObject], options: ApplyOptions = OPTIONS):
    return await plan_all(cast(KubeClient, cluster), objects, options)


async def test_a_new_object_is_created_after_one_dry_run_and_no_read() -> None:
    cluster = FakeCluster()
    plan = await _plan(cluster, [_config_map("settings")])
    [planned] = plan.objects
    assert planned.action is Action.CREATED
    assert planned.merged is not None
    assert planned.live is None
    assert planned.desired["metadata"]["labels"][f"{KUSTOMIZE}/name"] == "apps"
    assert cluster.verbs() == ["dry-run"]
    assert cluster.requests[0].field_manager == "lockstep"
    assert plan.writes
    assert not plan.failures


async def test_an_existing_object_is_read_once_and_compared_with_its_dry_run() -> None:
    cluster = FakeCluster()
    cluster.store(OWNER.mark(_config_map("same")))
    cluster.store(OWNER.mark(_config_map("changed")))
    plan = await _plan(cluster, [_config_map("same"), _config_map("changed", "green")])
    changed, same = plan.objects  # in apply order: by kind, then name
    assert (same.action, changed.action) == (Action.UNCHANGED, Action.CONFIGURED)
    assert changed.merged is not None
    assert changed.merged["data"] == {"colour": "green"}
    assert changed.live is not None
    assert changed.live["data"] == {"colour": "blue"}
    assert sorted(cluster.verbs()) == ["dry-run", "dry-run", "get", "get"]


async def test_reconcile_disabled_and_ssa_ignore_skip_without_a_request() -> None:
    cluster = FakeCluster()
    plan = await _plan(
        cluster, [_config_map("off", reconcile="disabled"), _config_map("ignored", ssa="Ignore")]
    )
    assert {p.ref.name: (p.action, p.skipped) for p in plan.objects} == {
        "off": (Action.SKIPPED, SkipReason.RECONCILE_DISABLED),
        "ignored": (Action.SKIPPED, SkipReason.APPLY_IGNORED),
    }
    assert cluster.requests == []
    assert not plan.writes


async def test_annotations_on_the_live_object_skip_it_and_if_not_present_keeps_it() -> None:
    cluster = FakeCluster()
    cluster.store(_config_map("edited", reconcile="disabled"))
    cluster.store(_config_map("seeded"))
    plan = await _plan(
        cluster,
        [_config_map("edited", "green"), _config_map("seeded", "green", ssa="IfNotPresent")],
    )
    assert [p.skipped for p in plan.objects] == [SkipReason.RECONCILE_DISABLED, SkipReason.EXISTS]
    fresh = await _plan(FakeCluster(), [_config_map("seeded", ssa="IfNotPresent")])
    assert fresh.objects[0].action is Action.CREATED


async def test_kubectl_fields_are_taken_over_unless_the_object_asks_to_be_merged() -> None:
    kubectl = {"manager": "kubectl-client-side-apply", "operation": "Update", "fieldsV1": {}}
    cluster = FakeCluster()
    desired = [_config_map("taken"), _config_map("merged", ssa="Merge")]
    for obj in desired:
        live = OWNER.mark(obj)
        live["metadata"]["managedFields"] = [kubectl]
        cluster.store(live)
    plan = await _plan(cluster, desired)
    merged, taken = plan.objects  # in apply order: by kind, then name
    assert (taken.action, taken.take_over) == (Action.CONFIGURED, True), "a write without drift"
    assert (merged.action, merged.take_over) == (Action.UNCHANGED, False)


async def test_an_immutable_change_fails_naming_the_field_unless_recreation_is_asked() -> None:
    cluster = FakeCluster(immutable={"Job": ("spec",)})
    cluster.store(OWNER.mark(_job("busybox:1")))

    refused = await _plan(cluster, [_job("busybox:2")])
    assert not refused.objects
    assert [str(f) for f in refused.failures] == [
        f"Job/apps/migrate dry-run failed: spec is immutable; {KUSTOMIZATION_RECREATE_HINT}"
    ]

    forced = await _plan(
        cluster, [_job("busybox:2")], dataclasses.replace(OPTIONS, recreate_immutable=True)
    )
    annotated = await _plan(cluster, [_job("busybox:2", force="enabled")])
    for plan in (forced, annotated):
        [planned] = plan.objects
        assert planned.action is Action.CREATED
        assert planned.replaces == "uid-migrate"
        assert planned.immutable == ("spec",)
        assert planned.desired["spec"] == {"image": "busybox:2"}


async def test_an_ignored_field_keeps_its_live_value() -> None:
    from lockstep.apply import IgnoreRule

    cluster = FakeCluster()
    cluster.store(OWNER.mark(_config_map("settings", "red")))
    options = dataclasses.replace(OPTIONS, ignore_rules=(IgnoreRule(["/data/colour"]),))
    plan = await _plan(cluster, [_config_map("settings", "blue")], options)
    [planned] = plan.objects
    assert planned.action is Action.UNCHANGED
    assert planned.desired["data"] == {"colour": "red"}
    assert cluster.verbs()[0] == "get", "read first: the dry-run needs the live value"


async def test_objects_in_a_namespace_the_set_creates_are_planned_created_unvalidated() -> None:
    cluster = FakeCluster(namespaces=set())
    namespace: KubeObject = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}}
    elsewhere = _config_map("other", namespace="missing")
    plan = await _plan(cluster, [_config_map("settings"), elsewhere, namespace])
    assert [(p.ref.kind, p.action, p.unvalidated) for p in plan.objects] == [
        ("Namespace", Action.CREATED, False),
        ("ConfigMap", Action.CREATED, True),
    ]
    [failure] = plan.failures
    assert failure.missing
    assert str(failure) == 'ConfigMap/missing/other dry-run failed: namespaces "missing" not found'


async def test_a_stage_plan_reports_a_missing_namespace_as_a_failure() -> None:
    cluster = FakeCluster(namespaces=set())
    plan = await plan_stage(
        cast(KubeClient, cluster), [OWNER.mark(_config_map("settings"))], OPTIONS
    )
    assert not plan.objects
    assert plan.failures[0].missing


async def test_a_namespaced_object_without_a_namespace_is_refused() -> None:
    cluster = FakeCluster()
    plan = await _plan(cluster, [{**_config_map("settings"), "metadata": {"name": "settings"}}])
    assert [str(f) for f in plan.failures] == [
        "ConfigMap/settings namespace not specified; set metadata.namespace in the manifest "
        "or spec.targetNamespace on the Kustomization"
    ]


async def test_an_unreachable_api_server_ends_the_plan_at_once_naming_it() -> None:
    class Unanswering(FakeCluster):
        async def apply(self, obj: KubeObject, **_options: object) -> KubeObject:
            self.requests.append(Request("dry-run", ObjectRef.of(obj)))
            await asyncio.sleep(0)  # a request is a suspension point
            raise Unreachable("cannot reach the Kubernetes API at https://127.0.0.1:1: refused")

    cluster = Unanswering()
    objects = [_config_map(f"settings-{index}") for index in range(100)]

    with pytest.raises(Unreachable, match=r"https://127\.0\.0\.1:1"):
        await _plan(cluster, objects)
    assert len(cluster.requests) <= 2 * CONCURRENT_REQUESTS, "not one request per object"


async def test_a_watched_copy_at_the_dry_runs_version_stands_in_for_the_read() -> None:
    cluster = FakeCluster()
    stored = cluster.store(OWNER.mark(_config_map("settings")))
    watched = {ObjectRef.of(stored): stored}
    options = dataclasses.replace(OPTIONS, live_copies=watched.get)
    plan = await _plan(cluster, [_config_map("settings", "green")], options)
    [planned] = plan.objects
    assert planned.action is Action.CONFIGURED
    assert planned.live is not None
    assert planned.live["data"] == {"colour": "blue"}
    assert planned.live is not stored
    assert cluster.verbs() == ["dry-run"]


async def test_a_watched_copy_behind_the_cluster_is_not_trusted() -> None:
    cluster = FakeCluster()
    old = cluster.store(OWNER.mark(_config_map("settings")))
    cluster.store(OWNER.mark(_config_map("settings", "green")))
    options = dataclasses.replace(OPTIONS, live_copies={ObjectRef.of(old): old}.get)
    plan = await _plan(cluster, [_config_map("settings", "green")], options)
    [planned] = plan.objects
    assert planned.action is Action.UNCHANGED
    assert cluster.verbs() == ["dry-run", "get"]
