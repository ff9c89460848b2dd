"""The status a health wait writes, as Flux's kustomize-controller writes it: while the
wait runs, Ready Unknown and Reconciling and Healthy Unknown (reason Progressing,
"Running health checks for revision ... with a timeout of ..."); after it, Healthy True
"Health check passed in <Go duration>" and a history duration in Go's format; and no
Healthy condition without health checks."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from ground.artifacts import condition
from ground.engine import Engine
from ground.gitops import KUSTOMIZATION_API, Scenario, deployment
from ground.wait import eventually

pytestmark = pytest.mark.integration

GO_DURATION = r"(\d+h)?(\d+m)?\d+(\.\d+)?(ns|µs|ms|s)"

UNSCHEDULABLE = deployment(name="stuck").replace(
    "    spec:\n      containers:",
    "    spec:\n      nodeSelector: {no-such-node: 'true'}\n      containers:",
)


def _condition(obj: dict[str, object], kind: str) -> dict[str, str]:
    status = obj.get("status") or {}
    assert isinstance(status, dict)
    return next((c for c in status.get("conditions") or [] if c["type"] == kind), {})


async def test_healthy_message_and_history_duration_are_go_durations(
    engine: Engine, scenario: Scenario
) -> None:
    scenario.commit({"apps/web.yaml": deployment()})
    await scenario.source()
    await scenario.kustomization("apps", "./apps", wait=True, timeout="1m")
    ready = await scenario.ready("apps")
    healthy = _condition(ready, "Healthy")
    assert healthy["status"] == "True"
    assert healthy["reason"] == "Succeeded"
    assert re.fullmatch(f"Health check passed in {GO_DURATION}", healthy["message"])
    duration = ready["status"]["history"][0]["lastReconciledDuration"]
    assert re.fullmatch(GO_DURATION, duration), duration
    assert _condition(ready, "Reconciling") == {}

    # Without health checks there is no Healthy condition, as in Flux.
    await scenario.kustomization("apps", "./apps", wait=False, timeout="1m")
    unchecked = await scenario.ready("apps")
    assert _condition(unchecked, "Healthy") == {}


async def test_a_running_health_wait_is_shown_then_replaced(
    engine: Engine, scenario: Scenario
) -> None:
    scenario.commit({"apps/stuck.yaml": UNSCHEDULABLE})
    await scenario.source()
    await scenario.kustomization("apps", "./apps", wait=True, timeout="1m30s")
    waiting = await eventually(
        lambda: scenario.kube.get(scenario.ref("apps")),
        lambda o: _condition(o, "Healthy").get("status") == "Unknown",
        what="the health wait in progress",
    )
    revision = waiting["status"]["lastAttemptedRevision"]
    running = f"Running health checks for revision {revision} with a timeout of 1m30s"
    assert _condition(waiting, "Healthy")["reason"] == "Progressing"
    assert _condition(waiting, "Healthy")["message"] == running
    assert _condition(waiting, "Reconciling")["status"] == "True"
    assert _condition(waiting, "Reconciling")["message"] == running
    assert condition(waiting, "Ready") == "Unknown: Reconciliation in progress"
    assert waiting["status"]["inventory"]["entries"], "the new inventory is written already"

    # A fix cancels the wait (Ready False, as Flux), then the new revision is healthy.
    seen: list[dict[str, Any]] = []

    async def record() -> None:
        async for event in scenario.kube.watch(
            KUSTOMIZATION_API,
            "Kustomization",
            resource_version=waiting["metadata"]["resourceVersion"],
            namespace=scenario.namespace,
            timeout_seconds=120,
        ):
            seen.append(event.object)

    recording = asyncio.create_task(record())
    scenario.commit({"apps/stuck.yaml": deployment(name="stuck")})
    ready = await scenario.ready("apps", within=90)
    recording.cancel()
    assert _condition(ready, "Healthy")["status"] == "True"
    assert _condition(ready, "Reconciling") == {}
    cancelled = [o for o in seen if _condition(o, "Ready").get("reason") == "HealthCheckCanceled"]
    assert cancelled, "the cancelled wait was shown"
    assert condition(cancelled[0], "Ready") == (
        f"False: New reconciliation triggered by GitRepository/{scenario.namespace}/repo"
    )
