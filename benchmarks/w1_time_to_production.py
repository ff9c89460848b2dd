"""W1, time to production: N Kustomizations of Flux's benchmark application, created at
once, until every one is Ready, in four fleet shapes (:mod:`benchmarks.shapes`).

- ``w1`` (also ``w1a``): one shared path of one GitRepository, a postBuild variable
  per copy; N = 100, 500, 1000;
- ``w1b``: a monorepo of at least 1000 folders, one path each; N = 100, 1000;
- ``w1c``: N/10 GitRepositories, 10 Kustomizations each; N = 100, 1000;
- ``w1d``: 10 levels of ``dependsOn``, N/10 wide; N = 100, 1000.

A quick run takes N = 10, the runner's ``--sizes`` others. For each N a fresh engine
and a namespace: the repositories are pushed and their GitRepositories made Ready
first (not timed). Then the N Kustomizations are created, eight requests in flight,
and the clock runs from the first creation until the last Kustomization reports Ready
for its generation — with ``wait``, so every Deployment, Service, ServiceAccount and
Ingress was applied and found healthy (:mod:`benchmarks.fleet`). Each Kustomization's
own time to Ready is kept too. Over the same window: the engine's CPU time, peak
memory, and requests as counted by its client and by the API server, and the CPU time
of the control plane's components, which share the machine (:mod:`benchmarks.measure`).

Anchor: Flux 2.9 takes 26 s for 100, 2m0s for 500 and 4m13s for 1000 on a 16-core
runner, with 223 MiB for kustomize-controller; ``benchmarks/compare.py`` runs Flux's
controllers here, side by side. Run by ``benchmarks/run.py``; W4 reuses the source
set-up of ``w1``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks import fleet
from benchmarks.fluxapp import app_kustomization, applier_rbac, git_repository, write_app
from benchmarks.ground import CONCURRENT, SOURCE_API, Ground, gather_limited
from benchmarks.observe import Watched, is_ready
from benchmarks.shapes import SHAPES, Shape
from lockstep.controllers.kustomize.kustomization import DEPENDENCY_RETRY_SECONDS

NAME = "w1_time_to_production"
NAMES = {
    "w1a": NAME,
    "w1b": "w1b_monorepo",
    "w1c": "w1c_many_sources",
    "w1d": "w1d_dependency_chain",
}
"""The result file of each shape; ``w1a`` keeps W1's name."""
SIZES = (100, 500, 1000)
SHAPE_SIZES = (100, 1000)
"""The Ns of the shapes other than ``w1a``."""
QUICK_SIZES = (10,)
SOURCE = "app"


def timeout_for(size: int, levels: int = 1) -> float:
    """How long N Kustomizations may take before the run counts as failed."""
    return fleet.timeout_for(size, levels, DEPENDENCY_RETRY_SECONDS)


def workload(key: str) -> Callable[[Ground, bool], Awaitable[dict[str, Any]]]:
    """The workload of shape ``key``, for the runner."""

    async def run_this_shape(ground: Ground, quick: bool) -> dict[str, Any]:
        return await run_shape(ground, quick, SHAPES[key])

    return run_this_shape


run = workload("w1a")
"""W1 itself, one shared path."""


async def run_shape(ground: Ground, quick: bool, shape: Shape) -> dict[str, Any]:
    default = SIZES if shape.key == "w1a" else SHAPE_SIZES
    sizes = ground.sizes or (QUICK_SIZES if quick else default)
    runs = []
    for size in sizes:
        result = await fleet.rollout(
            ground, shape, size, ground.engine, within=timeout_for(size, shape.levels)
        )
        if not result["complete"]:
            raise RuntimeError(
                f"{shape.key}: {result['ready']} of {size} Kustomizations Ready within "
                f"{result['timeout_seconds']}s; see the engine's log under {ground.folder}"
            )
        if not result["usage"]["engine_requests_total"]:
            raise RuntimeError("lockstep run exported no lockstep_kube_requests_total samples")
        runs.append(result)
    return {"shape": shape.key, "title": shape.title, "concurrent": CONCURRENT, "runs": runs}


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
        limit=fleet.CREATE_IN_FLIGHT,
    )


def table(result: dict[str, Any]) -> str:
    shape = result.get("shape", "w1a")
    lines = [
        f"W1 time to production, {shape} ({result.get('title', SHAPES['w1a'].title)}): N",
        "Kustomizations (Deployment scaled to 0, ServiceAccount, Service, Ingress each; wait,",
        "prune, impersonation) created at once, until all Ready;",
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
