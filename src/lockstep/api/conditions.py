"""Reading and writing status conditions the way Flux reports them.

A condition's ``lastTransitionTime`` changes only when its status changes, so
rewriting the same state yields an identical status and the status writer can
skip the API call. The three summary conditions follow Flux:

- ``Ready``: True with ``ReconciliationSucceeded`` when the last reconciliation
  worked; False with the failing stage's reason otherwise; Unknown while working.
- ``Reconciling``: present (True) only while work is in progress or retried.
- ``Stalled``: present (True) only when retrying cannot help until the spec changes.

Called by the reconcilers when they compute a new status.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from lockstep.api.meta import Condition, ConditionReason, ConditionType

ConditionStatus = Literal["True", "False", "Unknown"]


def find_condition(conditions: Sequence[Condition], kind: str) -> Condition | None:
    return next((c for c in conditions if c.type == kind), None)


def set_condition(
    conditions: Sequence[Condition],
    kind: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    *,
    generation: int | None,
    now: datetime,
) -> list[Condition]:
    """Return ``conditions`` with ``kind`` set, keeping its transition time if the status holds."""
    previous = find_condition(conditions, kind)
    changed = previous is None or previous.status != status
    updated = Condition(
        type=kind,
        status=status,
        reason=reason,
        message=message,
        observed_generation=generation,
        last_transition_time=now if changed or previous is None else previous.last_transition_time,
    )
    kept = [c for c in conditions if c.type != kind]
    return _ordered([*kept, updated])


def remove_condition(conditions: Sequence[Condition], kind: str) -> list[Condition]:
    return [c for c in conditions if c.type != kind]


def mark_ready(
    conditions: Sequence[Condition],
    message: str,
    *,
    generation: int | None,
    now: datetime,
    reason: str = ConditionReason.RECONCILIATION_SUCCEEDED,
) -> list[Condition]:
    """The reconciliation succeeded: Ready=True, no Reconciling, no Stalled.

    ``reason`` is the kind's own: Flux's source kinds write ``Succeeded``."""
    result = remove_condition(
        remove_condition(conditions, ConditionType.RECONCILING), ConditionType.STALLED
    )
    return set_condition(
        result,
        ConditionType.READY,
        "True",
        reason,
        message,
        generation=generation,
        now=now,
    )


def mark_failed(
    conditions: Sequence[Condition],
    reason: str,
    message: str,
    *,
    terminal: bool,
    generation: int | None,
    now: datetime,
) -> list[Condition]:
    """The reconciliation failed: Ready=False; retried (Reconciling) or given up on (Stalled)."""
    result = set_condition(
        conditions, ConditionType.READY, "False", reason, message, generation=generation, now=now
    )
    if terminal:
        result = remove_condition(result, ConditionType.RECONCILING)
        return set_condition(
            result, ConditionType.STALLED, "True", reason, message, generation=generation, now=now
        )
    result = remove_condition(result, ConditionType.STALLED)
    return set_condition(
        result,
        ConditionType.RECONCILING,
        "True",
        ConditionReason.PROGRESSING_WITH_RETRY,
        message,
        generation=generation,
        now=now,
    )


_SUMMARY_ORDER: dict[str, int] = {
    ConditionType.READY: 0,
    ConditionType.RECONCILING: 1,
    ConditionType.STALLED: 2,
}


def _ordered(conditions: list[Condition]) -> list[Condition]:
    """Summary conditions first (Ready, Reconciling, Stalled), then the rest by type."""
    return sorted(conditions, key=lambda c: (_SUMMARY_ORDER.get(c.type, 3), c.type))
