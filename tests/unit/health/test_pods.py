"""Pods and Jobs: phases, container waiting reasons, completion conditions."""

from __future__ import annotations

from typing import Any

import pytest

from lockstep.health import HealthState, evaluate

from .objects import condition, kube_object


def pod(phase: str, *, ready: bool = False, waiting: str | None = None) -> dict[str, Any]:
    state: dict[str, Any] = (
        {"waiting": {"reason": waiting, "message": "back-off 5m0s restarting failed container"}}
        if waiting
        else {"running": {"startedAt": "2026-11-23T10:00:00Z"}}
    )
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": [
            condition("PodScheduled", "True"),
            condition("Ready", "True" if ready else "False", "" if ready else "ContainersNotReady"),
        ],
        "containerStatuses": [{"name": "app", "ready": ready, "state": state}],
    }
    return kube_object("v1", "Pod", "web-0", spec={"containers": [{"name": "app"}]}, status=status)


def test_running_ready_pod_is_current() -> None:
    assert evaluate(pod("Running", ready=True)).state is HealthState.CURRENT


def test_completed_pod_is_current() -> None:
    assert evaluate(pod("Succeeded")).state is HealthState.CURRENT


def test_failed_pod_has_failed() -> None:
    assert evaluate(pod("Failed")).state is HealthState.FAILED


def test_crash_looping_pod_has_failed_and_names_the_container() -> None:
    health = evaluate(pod("Running", waiting="CrashLoopBackOff"))
    assert health.state is HealthState.FAILED
    assert health.message.startswith("Pod/apps/web-0: container app: CrashLoopBackOff")


@pytest.mark.parametrize("reason", ["ImagePullBackOff", "ErrImagePull", "ContainerCreating"])
def test_pod_waiting_for_its_image_is_in_progress(reason: str) -> None:
    health = evaluate(pod("Pending", waiting=reason))
    assert health.state is HealthState.IN_PROGRESS
    assert f"container app waiting: {reason}" in health.message


def test_unschedulable_pod_is_in_progress_with_the_scheduler_message() -> None:
    obj = pod("Pending")
    obj["status"]["containerStatuses"] = []
    obj["status"]["conditions"] = [
        condition("PodScheduled", "False", "Unschedulable", "0/3 nodes are available")
    ]
    health = evaluate(obj)
    assert health.state is HealthState.IN_PROGRESS
    assert "Unschedulable: 0/3 nodes are available" in health.message


def job(*conditions: dict[str, str], **status: Any) -> dict[str, Any]:
    return kube_object(
        "batch/v1",
        "Job",
        "migrate",
        spec={"backoffLimit": 2},
        status={"conditions": list(conditions), **status},
    )


def test_completed_job_is_current() -> None:
    health = evaluate(job(condition("Complete", "True"), succeeded=1))
    assert health.state is HealthState.CURRENT


def test_failed_job_has_failed_with_its_reason() -> None:
    health = evaluate(
        job(
            condition(
                "Failed", "True", "BackoffLimitExceeded", "Job has reached the backoff limit"
            ),
            failed=3,
        )
    )
    assert health.state is HealthState.FAILED
    assert health.message == (
        "Job/apps/migrate: failed: BackoffLimitExceeded: Job has reached the backoff limit"
    )


def test_running_job_is_in_progress_with_its_counts() -> None:
    health = evaluate(job(active=1, failed=1))
    assert health.state is HealthState.IN_PROGRESS
    assert health.message == "Job/apps/migrate: running (1 active, 0 succeeded, 1 failed)"
