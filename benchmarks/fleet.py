"""One W1 run: a fleet of N Kustomizations of one shape, created at once, timed until all
are Ready, against whichever engine is given.

:func:`rollout` takes a fresh namespace, commits the shape's repositories (every file
written, then one commit and one push per repository) and creates their GitRepositories
(HTTP URLs of the Git server, which Flux's source-controller reads too) and the
applier's RBAC; then it starts the engine and waits until every GitRepository is Ready
(not timed). The clock runs from the first creation of a Kustomization, eight requests
in flight, until the last reports Ready for its generation — with ``wait``, so every
object was applied and found healthy. Over the same window :class:`benchmarks.measure.Meter`
measures the engine and the control plane.

A run that does not reach all Ready within its timeout returns what it saw (how many
were Ready, the usage so far) with ``complete`` false. Used by W1's workloads
(:mod:`benchmarks.w1_time_to_production`) with ``lockstep run`` and by
``benchmarks/compare.py`` with Flux's controllers too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from benchmarks.fluxapp import OBJECTS_PER_APP, applier_rbac, git_repository
from benchmarks.ground import KUSTOMIZATION_API, SOURCE_API, Ground, gather_limited
from benchmarks.measure import Meter, MeteredEngine, percentiles
from benchmarks.observe import WaitTimeout, Watched, is_ready
from benchmarks.shapes import Files, Shape
from lockstep.kube import KubeObject

CREATE_IN_FLIGHT = 8
SOURCES_READY_TIMEOUT = 300.0

StartEngine = Callable[[str], AbstractAsyncContextManager[MeteredEngine]]
"""Starts a fresh engine whose artifacts and logs go under the given name."""


def timeout_for(size: int, levels: int = 1, requeue_dependency_seconds: float = 0.0) -> float:
    """How long N Kustomizations may take before the run counts as failed: the time of a
    flat fleet, plus for a chain of ``levels``, one and a half dependency requeues a level."""
    return max(90.0, 1.8 * size) + 1.5 * (levels - 1) * requeue_dependency_seconds


async def rollout(
    ground: Ground, shape: Shape, size: int, start_engine: StartEngine, *, within: float
) -> dict[str, Any]:
    """Create the ``size`` Kustomizations of ``shape`` at once; time them to Ready."""
    async with ground.namespace(f"bench-{shape.key}") as namespace:
        sources = await prepare_sources(ground, namespace, shape.files(size))
        async with start_engine(f"{shape.key}-{size}") as engine:
            await sources_ready(ground, namespace, sources)
            return await create_and_time(
                ground, engine, shape.kustomizations(size, namespace), within
            )


async def prepare_sources(ground: Ground, namespace: str, files: Files) -> list[str]:
    """Commit each repository's files, create its GitRepository and the applier's RBAC."""
    urls = await asyncio.to_thread(_push_repositories, ground, files)
    objects = [git_repository(name, namespace, url) for name, url in urls.items()]
    await gather_limited(
        (ground.kube.apply(obj) for obj in [*applier_rbac(namespace), *objects]),
        limit=CREATE_IN_FLIGHT,
    )
    return list(urls)


def _push_repositories(ground: Ground, files: Files) -> dict[str, str]:
    """Every repository committed and pushed at once; its HTTP URL by name."""
    urls = {}
    for name, contents in files.items():
        repo, work = ground.repository(name)
        for path, content in contents.items():
            work.write(path, content)
        work.commit(f"{len(contents)} files of the benchmark application")
        work.push()
        urls[name] = repo.http_url
    return urls


async def sources_ready(ground: Ground, namespace: str, names: list[str]) -> None:
    async with Watched(ground.kube, SOURCE_API, "GitRepository", namespace) as sources:
        await sources.until(
            lambda objs: all(is_ready(objs.get(name, {})) for name in names),
            within=SOURCES_READY_TIMEOUT,
            what=f"{len(names)} GitRepositories Ready",
        )


async def create_and_time(
    ground: Ground, engine: MeteredEngine, kustomizations: list[KubeObject], within: float
) -> dict[str, Any]:
    """Create ``kustomizations`` at once and wait until every one is Ready, or ``within`` seconds."""
    size = len(kustomizations)
    namespace = kustomizations[0]["metadata"]["namespace"]
    ready_at: dict[str, float] = {}

    def note_ready(obj: KubeObject, at: float) -> None:
        if is_ready(obj):
            ready_at.setdefault(str(obj["metadata"]["name"]), at)

    async with Watched(
        ground.kube, KUSTOMIZATION_API, "Kustomization", namespace, changed=note_ready
    ) as watched:
        meter = await Meter.start(ground, engine)
        started = time.monotonic()
        await gather_limited(
            (ground.kube.apply(obj) for obj in kustomizations), limit=CREATE_IN_FLIGHT
        )
        created = time.monotonic()
        try:
            await watched.until(
                lambda _: len(ready_at) >= size, within=within, what=f"{size} Kustomizations Ready"
            )
            complete = True
        except WaitTimeout:
            complete = False
        waited = time.monotonic() - started
        usage = await meter.stop()
    seconds = max(ready_at.values()) - started if complete else waited
    return {
        "kustomizations": size,
        "objects": size * OBJECTS_PER_APP,
        "complete": complete,
        "ready": len(ready_at),
        "timeout_seconds": round(within),
        "seconds_to_all_ready": round(seconds, 2) if complete else None,
        "seconds_waited": round(waited, 2),
        "seconds_to_create": round(created - started, 2),
        "kustomizations_per_second": round(size / seconds, 2) if complete else None,
        "time_to_ready": percentiles([at - started for at in ready_at.values()]),
        "engine_requests_per_kustomization": round(usage.engine_requests_total / size, 1),
        "apiserver_requests_per_kustomization": round(usage.apiserver_requests_total / size, 1),
        "usage": usage.as_dict(),
    }
