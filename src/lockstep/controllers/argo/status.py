"""Argo CD's status of an Application from what a reconcile found: the comparison's
objects with their sync status and health (``status.resources``), the Application's
health (the worst), ``status.sync``, the source types, the images its objects run, the
conditions (``SharedResourceWarning`` naming each object another Application tracks, as
Argo CD warns of it), and the history of successful syncs.

:class:`Desired` (what the sources render) and :class:`Comparison` (that against the
cluster) are the results the Application reconciler hands from one step to the next.
Called by the Application reconciler.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lockstep.api.argo import (
    Application,
    ApplicationCondition,
    ApplicationStatus,
    ApplicationSummary,
    ComparedTo,
    HealthStatus,
    Operation,
    OperationPhase,
    ResourceStatus,
    RevisionHistory,
    SyncStatus,
    SyncStatusCode,
)
from lockstep.apply import IgnoreRule, Plan
from lockstep.controllers.argo.tracking import app_instance_name, qualified_app_name, shared_with
from lockstep.health.argo import ArgoHealth, aggregate_argo_health, argo_health
from lockstep.kube import KubeObject, ObjectRef

DEFAULT_HISTORY_LIMIT = 10
INVALID_SPEC_ERROR = "InvalidSpecError"
COMPARISON_ERROR = "ComparisonError"
SYNC_ERROR = "SyncError"
CONDITION_TYPES = (INVALID_SPEC_ERROR, COMPARISON_ERROR, SYNC_ERROR)
"""The conditions a reconcile sets when it fails and removes when it succeeds."""
SHARED_RESOURCE_WARNING = "SharedResourceWarning"
"""Set by a comparison that finds objects another Application tracks, removed by one
that finds none."""


@dataclass(frozen=True)
class Desired:
    """What the sources render, and at which revisions."""

    objects: list[KubeObject]
    revisions: list[str]
    source_types: list[str]


@dataclass
class Comparison:
    """The rendered objects against the cluster."""

    plan: Plan
    resources: list[KubeObject]
    hooks: list[KubeObject]
    prunable: list[KubeObject] = field(default_factory=list)
    healths: list[ArgoHealth | None] = field(default_factory=list)
    """The health of each planned object, in the plan's order."""
    ignored: tuple[IgnoreRule, ...] = ()
    """The fields ``ignoreDifferences`` leaves out, per object."""

    @property
    def out_of_sync(self) -> bool:
        return bool(self.plan.failures or self.prunable) or any(
            planned.writes for planned in self.plan.objects
        )


def record_history(
    obj: Application,
    status: ApplicationStatus,
    desired: Desired,
    started: datetime,
    operation: Operation,
) -> None:
    """A sync that succeeded, added to ``status.history``; the oldest entries beyond
    ``revisionHistoryLimit`` (10 by default) are dropped."""
    history = list(status.history)
    history.append(
        RevisionHistory(
            id=(history[-1].id + 1) if history else 0,
            revision=desired.revisions[0] if len(desired.revisions) == 1 else None,
            revisions=desired.revisions if len(desired.revisions) > 1 else [],
            deployed_at=now(),
            deploy_started_at=started,
            source=obj.spec.source if not obj.spec.sources else None,
            sources=list(obj.spec.sources),
            initiated_by=operation.initiated_by,
        )
    )
    limit = obj.spec.revision_history_limit
    keep = DEFAULT_HISTORY_LIMIT if limit is None else max(limit, 0)
    status.history = history[-keep:] if keep else []


def report(
    obj: Application,
    status: ApplicationStatus,
    comparison: Comparison,
    desired: Desired,
    revision: str | None,
) -> None:
    """The status of a comparison: each object's sync status and health, the worst
    health, the revision, the source types, the images, and the conditions."""
    resources: list[ResourceStatus] = []
    healths: list[ArgoHealth | None] = []
    for planned, health in zip(comparison.plan.objects, comparison.healths, strict=True):
        healths.append(health)
        resources.append(
            _resource_status(planned.desired, "OutOfSync" if planned.writes else "Synced", health)
        )
    for failure in comparison.plan.failures:
        health = argo_health(None)
        healths.append(health)
        resources.append(_resource_status(failure.desired, "OutOfSync", health))
    for live in comparison.prunable:
        resources.append(_resource_status(live, "OutOfSync", None, requires_pruning=True))
    resources.sort(key=lambda r: (r.group or "", r.kind or "", r.namespace or "", r.name or ""))
    status.resources = resources
    app_health = aggregate_argo_health(healths)
    status.health = HealthStatus(status=app_health.status.code, message=app_health.message)
    status.sync = SyncStatus(
        status=SyncStatusCode.OUT_OF_SYNC if comparison.out_of_sync else SyncStatusCode.SYNCED,
        revision=revision,
        revisions=desired.revisions if len(desired.revisions) > 1 else [],
        compared_to=compared_to(obj),
    )
    status.source_type = desired.source_types[0] if len(desired.source_types) == 1 else None
    status.source_types = desired.source_types if len(desired.source_types) > 1 else []
    status.summary = ApplicationSummary(images=_images(comparison.resources))
    status.reconciled_at = now()
    replaced = (*CONDITION_TYPES, SHARED_RESOURCE_WARNING)
    status.conditions = [c for c in status.conditions if c.type not in replaced]
    app = app_instance_name(
        obj.metadata.name, obj.metadata.namespace or "", status.controller_namespace or ""
    )
    shared = shared_resources(comparison, app)
    if shared:
        status.conditions = with_condition(
            status.conditions, SHARED_RESOURCE_WARNING, "; ".join(shared)
        )
    if status.operation_state is not None and status.operation_state.phase == OperationPhase.FAILED:
        status.conditions = with_condition(
            status.conditions, SYNC_ERROR, status.operation_state.message or ""
        )


def shared_resources(comparison: Comparison, app: str) -> list[str]:
    """One line for each object of the comparison that the Application with tracking
    name ``app`` shares with another, as Argo CD's SharedResourceWarning says it:
    ``<kind>/<name> is part of applications <this> and <other>``."""
    shared = []
    for planned in comparison.plan.objects:
        other = shared_with(planned.live, app) if planned.live is not None else None
        if other is not None:
            ref = planned.ref
            shared.append(
                f"{ref.kind}/{ref.name} is part of applications {qualified_app_name(app)} "
                f"and {qualified_app_name(other)}"
            )
    return shared


def now() -> datetime:
    """The time of a status entry, to the second as Kubernetes writes timestamps."""
    return datetime.now(UTC).replace(microsecond=0)


def compared_to(obj: Application) -> ComparedTo:
    return ComparedTo(
        source=obj.spec.source if not obj.spec.sources else None,
        sources=list(obj.spec.sources),
        destination=obj.spec.destination,
    )


def with_condition(
    conditions: list[ApplicationCondition], kind: str, message: str
) -> list[ApplicationCondition]:
    """``conditions`` with one of ``kind`` saying ``message``; its time kept when it says
    the same as before."""
    present = next((c for c in conditions if c.type == kind), None)
    since = present.last_transition_time if present and present.message == message else now()
    kept = [c for c in conditions if c.type != kind]
    return [*kept, ApplicationCondition(type=kind, message=message, last_transition_time=since)]


def _resource_status(
    obj: Mapping[str, Any], sync: str, health: ArgoHealth | None, *, requires_pruning: bool = False
) -> ResourceStatus:
    ref = ObjectRef.of(obj)
    group, _, version = ref.api_version.rpartition("/")
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    wave = annotations.get("argocd.argoproj.io/sync-wave")
    return ResourceStatus(
        group=group or None,
        version=version,
        kind=ref.kind,
        namespace=ref.namespace or None,
        name=ref.name,
        status=sync,
        health=HealthStatus(status=health.status.code, message=health.message or None)
        if health
        else None,
        requires_pruning=requires_pruning or None,
        sync_wave=int(wave) if isinstance(wave, str) and wave.lstrip("-").isdigit() else None,
    )


def _images(objects: Iterable[KubeObject]) -> list[str]:
    """The images the pod templates and pods of ``objects`` run, sorted, once each."""
    images: set[str] = set()
    for obj in objects:
        spec = obj.get("spec") or {}
        pod = (spec.get("template") or {}).get("spec") or spec
        if obj.get("kind") == "CronJob":
            pod = (
                (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get(
                    "spec"
                )
            ) or {}
        for key in ("containers", "initContainers"):
            for container in pod.get(key) or []:
                if isinstance(container, Mapping) and container.get("image"):
                    images.add(str(container["image"]))
    return sorted(images)
