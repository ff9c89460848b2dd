"""Health of every kind without rules of its own, custom resources above all.

The shared rules of :func:`~lockstep.health.conditions.common_health`
(generation, ``Stalled``, ``Reconciling``) have already run. What is left is the
``Ready`` condition, read as kstatus reads it:

- ``Ready=True`` is current.
- ``Ready=False`` or ``Unknown`` is in progress, not failed: most controllers
  (Flux's own included) report transient errors there and retry. A controller
  that has given up says so with ``Stalled=True``, which is a failure.
- No ``Ready`` condition is current: the kind does not report readiness, and
  its controller (if it has ``observedGeneration``) has seen the latest spec.
  ConfigMaps, Secrets, RBAC objects and the like land here too.

Called by :mod:`lockstep.health.dispatch` for kinds missing from its table.
"""

from __future__ import annotations

from lockstep.health.conditions import explain, find_condition
from lockstep.health.result import Health, KubeObject, current, in_progress


def ready_condition_health(obj: KubeObject) -> Health:
    ready = find_condition(obj, "Ready")
    if ready is None:
        return current("exists; reports no readiness")
    if ready.get("status") == "True":
        return current(f"ready: {explain(ready)}")
    return in_progress(f"not ready: {explain(ready)}")
