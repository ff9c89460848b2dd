"""Health of Pods and Jobs: things that run containers directly.

Pod: ``Succeeded`` is current, ``Failed`` is failed, a running pod is current
once its ``Ready`` condition is True. A container waiting with a reason that
needs a human (``CrashLoopBackOff``, ``CreateContainerConfigError``,
``InvalidImageName``) fails the pod, as kstatus does for crash loops.
``ErrImagePull`` and ``ImagePullBackOff`` stay in progress: in GitOps the image
is often still being pushed, or its pull secret still being synced, when the
manifest lands, and the kubelet keeps retrying.

Job: follows Flux's Job reader rather than kstatus' generic rules: ``Complete``
(or ``SuccessCriteriaMet``) is current, ``Failed`` (or ``FailureTarget``) is
failed, anything else is in progress.

Registered in :mod:`lockstep.health.dispatch`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from lockstep.health.conditions import explain, find_condition, int_field, status_of
from lockstep.health.result import Health, KubeObject, current, failed, in_progress

CONTAINER_FAILURE_REASONS = frozenset(
    {"CrashLoopBackOff", "CreateContainerConfigError", "InvalidImageName"}
)


def _waiting_containers(obj: KubeObject) -> Iterator[tuple[str, Mapping[str, Any]]]:
    status = status_of(obj)
    for field in ("initContainerStatuses", "containerStatuses"):
        for container in status.get(field) or []:
            waiting = (container.get("state") or {}).get("waiting")
            if waiting:
                yield str(container.get("name", "?")), waiting


def pod_health(obj: KubeObject) -> Health:
    status = status_of(obj)
    phase = status.get("phase", "Pending")
    if phase == "Succeeded":
        return current("completed")
    if phase == "Failed":
        return failed(f"failed: {status.get('reason') or status.get('message') or 'pod failed'}")
    waiting = list(_waiting_containers(obj))
    for name, state in waiting:
        if state.get("reason") in CONTAINER_FAILURE_REASONS:
            return failed(f"container {name}: {explain(state)}")
    ready = find_condition(obj, "Ready")
    if phase == "Running" and ready and ready.get("status") == "True":
        return current("running and ready")
    if waiting:
        name, state = waiting[0]
        return in_progress(f"container {name} waiting: {explain(state)}")
    scheduled = find_condition(obj, "PodScheduled")
    if scheduled and scheduled.get("status") == "False":
        return in_progress(f"not scheduled: {explain(scheduled)}")
    return in_progress(f"{phase}, not ready")


def job_health(obj: KubeObject) -> Health:
    for condition_type in ("Failed", "FailureTarget"):
        condition = find_condition(obj, condition_type)
        if condition and condition.get("status") == "True":
            return failed(f"failed: {explain(condition)}")
    for condition_type in ("Complete", "SuccessCriteriaMet"):
        condition = find_condition(obj, condition_type)
        if condition and condition.get("status") == "True":
            return current("completed")
    status = status_of(obj)
    counts = ", ".join(
        f"{int_field(status, field)} {field}" for field in ("active", "succeeded", "failed")
    )
    if (obj.get("spec") or {}).get("suspend") is True:
        return in_progress(f"suspended ({counts})")
    return in_progress(f"running ({counts})")
