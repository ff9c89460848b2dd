"""Which sync an Application is due, as Argo CD decides it: a requested operation, or an
automated one, retried after a failure as ``syncPolicy.retry`` says.

- :func:`due_operation`: the operation written in the Application (``argocd app sync``,
  ``lockstep app sync``), else an automated sync when the Application is OutOfSync at a
  revision it has not synced yet (at any revision with ``selfHeal``), else nothing; a
  failed automated sync is tried again at the same revision only after its backoff.
- :func:`retry_wait`: how long until a failed sync may be tried again: ``backoff``
  (5s, doubled, at most 3m by default), up to ``limit`` times (forever when negative),
  counted in ``operationState.retryCount``.
- :func:`requested_sources`: the sources at the revisions a requested sync names (a
  rollback), :func:`chosen_resources`: the objects it is limited to.

Pure functions of the Application's spec and status; the reconciler
(:mod:`lockstep.controllers.argo.application`) runs what they decide.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from lockstep.api.argo import (
    Application,
    ApplicationSource,
    ApplicationStatus,
    Backoff,
    Operation,
    OperationInitiator,
    OperationPhase,
    OperationState,
    RetryStrategy,
    SyncOperation,
    SyncOperationResource,
)
from lockstep.controllers.argo.status import Comparison, Desired
from lockstep.controllers.argo.syncwindows import parse_go_duration
from lockstep.kube import ObjectRef

DEFAULT_RETRY_SECONDS = 5.0
RETRY_FACTOR = 2
MAX_RETRY_SECONDS = 180.0
"""syncPolicy.retry.backoff's defaults, Argo CD's: 5s, doubled, at most 3m."""

RetryDue = Callable[[RetryStrategy | None, OperationState], bool]
"""Whether a failed sync is to be tried again now (the reconciler notes when, if later)."""


def due_operation(
    obj: Application,
    status: ApplicationStatus,
    comparison: Comparison,
    desired: Desired,
    retry_due: RetryDue,
) -> Operation | None:
    """The requested operation, or an automated sync now due; ``None`` when none is."""
    if obj.operation is not None and obj.operation.sync is not None:
        return obj.operation
    policy = obj.spec.sync_policy
    if policy is None or not policy.automated_sync or not comparison.out_of_sync:
        return None
    automated = policy.automated
    assert automated is not None
    if not comparison.resources and not automated.allow_empty and comparison.prunable:
        return None
    last = status.operation_state
    operation = Operation(
        sync=SyncOperation(prune=bool(automated.prune), revisions=desired.revisions),
        initiated_by=OperationInitiator(automated=True),
        retry=policy.retry,
    )
    if synced_revisions(last) != desired.revisions:
        return operation
    if last is not None and last.phase == OperationPhase.FAILED:
        # As Argo CD: a failed sync is tried again at the same revision only as
        # syncPolicy.retry allows, after its backoff.
        return operation if retry_due(policy.retry, last) else None
    # A revision is synced automatically once; only selfHeal syncs it again.
    return operation if automated.self_heal else None


def retry_wait(retry: RetryStrategy | None, last: OperationState, at: datetime) -> float | None:
    """Seconds from ``at`` until the failed sync ``last`` may be tried again (zero or less:
    now); ``None`` when it is not to be tried again."""
    tried = last.retry_count or 0
    if retry is None or ((retry.limit or 0) >= 0 and tried >= (retry.limit or 0)):
        return None
    backoff = retry.backoff or Backoff()
    first = _seconds(backoff.duration, DEFAULT_RETRY_SECONDS)
    longest = _seconds(backoff.max_duration, MAX_RETRY_SECONDS)
    delay = min(first * (backoff.factor or RETRY_FACTOR) ** tried, longest)
    finished = last.finished_at or at
    return float((finished - at).total_seconds() + delay)


def requested_sources(
    sources: Sequence[ApplicationSource], desired: Desired, operation: Operation | None
) -> list[ApplicationSource] | None:
    """The sources at the revisions a requested sync names (``revision``, or
    ``revisions`` per source), when one differs from what the target revisions gave;
    None when the sync is of the target revisions."""
    request = operation.sync if operation is not None else None
    if request is None:
        return None
    wanted = request.revisions or ([request.revision] if request.revision else [])
    changed = False
    chosen = []
    for index, source in enumerate(sources):
        revision = wanted[index] if index < len(wanted) else ""
        resolved = desired.revisions[index] if index < len(desired.revisions) else ""
        if revision and revision not in (resolved, source.target_revision):
            chosen.append(source.model_copy(update={"target_revision": revision}))
            changed = True
        else:
            chosen.append(source)
    return chosen if changed else None


def synced_revisions(state: OperationState | None) -> list[str]:
    """The revision of each source the operation ``state`` synced."""
    if state is None or state.sync_result is None:
        return []
    result = state.sync_result
    return list(result.revisions) or [result.revision or ""]


def chosen_resources(
    resources: Sequence[SyncOperationResource],
) -> Callable[[Mapping[str, Any]], bool]:
    """Whether an object is among those a sync is limited to (all when none are named)."""
    named = {(r.group or "", r.kind, r.namespace or "", r.name) for r in resources}

    def chosen(obj: Mapping[str, Any]) -> bool:
        if not named:
            return True
        ref = ObjectRef.of(obj)
        group = ref.api_version.rpartition("/")[0]
        return (group, ref.kind, ref.namespace, ref.name) in named or (
            group,
            ref.kind,
            "",
            ref.name,
        ) in named

    return chosen


def _seconds(duration: str | None, default: float) -> float:
    """A backoff duration as Argo CD writes it: a Go duration (``5s``, ``3m``), or seconds."""
    if not duration:
        return default
    if duration.isdigit():
        return float(duration)
    try:
        return parse_go_duration(duration).total_seconds()
    except ValueError:
        return default
