"""Health from watched copies: an answer only when every object is there and healthy;
and the wait after an apply, which reads only what the apply and the watches have not
shown healthy yet."""

from __future__ import annotations

import asyncio
from typing import cast

from lockstep.apply.health_wait import cached_health, wait_healthy
from lockstep.health import Health
from lockstep.kube import KubeClient, KubeObject, ObjectRef
from lockstep.kube.client import ResourceInfo

WEB = ObjectRef("apps/v1", "Deployment", "web", "default")
SETTINGS = ObjectRef("v1", "ConfigMap", "settings", "default")


def _deployment(available: int) -> KubeObject:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "generation": 1},
        "spec": {"replicas": 2},
        "status": {
            "observedGeneration": 1,
            "replicas": 2,
            "updatedReplicas": 2,
            "readyReplicas": available,
            "availableReplicas": available,
            "conditions": [{"type": "Available", "status": "True"}],
        },
    }


SETTINGS_OBJECT: KubeObject = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "settings", "namespace": "default"},
}


def test_all_cached_and_healthy_is_the_answer() -> None:
    cached = {WEB: _deployment(available=2), SETTINGS: SETTINGS_OBJECT}
    health = cached_health(cached.get, [WEB, SETTINGS], {})
    assert health is not None
    assert health.healthy
    assert health.message == "2 objects are healthy"


def test_a_missing_or_unhealthy_copy_leaves_it_to_the_api_server() -> None:
    assert cached_health({WEB: _deployment(available=2)}.get, [WEB, SETTINGS], {}) is None
    unhealthy = {WEB: _deployment(available=1), SETTINGS: SETTINGS_OBJECT}
    assert cached_health(unhealthy.get, [WEB, SETTINGS], {}) is None


class _Reads:
    """Answers reads from a table and counts them: all the wait asks of a client."""

    def __init__(self, objects: dict[ObjectRef, KubeObject]) -> None:
        self.objects = objects
        self.reads: list[ObjectRef] = []

    async def resource_info(self, api_version: str, kind: str) -> ResourceInfo:
        return ResourceInfo("", api_version, kind, kind.lower() + "s", namespaced=True)

    async def get(self, ref: ObjectRef) -> KubeObject:
        self.reads.append(ref)
        return self.objects[ref]


def _new_deployment(generation: int, *, seen: bool, uid: str = "u1") -> KubeObject:
    """A Deployment scaled to zero at ``generation``, as its controller left it when ``seen``."""
    obj: KubeObject = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "generation": generation, "uid": uid},
        "spec": {"replicas": 0, "progressDeadlineSeconds": 600},
        "status": {},
    }
    if seen:
        obj["status"] = {
            "observedGeneration": generation,
            "conditions": [
                {"type": "Available", "status": "True"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
            ],
        }
    return obj


async def _wait(
    reads: _Reads,
    refs: list[ObjectRef],
    observed: dict[ObjectRef, KubeObject],
    cached: dict[ObjectRef, KubeObject] | None,
    within: float = 5,
) -> Health:
    return await wait_healthy(
        cast(KubeClient, reads),
        refs,
        {},
        within=within,
        cancelled=asyncio.Event(),
        poll=0.3,
        observed=observed,
        cached=cached.get if cached is not None else None,
    )


async def test_objects_healthy_as_the_apply_answered_are_not_read() -> None:
    reads = _Reads({})
    observed = {WEB: _new_deployment(1, seen=True), SETTINGS: SETTINGS_OBJECT}
    assert (await _wait(reads, [WEB, SETTINGS], observed, None)).healthy
    assert reads.reads == []


async def test_a_watched_copy_showing_the_rollout_ends_the_wait_without_a_read() -> None:
    reads = _Reads({WEB: _new_deployment(2, seen=False)})
    watched = {WEB: _new_deployment(2, seen=False)}

    async def controller() -> None:
        await asyncio.sleep(0.15)
        watched[WEB] = _new_deployment(2, seen=True)

    rollout = asyncio.create_task(controller())
    health = await _wait(reads, [WEB], {WEB: _new_deployment(2, seen=False)}, watched)
    await rollout
    assert health.healthy
    assert reads.reads == [], "the watch showed the rollout before the first read was due"


async def test_a_watched_copy_older_than_the_apply_is_not_believed() -> None:
    reads = _Reads({WEB: _new_deployment(2, seen=True)})
    # Healthy, but for generation 1 (the watch has not shown the apply yet), or another
    # object of the same name (deleted and created again).
    for stale in (_new_deployment(1, seen=True), _new_deployment(2, seen=True, uid="u0")):
        reads.reads.clear()
        health = await _wait(reads, [WEB], {WEB: _new_deployment(2, seen=False)}, {WEB: stale})
        assert health.healthy
        assert reads.reads == [WEB], "the answer came from a read"


async def test_an_object_not_seen_yet_is_read_at_once_and_each_poll_until_healthy() -> None:
    reads = _Reads({WEB: _new_deployment(1, seen=False)})

    async def controller() -> None:
        await asyncio.sleep(0.45)
        reads.objects[WEB] = _new_deployment(1, seen=True)

    rollout = asyncio.create_task(controller())
    health = await _wait(reads, [WEB], {}, None)
    await rollout
    assert health.healthy
    # At once, then every 0.3 s until the one after the rollout.
    assert len(reads.reads) >= 2
    assert set(reads.reads) == {WEB}
