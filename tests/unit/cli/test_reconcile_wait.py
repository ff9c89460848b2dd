"""Reconcile requests and waiting for the engine's verdict, in fake time."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from lockstep.cli.objects import KUSTOMIZATION
from lockstep.cli.reconcile import Target, changes_since, now_rfc3339, request_operations
from lockstep.cli.waiting import (
    POLL_SECONDS,
    TimedOut,
    settled,
    wait_until_gone,
    wait_until_settled,
)
from lockstep.kube import KubeObject, NotFound

REQUEST = "2025-06-01T12:00:00.250000Z"


def obj(
    generation: int = 2,
    observed: int | None = 2,
    handled: str | None = REQUEST,
    ready: str | None = "True",
) -> KubeObject:
    status: dict[str, Any] = {"observedGeneration": observed, "lastHandledReconcileAt": handled}
    if ready is not None:
        status["conditions"] = [{"type": "Ready", "status": ready, "message": f"ready is {ready}"}]
    return {"kind": "Kustomization", "metadata": {"generation": generation}, "status": status}


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def reader(*seen: KubeObject | Exception) -> Any:
    states: Iterator[KubeObject | Exception] = iter(seen)
    last: list[KubeObject | Exception] = []

    async def read() -> KubeObject:
        current = next(states, None)
        if current is not None:
            last[:] = [current]
        if isinstance(last[0], Exception):
            raise last[0]
        return last[0]

    return read


def test_settled_needs_the_request_handled_the_generation_observed_and_ready_decided() -> None:
    assert settled(obj(handled="earlier"), REQUEST) is None
    assert settled(obj(observed=1), REQUEST) is None
    assert settled(obj(ready="Unknown"), REQUEST) is None
    assert settled(obj(ready=None), REQUEST) is None
    verdict = settled(obj(ready="False"), REQUEST)
    assert verdict is not None
    assert (verdict.ready, verdict.message) == (False, "ready is False")
    assert settled(obj(handled=None), None) is not None, "no request: the generation is enough"


async def test_waits_until_the_engine_answers_the_request() -> None:
    time = FakeTime()
    read = reader(obj(handled="earlier"), obj(ready="Unknown"), obj(ready="True"))
    verdict = await wait_until_settled(
        read, 60, requested_at=REQUEST, clock=time.clock, sleep=time.sleep
    )
    assert verdict.ready
    assert time.sleeps == [POLL_SECONDS, POLL_SECONDS]


async def test_gives_up_at_the_timeout_with_the_last_object_seen() -> None:
    time = FakeTime()
    stale = obj(handled="earlier")
    with pytest.raises(TimedOut) as raised:
        await wait_until_settled(
            reader(stale), 3, requested_at=REQUEST, clock=time.clock, sleep=time.sleep
        )
    assert raised.value.last == stale
    assert time.now == 3.0


async def test_waits_until_the_object_is_gone() -> None:
    time = FakeTime()
    read = reader(obj(), obj(), NotFound("gone", code=404))
    await wait_until_gone(read, 60, clock=time.clock, sleep=time.sleep)
    assert time.now == 2 * POLL_SECONDS


async def test_a_finalizer_that_stays_times_out() -> None:
    time = FakeTime()
    with pytest.raises(TimedOut):
        await wait_until_gone(reader(obj()), 1, clock=time.clock, sleep=time.sleep)


def test_request_adds_the_annotation_to_existing_annotations() -> None:
    live = {"metadata": {"annotations": {"a": "b"}, "resourceVersion": "7"}}
    assert request_operations(live, REQUEST, resume=False) == [
        {
            "op": "add",
            "path": "/metadata/annotations/reconcile.fluxcd.io~1requestedAt",
            "value": REQUEST,
        }
    ]


def test_request_creates_the_annotations_guarded_by_the_resource_version() -> None:
    live = {"metadata": {"resourceVersion": "7"}}
    assert request_operations(live, REQUEST, resume=True) == [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
        {"op": "add", "path": "/spec/suspend", "value": False},
        {
            "op": "add",
            "path": "/metadata/annotations",
            "value": {"reconcile.fluxcd.io/requestedAt": REQUEST},
        },
    ]


def test_request_time_is_rfc3339_with_microseconds() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", now_rfc3339())


def event(name: str, reason: str, at: str, message: str) -> KubeObject:
    return {
        "involvedObject": {"kind": "Kustomization", "name": name},
        "reason": reason,
        "lastTimestamp": at,
        "message": message,
    }


def test_changes_come_from_the_newest_success_event_since_the_request() -> None:
    target = Target(KUSTOMIZATION, "apps", "flux-system")
    events = [
        event(
            "apps", "ReconciliationSucceeded", "2025-06-01T11:00:00Z", "ConfigMap/ns/old created"
        ),
        event("other", "ReconciliationSucceeded", "2025-06-01T12:00:01Z", "ConfigMap/ns/x created"),
        event(
            "apps",
            "ReconciliationSucceeded",
            "2025-06-01T12:00:00Z",
            "ConfigMap/ns/a created, Deployment/ns/web configured",
        ),
    ]
    assert changes_since(events, target, REQUEST) == [
        "ConfigMap/ns/a created",
        "Deployment/ns/web configured",
    ], "an event of the request's second counts: event times have whole seconds"
    assert changes_since(events[:2], target, REQUEST) is None
