"""The health stage of a Kustomization: wait until its objects are what Git asks for.

What is waited for: with ``spec.wait`` every applied object; otherwise the
objects of ``spec.healthChecks`` (none: the stage is skipped). Each object is
read from the API server every second and judged by :mod:`lockstep.health`,
with ``spec.healthCheckExprs`` overriding the built-in rules for their kinds.
The wait ends when all are healthy; early when one has Failed; at the timeout;
or as soon as the source has a new artifact, so a fix pushed during a long wait
is applied at once instead of after the timeout (:class:`HealthWaitCancelled`).

Right after an apply, the objects as the API server answered the apply (or as
the apply read them) are judged first, and only those not healthy yet are read;
an object once healthy is not read again during the wait. When nothing was
applied (the reconciler found the cluster as it left it), :func:`cached_health`
first judges the copies the drift watches keep; only when one is missing or not
healthy is the API server polled.

Called by the Kustomization reconciler.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence

from lockstep.api.kustomize import HealthCheckReference, Kustomization
from lockstep.health import GroupKind, Health, HealthCheck, HealthState, aggregate, evaluate
from lockstep.health.result import in_progress
from lockstep.kube import KubeClient, KubeError, KubeObject, NotFound, ObjectRef

HEALTH_POLL_SECONDS = 1.0

CachedObjects = Callable[[ObjectRef], KubeObject | None]
"""Looks up the watched copy of an object; ``None`` when there is none."""


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
) -> Health:
    """Poll ``refs`` until all are healthy and return their aggregate health.

    ``observed`` holds copies as fresh as a read (what an apply answered): those healthy
    there are not read. Only the objects not healthy yet are read at each poll.
    Raises :class:`HealthCheckFailed` when one has failed or after ``within`` seconds, and
    :class:`HealthWaitCancelled` when ``new_artifact`` is set.
    """
    deadline = time.monotonic() + within
    healthy: dict[ObjectRef, Health] = {}
    for ref, obj in (observed or {}).items():
        judged = evaluate(obj, overrides)
        if judged.state == HealthState.CURRENT:
            healthy[ref] = judged
    while True:
        judged_now = {
            ref: healthy[ref] if ref in healthy else await _health(kube, ref, overrides)
            for ref in refs
        }
        healthy.update(
            (ref, judged)
            for ref, judged in judged_now.items()
            if judged.state == HealthState.CURRENT
        )
        health = aggregate([judged_now[ref] for ref in refs])
        if health.state == HealthState.CURRENT:
            return health
        if health.state == HealthState.FAILED or time.monotonic() >= deadline:
            raise HealthCheckFailed(health)
        try:
            await asyncio.wait_for(new_artifact.wait(), timeout=poll)
        except TimeoutError:
            continue
        raise HealthWaitCancelled()


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
) -> Health:
    try:
        return evaluate(await kube.get(await resolve(kube, ref)), overrides)
    except NotFound:
        return in_progress(f"{ref}: not found")
    except KubeError as error:
        return in_progress(f"{ref}: cannot be read: {error.message}")
