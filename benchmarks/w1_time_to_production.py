"""W1, time to production: N Kustomizations of Flux's benchmark application, created at
once, until every one is Ready.

For each N (100, 500, 1000; 10 in a quick run; or the runner's ``--sizes``) a fresh engine and a namespace: the
application is pushed to one Git repository and its GitRepository made Ready first
(not timed). Then the N Kustomizations are created, eight requests in flight, and
the clock runs from the first creation until the last Kustomization reports Ready
for its generation — with ``wait``, so every Deployment, Service, ServiceAccount and
Ingress was applied and found healthy. Each Kustomization's own time to Ready is
kept too. Over the same window: the engine's CPU time, peak memory, and requests as
counted by its client and by the API server, and the CPU time of the control plane's
components, which share the machine (:mod:`benchmarks.measure`).

Anchor: Flux 2.9 takes 26 s for 100, 2m0s for 500 and 4m13s for 1000 on a 16-core
runner, with 223 MiB for kustomize-controller. Run by ``benchmarks/run.py``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from benchmarks.fluxapp import (
    OBJECTS_PER_APP,
    app_kustomization,
    applier_rbac,
    git_repository,
    write_app,
)
from benchmarks.ground import CONCURRENT, KUSTOMIZATION_API, SOURCE_API, Ground, gather_limited
from benchmarks.measure import Meter, percentiles
from benchmarks.observe import Watched, is_ready
from lockstep.kube import KubeObject

NAME = "w1_time_to_production"
SIZES = (100, 500, 1000)
QUICK_SIZES = (10,)
CREATE_IN_FLIGHT = 8
SOURCE = "app"


def timeout_for(size: int) -> float:
    """How long N Kustomizations may take before the run counts as failed."""
    return max(90.0, 1.8 * size)


async def run(ground: Ground, quick: bool) -> dict[str, Any]:
    sizes = ground.sizes or (QUICK_SIZES if quick else SIZES)
    return {"concurrent": CONCURRENT, "runs": [await rollout(ground, size) for size in sizes]}


async def prepare_source(ground: Ground, namespace: str) -> None:
    """The application in a new repository, its GitRepository, and the applier's RBAC."""
    repo, work = ground.repository("app")
    await asyncio.to_thread(write_app, work)
    for obj in [*applier_rbac(namespace), git_repository(SOURCE, namespace, repo.git_url)]:
        await ground.kube.apply(obj)


async def source_ready(ground: Ground, namespace: str) -> None:
    async with Watched(ground.kube, SOURCE_API, "GitRepository", namespace) as sources:
        await sources.until(
            lambda objs: is_ready(objs.get(SOURCE, {})),
            within=60,
            what=f"GitRepository {SOURCE} Ready",
        )


async def create_apps(ground: Ground, namespace: str, size: int, interval: str = "60m") -> None:
    """Create the Kustomizations of ``size`` copies of the application, all at once."""
    await gather_limited(
        (
            ground.kube.apply(app_kustomization(index, namespace, SOURCE, interval=interval))
            for index in range(size)
        ),
        limit=CREATE_IN_FLIGHT,
    )


async def rollout(ground: Ground, size: int) -> dict[str, Any]:
    """Create ``size`` Kustomizations at once against a fresh engine; time them to Ready."""
    async with ground.namespace("bench-w1") as namespace:
        await prepare_source(ground, namespace)
        async with ground.engine(f"w1-{size}") as engine:
            await source_ready(ground, namespace)
            ready_at: dict[str, float] = {}

            def note_ready(obj: KubeObject, at: float) -> None:
                if is_ready(obj):
                    ready_at.setdefault(str(obj["metadata"]["name"]), at)

            async with Watched(
                ground.kube, KUSTOMIZATION_API, "Kustomization", namespace, changed=note_ready
            ) as kustomizations:
                meter = await Meter.start(ground, engine)
                started = time.monotonic()
                await create_apps(ground, namespace, size)
                created = time.monotonic()
                await kustomizations.until(
                    lambda _: len(ready_at) >= size,
                    within=timeout_for(size),
                    what=f"{size} Kustomizations Ready",
                )
                usage = await meter.stop()
    if not usage.engine_requests_total:
        raise RuntimeError("lockstep run exported no lockstep_kube_requests_total samples")
    seconds = max(ready_at.values()) - started
    return {
        "kustomizations": size,
        "objects": size * OBJECTS_PER_APP,
        "seconds_to_all_ready": round(seconds, 2),
        "seconds_to_create": round(created - started, 2),
        "kustomizations_per_second": round(size / seconds, 2),
        "time_to_ready": percentiles([at - started for at in ready_at.values()]),
        "engine_requests_per_kustomization": round(usage.engine_requests_total / size, 1),
        "usage": usage.as_dict(),
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        "W1 time to production: N Kustomizations (Deployment scaled to 0, ServiceAccount,",
        "Service, Ingress each; wait, prune, impersonation) created at once, until all Ready;",
        f"lockstep run --concurrent {result['concurrent']}. Requests over the window: the",
        "engine's own (client-side) and all the API server served (every client). CPU of the",
        "control plane over the window: API server / etcd / controller-manager.",
        "",
        "| N | all Ready | p50 / p95 per Kustomization | Kustomizations/s | engine CPU (+ kustomize) | "
        "peak RSS engine (+ kustomize) | engine requests (per Kustomization) | API server requests "
        "| control plane CPU |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in result["runs"]:
        usage, ready = run["usage"], run["time_to_ready"]
        lines.append(
            f"| {run['kustomizations']} | {run['seconds_to_all_ready']} s"
            f" | {ready['p50_ms'] / 1000:.1f} s / {ready['p95_ms'] / 1000:.1f} s"
            f" | {run['kustomizations_per_second']}"
            f" | {usage['engine_cpu_seconds']:.1f} s"
            f" | {usage['engine_peak_rss_mib']:.0f} MiB ({usage['engine_tree_peak_rss_mib']:.0f} MiB)"
            f" | {usage['engine_requests_total']} ({run['engine_requests_per_kustomization']})"
            f" | {usage['apiserver_requests_total']}"
            f" | {_control_plane(usage.get('control_plane_cpu_seconds') or {})} |"
        )
    return "\n".join(lines) + "\n"


def _control_plane(cpu: dict[str, float]) -> str:
    if not cpu:
        return "-"
    parts = ("kube-apiserver", "etcd", "kube-controller-manager")
    return " / ".join(f"{cpu.get(part, 0.0):.1f} s" for part in parts)
