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

Called by the Kustomization reconciler.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from lockstep.api.conditions import set_condition
from lockstep.api.kustomize import HealthCheckReference, Kustomization
from lockstep.api.meta import Condition, ConditionReason, ConditionType
from lockstep.controllers.kustomize.history import go_duration
from lockstep.health import GroupKind, Health, HealthCheck, HealthState, aggregate, evaluate
from lockstep.health.result import in_progress
from lockstep.kube import KubeClient, KubeError, KubeObject, NotFound, ObjectRef

HEALTH_POLL_SECONDS = 1.0

CACHE_POLL_SECONDS = 0.1
"""How often watched copies are looked at while waiting: no request, a few dict reads."""

CachedObjects = Callable[[ObjectRef], KubeObject | None]
"""Looks up the watched copy of an object; ``None`` when there is none."""


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


class HealthCheckFailed(Exception):
    """Objects are failed or not ready in time; ``health`` says which and why."""

    def __init__(self, health: Health) -> None:
        super().__init__(health.message)
        self.health = health


class HealthWaitCancelled(Exception):
    """The source has a new artifact: the wait is abandoned for the new revision."""


async def resolve(kube: KubeClient, ref: ObjectRef) -> ObjectRef:
    """``ref`` without its namespace when its kind is cluster-scoped."""
    info = await kube.resource_info(ref.api_version, ref.kind)
    return ref if info.namespaced else ObjectRef(ref.api_version, ref.kind, ref.name)


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


async def wait_healthy(
    kube: KubeClient,
    refs: Sequence[ObjectRef],
    overrides: Mapping[GroupKind, HealthCheck],
    *,
    within: float,
    new_artifact: asyncio.Event,
    poll: float = HEALTH_POLL_SECONDS,
    observed: Mapping[ObjectRef, KubeObject] | None = None,
    cached: CachedObjects | None = None,
) -> Health:
    """Wait until ``refs`` are all healthy and return their aggregate health.

    ``observed`` holds copies as fresh as a read (what an apply answered): those healthy
    there are not read, and the others are first read ``poll`` seconds later. ``cached``
    looks up watched copies, checked every :data:`CACHE_POLL_SECONDS`: one of the
    object last seen (same uid) at the same generation or later that is healthy ends the
    wait for that object without a read. An object not healthy yet is read every
    ``poll`` seconds; once healthy it is not read again.
    Raises :class:`HealthCheckFailed` when one has failed or after ``within`` seconds, and
    :class:`HealthWaitCancelled` when ``new_artifact`` is set.
    """
    started = time.monotonic()
    deadline = started + within
    seen: dict[ObjectRef, KubeObject] = dict(observed or {})
    judged: dict[ObjectRef, Health] = {ref: evaluate(obj, overrides) for ref, obj in seen.items()}
    # The copies an apply answered count as reads: the next read is one poll later.
    read_at: dict[ObjectRef, float] = dict.fromkeys(seen, started)
    while True:
        now = time.monotonic()
        for ref in refs:
            if ref in judged and judged[ref].state == HealthState.CURRENT:
                continue
            watched = cached(ref) if cached is not None else None
            if watched is not None and _as_recent(watched, seen.get(ref)):
                health = evaluate(watched, overrides)
                if health.state == HealthState.CURRENT:
                    judged[ref] = health
                    continue
            if now - read_at.get(ref, -poll) >= poll:
                read_at[ref] = now
                judged[ref], copy = await _health(kube, ref, overrides)
                if copy is not None:
                    seen[ref] = copy
        health = aggregate([judged[ref] for ref in refs])
        if health.state == HealthState.CURRENT:
            return health
        if health.state == HealthState.FAILED or time.monotonic() >= deadline:
            raise HealthCheckFailed(health)
        try:
            await asyncio.wait_for(
                new_artifact.wait(), timeout=CACHE_POLL_SECONDS if cached is not None else poll
            )
        except TimeoutError:
            continue
        raise HealthWaitCancelled()


def _as_recent(watched: KubeObject, seen: KubeObject | None) -> bool:
    """Whether a watched copy describes the object last seen at its latest spec or later:
    the same uid and no older generation (a watch may still hold a copy from before the
    apply)."""
    if seen is None:
        return True
    watched_meta, seen_meta = watched.get("metadata") or {}, seen.get("metadata") or {}
    if watched_meta.get("uid") != seen_meta.get("uid"):
        return False
    watched_generation, seen_generation = (
        watched_meta.get("generation"),
        seen_meta.get("generation"),
    )
    if isinstance(seen_generation, int):
        return isinstance(watched_generation, int) and watched_generation >= seen_generation
    return True


def cached_health(
    cached: CachedObjects, refs: Sequence[ObjectRef], overrides: Mapping[GroupKind, HealthCheck]
) -> Health | None:
    """The aggregate health of ``refs`` read from watched copies when all are there and
    healthy; ``None`` otherwise, and the caller waits with :func:`wait_healthy`."""
    objects = [cached(ref) for ref in refs]
    if any(obj is None for obj in objects):
        return None
    health = aggregate([evaluate(obj, overrides) for obj in objects if obj is not None])
    return health if health.healthy else None


async def _health(
    kube: KubeClient, ref: ObjectRef, overrides: Mapping[GroupKind, HealthCheck]
) -> tuple[Health, KubeObject | None]:
    """The health of ``ref`` as read now, and the copy read (``None`` when there is none)."""
    try:
        obj = await kube.get(await resolve(kube, ref))
    except NotFound:
        return in_progress(f"{ref}: not found"), None
    except KubeError as error:
        return in_progress(f"{ref}: cannot be read: {error.message}"), None
    return evaluate(obj, overrides), obj
