"""The health verb of the apply engine: wait until applied objects are healthy.

An owner's reconciler applies, then calls :func:`wait_healthy` with the objects to
wait for: each is judged by :mod:`lockstep.health` (with per-kind overrides) from the
copy the apply answered, then from watched copies (``cached``: the drift watches of
the owner), and read from the API server only every ``poll`` seconds while neither has
shown it healthy; an object once healthy is not read again. The wait ends when all
are healthy, early when one has Failed, at ``within`` seconds, or as soon as
``cancelled`` is set (:class:`HealthWaitCancelled`: the owner has something newer to
apply, or is being deleted). :func:`cached_health` judges watched copies alone, for
a check that applied nothing. Time comes from an injectable clock, so a timeout test
costs milliseconds.

Called by the Kustomization reconciler (:mod:`lockstep.controllers.kustomize`), whose
wait a new artifact of its source cancels, and by the HelmRelease reconciler
(:mod:`lockstep.controllers.helm.release`), whose wait its deletion or a new spec
cancels; the Argo CD owner will wait the same way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence

from lockstep.health import GroupKind, Health, HealthCheck, HealthState, aggregate, evaluate
from lockstep.health.result import in_progress
from lockstep.kube import KubeClient, KubeError, KubeObject, NotFound, ObjectRef

HEALTH_POLL_SECONDS = 1.0

CACHE_POLL_SECONDS = 0.1
"""How often watched copies are looked at while waiting: no request, a few dict reads."""

CachedObjects = Callable[[ObjectRef], KubeObject | None]
"""Looks up the watched copy of an object; ``None`` when there is none."""

Clock = Callable[[], float]
"""Monotonic seconds: :func:`time.monotonic`, or a test's fake clock."""


class HealthCheckFailed(Exception):
    """Objects are failed or not ready in time; ``health`` says which and why."""

    def __init__(self, health: Health) -> None:
        super().__init__(health.message)
        self.health = health


class HealthWaitCancelled(Exception):
    """The owner has something newer to apply (its source a new artifact, itself a new
    spec) or is being deleted: the wait is abandoned."""


async def resolve(kube: KubeClient, ref: ObjectRef) -> ObjectRef:
    """``ref`` without its namespace when its kind is cluster-scoped."""
    info = await kube.resource_info(ref.api_version, ref.kind)
    return ref if info.namespaced else ObjectRef(ref.api_version, ref.kind, ref.name)


async def wait_healthy(
    kube: KubeClient,
    refs: Sequence[ObjectRef],
    overrides: Mapping[GroupKind, HealthCheck],
    *,
    within: float,
    cancelled: asyncio.Event,
    poll: float = HEALTH_POLL_SECONDS,
    observed: Mapping[ObjectRef, KubeObject] | None = None,
    cached: CachedObjects | None = None,
    clock: Clock = time.monotonic,
) -> Health:
    """Wait until ``refs`` are all healthy and return their aggregate health.

    ``observed`` holds copies as fresh as a read (what an apply answered): those healthy
    there are not read, and the others are first read ``poll`` seconds later. ``cached``
    looks up watched copies, checked every :data:`CACHE_POLL_SECONDS`: one of the
    object last seen (same uid) at the same generation or later that is healthy ends the
    wait for that object without a read. An object not healthy yet is read every
    ``poll`` seconds; once healthy it is not read again.
    Raises :class:`HealthCheckFailed` when one has failed or after ``within`` seconds, and
    :class:`HealthWaitCancelled` when ``cancelled`` is set.
    """
    started = clock()
    deadline = started + within
    seen: dict[ObjectRef, KubeObject] = dict(observed or {})
    judged: dict[ObjectRef, Health] = {ref: evaluate(obj, overrides) for ref, obj in seen.items()}
    # The copies an apply answered count as reads: the next read is one poll later.
    read_at: dict[ObjectRef, float] = dict.fromkeys(seen, started)
    while True:
        now = clock()
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
        if health.state == HealthState.FAILED or clock() >= deadline:
            raise HealthCheckFailed(health)
        try:
            await asyncio.wait_for(
                cancelled.wait(), timeout=CACHE_POLL_SECONDS if cached is not None else poll
            )
        except TimeoutError:
            continue
        raise HealthWaitCancelled("the wait for health was cancelled")


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
