"""Argo CD's health vocabulary: its six statuses, its built-in rules per kind, and the app's health.

Argo CD reports health in its own words and by its own rules, which differ from
kstatus' (:mod:`lockstep.health.result`) in places an Argo CD user can see:

- :class:`ArgoHealthStatus` is ordered as Argo CD orders it for "worst wins":
  ``Healthy < Suspended < Progressing < Missing < Degraded < Unknown``, so the
  app's health is ``max`` of its resources' (:func:`aggregate_argo_health`).
- :func:`argo_health` reads one object. An absent object is ``Missing``; an
  object being deleted is ``Progressing`` (unless an Argo CD hook finalizer
  holds it); a custom check (the Lua scripts of argocd-cm, see
  :mod:`lockstep.health.lua`) comes next; then Argo CD's built-in rules for the
  kinds it knows (:data:`ARGO_HEALTH_CHECKS`). Where Argo CD's rule is the same
  as lockstep's, lockstep's is used and its state renamed (current → Healthy,
  in progress → Progressing, failed → Degraded); the differences are written
  out here: a paused Deployment or a suspended Job or CronJob is
  ``Suspended``, a ReplicaSet that cannot create pods or a lost claim is
  ``Degraded``, an Ingress without an address is ``Progressing``, and Pods,
  HPAs, APIServices, CronJobs and CRDs follow Argo CD's own reading.
- Kinds Argo CD has no check for (ConfigMaps, Secrets, RBAC objects and the
  like) have no health at all: :func:`argo_health` returns ``None`` and the
  aggregate leaves them out, as Argo CD does. Custom resources without a Lua
  script get health only if they report readiness through conditions
  (``Ready``, or kstatus' ``Stalled``/``Reconciling``), read as lockstep reads
  them; Argo CD ships scripts for the common ones, lockstep reads their conditions.

Called by the Argo CD Application reconciler (:mod:`lockstep.controllers.argo`)
for each resource of an Application, and for the Application's own health.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType
from typing import Any, TypeAlias

from lockstep.health.conditions import (
    common_health,
    explain,
    find_condition,
    generation_health,
    status_of,
)
from lockstep.health.dispatch import HEALTH_CHECKS
from lockstep.health.generic import ready_condition_health
from lockstep.health.result import GroupKind, HealthState, KubeObject, group_kind


class ArgoHealthStatus(IntEnum):
    """Argo CD's health statuses, best to worst as Argo CD ranks them."""

    HEALTHY = 0
    SUSPENDED = 1
    PROGRESSING = 2
    MISSING = 3
    DEGRADED = 4
    UNKNOWN = 5
    """Health could not be assessed, e.g. its Lua script failed."""

    @property
    def code(self) -> str:
        """The word Argo CD writes in ``status.health.status``: ``Healthy``, ``Degraded``..."""
        return self.name.capitalize()

    @classmethod
    def from_code(cls, code: str) -> ArgoHealthStatus | None:
        """The status Argo CD spells ``code``, or ``None`` if it spells none so."""
        return next((status for status in cls if status.code == code), None)


@dataclass(frozen=True)
class ArgoHealth:
    """One resource's health as Argo CD reports it (``status.resources[].health``)."""

    status: ArgoHealthStatus
    message: str = ""


ArgoHealthCheck: TypeAlias = Callable[[KubeObject], ArgoHealth]
"""Argo CD's built-in rule for one kind."""

ArgoHealthOverride: TypeAlias = Callable[[KubeObject], "ArgoHealth | None"]
"""A custom check that runs before the built-in rules; ``None`` when it has none for the kind."""

HOOK_FINALIZER = "argocd.argoproj.io/hook-finalizer"
"""Holds a hook until its sync phase ends; such a hook keeps its health while being deleted."""

FROM_LOCKSTEP = MappingProxyType(
    {
        HealthState.CURRENT: ArgoHealthStatus.HEALTHY,
        HealthState.IN_PROGRESS: ArgoHealthStatus.PROGRESSING,
        HealthState.FAILED: ArgoHealthStatus.DEGRADED,
    }
)

READINESS_CONDITIONS = ("Ready", "Stalled", "Reconciling")
"""Conditions that give a kind without a check of its own a health."""


def _healthy(message: str = "") -> ArgoHealth:
    return ArgoHealth(ArgoHealthStatus.HEALTHY, message)


def _suspended(message: str) -> ArgoHealth:
    return ArgoHealth(ArgoHealthStatus.SUSPENDED, message)


def _progressing(message: str = "") -> ArgoHealth:
    return ArgoHealth(ArgoHealthStatus.PROGRESSING, message)


def _degraded(message: str = "") -> ArgoHealth:
    return ArgoHealth(ArgoHealthStatus.DEGRADED, message)


def lockstep_health(obj: KubeObject) -> ArgoHealth:
    """lockstep's own reading of ``obj`` (shared rules, then the kind's), in Argo CD's words."""
    health = common_health(obj) or HEALTH_CHECKS.get(group_kind(obj), ready_condition_health)(obj)
    return ArgoHealth(FROM_LOCKSTEP[health.state], health.message)


def _is_true(condition: Mapping[str, Any] | None) -> bool:
    return condition is not None and condition.get("status") == "True"


def _true_condition(obj: KubeObject, condition_type: str) -> Mapping[str, Any] | None:
    condition = find_condition(obj, condition_type)
    return condition if _is_true(condition) else None


def _lagging(obj: KubeObject) -> ArgoHealth | None:
    """Progressing while the controller has not seen the latest spec (or the object is going)."""
    lagging = generation_health(obj)
    return ArgoHealth(FROM_LOCKSTEP[lagging.state], lagging.message) if lagging else None


def deployment_health(obj: KubeObject) -> ArgoHealth:
    if (obj.get("spec") or {}).get("paused") is True:
        return _suspended("deployment is paused")
    if lagging := _lagging(obj):
        return lagging
    progressing = find_condition(obj, "Progressing")
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        return _degraded(f"rollout exceeded its progress deadline: {explain(progressing)}")
    return lockstep_health(obj)


def daemonset_health(obj: KubeObject) -> ArgoHealth:
    strategy = (obj.get("spec") or {}).get("updateStrategy") or {}
    if lagging := _lagging(obj):
        return lagging
    if strategy.get("type") == "OnDelete":
        # Pods change only when someone deletes them: there is no rollout to wait for.
        return _healthy("update strategy OnDelete: rollout is manual")
    return lockstep_health(obj)


def replicaset_health(obj: KubeObject) -> ArgoHealth:
    if lagging := _lagging(obj):
        return lagging
    if failure := _true_condition(obj, "ReplicaFailure"):
        return _degraded(f"cannot create pods: {explain(failure)}")
    return lockstep_health(obj)


def _pod_waiting_errors(obj: KubeObject) -> list[str]:
    """Messages of containers stuck waiting on an error Argo CD treats as degraded."""
    errors = []
    for container in status_of(obj).get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = str(waiting.get("reason") or "")
        if reason.startswith("Err") or reason.endswith(("Error", "BackOff")):
            errors.append(f"container {container.get('name', '?')}: {explain(waiting)}")
    return errors


def _pod_failure_message(status: Mapping[str, Any]) -> str:
    if status.get("message"):
        return str(status["message"])
    for field in ("initContainerStatuses", "containerStatuses"):
        for container in status.get(field) or []:
            terminated = (container.get("state") or {}).get("terminated") or {}
            if terminated.get("message"):
                return str(terminated["message"])
            if terminated.get("reason") == "OOMKilled":
                return f"container {container.get('name', '?')}: OOMKilled"
            if terminated.get("exitCode"):
                return f"container {container.get('name', '?')} exited with code {terminated['exitCode']}"
    return "pod failed"


def _running_pod_health(obj: KubeObject, restart_policy: str) -> ArgoHealth:
    status = status_of(obj)
    message = str(status.get("message") or "")
    if restart_policy != "Always":
        # A pod that runs to completion (typically a hook) is healthy only once it has succeeded.
        return _progressing(message or "running")
    if _is_true(find_condition(obj, "Ready")):
        return _healthy(message or "running and ready")
    for container in status.get("containerStatuses") or []:
        if (container.get("lastState") or {}).get("terminated") is not None:
            return _degraded(message or f"container {container.get('name', '?')} has terminated")
    return _progressing(message or "running, not ready")


def pod_health(obj: KubeObject) -> ArgoHealth:
    restart_policy = str((obj.get("spec") or {}).get("restartPolicy") or "Always")
    if restart_policy == "Always" and (errors := _pod_waiting_errors(obj)):
        # Only for pods that restart forever: a hook pod waiting on its image must not fail its sync.
        return _degraded("; ".join(errors))
    status = status_of(obj)
    phase = status.get("phase")
    message = str(status.get("message") or "")
    if phase == "Pending":
        return _progressing(message or "pending")
    if phase == "Succeeded":
        return _healthy(message or "completed")
    if phase == "Failed":
        return _degraded(_pod_failure_message(status))
    if phase == "Running":
        return _running_pod_health(obj, restart_policy)
    return ArgoHealth(ArgoHealthStatus.UNKNOWN, message or f"pod phase {phase or 'not reported'}")


def job_health(obj: KubeObject) -> ArgoHealth:
    for condition_type in ("Failed", "FailureTarget"):
        if failed := _true_condition(obj, condition_type):
            return _degraded(f"failed: {explain(failed)}")
    if suspended := _true_condition(obj, "Suspended"):
        return _suspended(f"suspended: {explain(suspended)}")
    return lockstep_health(obj)


def cronjob_health(obj: KubeObject) -> ArgoHealth:
    if (obj.get("spec") or {}).get("suspend") is True:
        return _suspended("cronjob is suspended")
    if "status" not in obj:
        return _progressing("waiting for the cronjob controller")
    status = status_of(obj)
    last_schedule = status.get("lastScheduleTime")
    last_success = status.get("lastSuccessfulTime")
    if not last_schedule:
        # Kubernetes does not record missed schedules, so a cronjob not run yet is healthy.
        return _healthy("not scheduled yet")
    if not last_success:
        return _healthy("no run has succeeded yet; the first may still be running")
    if status.get("active"):
        return _healthy("a job is running")
    # RFC 3339 times in UTC compare correctly as strings.
    if str(last_success) < str(last_schedule):
        return _degraded(f"the run scheduled at {last_schedule} did not succeed")
    return _healthy(f"last run succeeded at {last_success}")


def pvc_health(obj: KubeObject) -> ArgoHealth:
    phase = status_of(obj).get("phase")
    if phase == "Bound":
        return _healthy("bound")
    if phase == "Pending":
        return _progressing("pending, not bound to a volume yet")
    if phase == "Lost":
        return _degraded("lost: its bound volume no longer exists")
    return ArgoHealth(ArgoHealthStatus.UNKNOWN, f"claim phase {phase or 'not reported'}")


def _has_load_balancer_ingress(obj: KubeObject) -> bool:
    return bool((status_of(obj).get("loadBalancer") or {}).get("ingress"))


def service_health(obj: KubeObject) -> ArgoHealth:
    if (obj.get("spec") or {}).get("type") != "LoadBalancer":
        return _healthy()
    if _has_load_balancer_ingress(obj):
        return _healthy("load balancer has an address")
    return _progressing("waiting for the load balancer to get an address")


def ingress_health(obj: KubeObject) -> ArgoHealth:
    if _has_load_balancer_ingress(obj):
        return _healthy("ingress has an address")
    return _progressing("waiting for the ingress controller to publish an address")


def apiservice_health(obj: KubeObject) -> ArgoHealth:
    available = find_condition(obj, "Available")
    if available is None:
        return _progressing("waiting for the aggregator to check the service")
    if _is_true(available):
        return _healthy(f"available: {explain(available)}")
    return _progressing(f"not available: {explain(available)}")


HPA_FAILURES = frozenset(
    {
        ("AbleToScale", "FailedGetScale"),
        ("AbleToScale", "FailedUpdateScale"),
        ("ScalingActive", "FailedGetResourceMetric"),
        ("ScalingActive", "InvalidSelector"),
    }
)
"""(type, reason) of the HPA conditions Argo CD reads as degraded."""
HPA_HEALTHY_TYPES = frozenset({"AbleToScale", "ScalingLimited"})
"""HPA condition types that, when True, Argo CD reads as healthy."""
HPA_V1_CONDITIONS = "autoscaling.alpha.kubernetes.io/conditions"
"""Where autoscaling/v1 keeps the v2 conditions: an annotation holding a JSON list."""


def _hpa_conditions(obj: KubeObject) -> list[Mapping[str, Any]]:
    if obj.get("apiVersion") != "autoscaling/v1":
        return list(status_of(obj).get("conditions") or [])
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    conditions = json.loads(annotations.get(HPA_V1_CONDITIONS) or "[]")
    if not isinstance(conditions, list):
        raise ValueError(f"annotation {HPA_V1_CONDITIONS} is not a JSON list")
    return conditions


def hpa_health(obj: KubeObject) -> ArgoHealth:
    try:
        conditions = _hpa_conditions(obj)
    except ValueError as error:
        return ArgoHealth(ArgoHealthStatus.UNKNOWN, f"cannot read conditions: {error}")
    # The first condition that decides wins, in the order the controller wrote them.
    for condition in conditions:
        if (condition.get("type"), condition.get("reason")) in HPA_FAILURES:
            return _degraded(explain(condition))
        if condition.get("type") in HPA_HEALTHY_TYPES and _is_true(condition):
            return _healthy(explain(condition))
    return _progressing("waiting to autoscale")


def crd_health(obj: KubeObject) -> ArgoHealth:
    if not status_of(obj).get("conditions"):
        return _progressing("no conditions reported yet")
    if terminating := _true_condition(obj, "Terminating"):
        return _progressing(f"terminating: {explain(terminating)}")
    names = find_condition(obj, "NamesAccepted")
    if names is not None and names.get("status") == "False":
        return _degraded(f"names not accepted: {explain(names)}")
    if not _is_true(find_condition(obj, "Established")):
        return _degraded("not established")
    if violations := _true_condition(obj, "NonStructuralSchema"):
        return _degraded(f"schema violations: {explain(violations)}")
    return _healthy("established")


ARGO_HEALTH_CHECKS: Mapping[GroupKind, ArgoHealthCheck] = MappingProxyType(
    {
        ("apps", "Deployment"): deployment_health,
        ("apps", "StatefulSet"): lockstep_health,
        ("apps", "DaemonSet"): daemonset_health,
        ("apps", "ReplicaSet"): replicaset_health,
        ("", "Pod"): pod_health,
        ("", "PersistentVolumeClaim"): pvc_health,
        ("", "Service"): service_health,
        ("batch", "Job"): job_health,
        ("batch", "CronJob"): cronjob_health,
        ("networking.k8s.io", "Ingress"): ingress_health,
        ("extensions", "Ingress"): ingress_health,
        ("autoscaling", "HorizontalPodAutoscaler"): hpa_health,
        ("apiregistration.k8s.io", "APIService"): apiservice_health,
        ("apiextensions.k8s.io", "CustomResourceDefinition"): crd_health,
    }
)
"""Argo CD's built-in checks, in Go and in its bundled Lua scripts, for the kinds lockstep knows."""


def _being_deleted(obj: KubeObject) -> bool:
    metadata = obj.get("metadata") or {}
    return bool(metadata.get("deletionTimestamp")) and HOOK_FINALIZER not in (
        metadata.get("finalizers") or []
    )


def _reports_readiness(obj: KubeObject) -> bool:
    conditions = status_of(obj).get("conditions") or []
    return any(c.get("type") in READINESS_CONDITIONS for c in conditions if isinstance(c, Mapping))


def argo_health(
    obj: KubeObject | None, override: ArgoHealthOverride | None = None
) -> ArgoHealth | None:
    """The health Argo CD reports for ``obj``, or ``None`` for a kind with no health.

    ``obj`` is the live object, ``None`` when it does not exist. ``override``
    (typically :class:`lockstep.health.lua.LuaHealthChecks`) decides first for
    the kinds it covers.
    """
    if obj is None:
        return ArgoHealth(ArgoHealthStatus.MISSING, "not found in the cluster")
    if _being_deleted(obj):
        return _progressing("pending deletion")
    if override is not None and (custom := override(obj)) is not None:
        return custom
    if (check := ARGO_HEALTH_CHECKS.get(group_kind(obj))) is not None:
        return check(obj)
    if _reports_readiness(obj):
        return lockstep_health(obj)
    return None


def aggregate_argo_health(healths: Iterable[ArgoHealth | None]) -> ArgoHealth:
    """The app's health: the worst of ``healths``, leaving out resources with no health.

    Nothing to judge is ``Healthy``. The message counts the resources that are
    not healthy by status, worst first. The caller leaves out what Argo CD
    leaves out before this point: hooks, and resources annotated
    ``argocd.argoproj.io/ignore-healthcheck: "true"``.
    """
    judged = [health.status for health in healths if health is not None]
    if not judged:
        return _healthy("no resources with health")
    worst = max(judged)
    if worst is ArgoHealthStatus.HEALTHY:
        return _healthy(f"{len(judged)} of {len(judged)} resources healthy")
    counts = Counter(status for status in judged if status is not ArgoHealthStatus.HEALTHY)
    unhealthy = sum(counts.values())
    by_status = ", ".join(
        f"{counts[status]} {status.code}" for status in sorted(counts, reverse=True)
    )
    return ArgoHealth(worst, f"{unhealthy} of {len(judged)} resources not healthy: {by_status}")
