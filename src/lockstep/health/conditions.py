"""Reading ``status`` the same way for every kind: fields, conditions and the rules all kinds share.

:func:`common_health` holds kstatus' generic rules, applied before any kind's own
rules: an object being deleted, or whose controller has not yet seen its latest
spec (``status.observedGeneration`` behind ``metadata.generation``), is in progress
whatever the rest of its status says; ``Stalled=True`` is a failure and
``Reconciling=True`` is work in progress.

Called by :mod:`lockstep.health.dispatch` and by the kind modules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lockstep.health.result import Health, KubeObject, failed, in_progress


def status_of(obj: KubeObject) -> Mapping[str, Any]:
    return obj.get("status") or {}


def int_field(fields: Mapping[str, Any], name: str, default: int = 0) -> int:
    """An integer field the API server omits when it is zero."""
    value = fields.get(name)
    return value if isinstance(value, int) else default


def find_condition(obj: KubeObject, condition_type: str) -> Mapping[str, Any] | None:
    conditions = status_of(obj).get("conditions") or []
    return next((c for c in conditions if c.get("type") == condition_type), None)


def explain(condition: Mapping[str, Any]) -> str:
    """A condition's reason and message as one line: ``Reason: message``."""
    reason = condition.get("reason") or ""
    message = " ".join(str(condition.get("message") or "").split())
    return ": ".join(part for part in (reason, message) if part) or "no reason given"


def spec_replicas(obj: KubeObject) -> int:
    """``spec.replicas``, which defaults to 1 when omitted."""
    return int_field(obj.get("spec") or {}, "replicas", default=1)


def generation_health(obj: KubeObject) -> Health | None:
    """In progress while the object is being deleted or its status describes an older spec."""
    metadata = obj.get("metadata") or {}
    if metadata.get("deletionTimestamp"):
        return in_progress("being deleted")
    generation = metadata.get("generation")
    observed = status_of(obj).get("observedGeneration")
    if isinstance(generation, int) and isinstance(observed, int) and observed != generation:
        return in_progress(f"status is for generation {observed}, spec is at {generation}")
    return None


def common_health(obj: KubeObject) -> Health | None:
    """kstatus' rules for every kind, or ``None`` when the kind's own rules decide."""
    if lagging := generation_health(obj):
        return lagging
    if (stalled := find_condition(obj, "Stalled")) and stalled.get("status") == "True":
        return failed(f"stalled: {explain(stalled)}")
    if (reconciling := find_condition(obj, "Reconciling")) and reconciling.get("status") == "True":
        return in_progress(f"reconciling: {explain(reconciling)}")
    return None
