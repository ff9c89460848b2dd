"""The health stage of a Kustomization: wait until its objects are what Git asks for.

What is waited for: with ``spec.wait`` every applied object; otherwise the
objects of ``spec.healthChecks`` (none: the stage is skipped). Each object is
read from the API server every second and judged by :mod:`lockstep.health`,
with ``spec.healthCheckExprs`` overriding the built-in rules for their kinds.
The wait ends when all are healthy; early when one has Failed; at the timeout;
or as soon as the source has a new artifact, so a fix pushed during a long wait
is applied at once instead of after the timeout (:class:`HealthWaitCancelled`).

Right after an apply, the objects as the API server answered the apply (or as
the apply read them) are judged first; those not healthy yet are then judged
from the drift watches' copies as soon as these show the change (a Deployment's
controller reporting the rollout), and read from the API server only once per
second while the watches have not shown it; an object once healthy is not read
again during the wait. When nothing was
applied (the reconciler found the cluster as it left it), :func:`cached_health`
first judges the copies the drift watches keep; only when one is missing or not
healthy is the API server polled.

The conditions are Flux's: while a wait that follows an apply runs,
:func:`running_health_checks` (Ready Unknown, Reconciling and Healthy Unknown with
reason ``Progressing`` and "Running health checks for revision ... with a timeout of
..."), written before the wait so that ``kubectl wait`` and other watchers see it;
after it, Healthy True with :func:`health_check_passed` ("Health check passed in
35.2ms", a Go duration).

The wait itself is the apply engine's health verb (:mod:`lockstep.apply.health_wait`);
this module holds what is the Kustomization's: which objects, and its conditions.

Called by the Kustomization reconciler.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from lockstep.api.conditions import set_condition
from lockstep.api.kustomize import HealthCheckReference, Kustomization
from lockstep.api.meta import Condition, ConditionReason, ConditionType
from lockstep.controllers.kustomize.history import go_duration
from lockstep.kube import ObjectRef

RECONCILIATION_IN_PROGRESS = "Reconciliation in progress"


def health_check_passed(elapsed_nanoseconds: int) -> str:
    """The message of Healthy=True: how long the health checks took."""
    return f"Health check passed in {go_duration(elapsed_nanoseconds)}"


def running_health_checks(
    conditions: Sequence[Condition],
    *,
    revision: str,
    timeout: float,
    generation: int | None,
    now: datetime,
) -> list[Condition]:
    """``conditions`` while the health checks of ``revision`` run, ``timeout`` in seconds."""
    message = (
        f"Running health checks for revision {revision} "
        f"with a timeout of {go_duration(round(timeout * 1e9))}"
    )
    progressing = ConditionReason.PROGRESSING
    result = set_condition(
        conditions,
        ConditionType.READY,
        "Unknown",
        progressing,
        RECONCILIATION_IN_PROGRESS,
        generation=generation,
        now=now,
    )
    result = set_condition(
        result,
        ConditionType.RECONCILING,
        "True",
        progressing,
        message,
        generation=generation,
        now=now,
    )
    return set_condition(
        result,
        ConditionType.HEALTHY,
        "Unknown",
        progressing,
        message,
        generation=generation,
        now=now,
    )


def health_check_refs(
    kustomization: Kustomization, applied: Sequence[ObjectRef]
) -> list[ObjectRef] | str:
    """The objects ``spec.healthChecks`` names, or a message saying which entry is unusable.

    An entry without apiVersion takes the version of the applied object of that
    kind and name; an entry without namespace is in the Kustomization's namespace.
    """
    refs = []
    for check in kustomization.spec.health_checks:
        api_version = check.api_version or _applied_version(check, applied)
        if api_version is None:
            return (
                f"healthChecks entry {check.kind}/{check.name} has no apiVersion and names no "
                "applied object; set its apiVersion"
            )
        namespace = check.namespace or kustomization.metadata.namespace or ""
        refs.append(ObjectRef(api_version, check.kind, check.name, namespace))
    return refs


def _applied_version(check: HealthCheckReference, applied: Sequence[ObjectRef]) -> str | None:
    return next(
        (ref.api_version for ref in applied if ref.kind == check.kind and ref.name == check.name),
        None,
    )
