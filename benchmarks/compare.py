"""lockstep and Flux side by side on W1's fleet shapes (``make bench-compare``).

Builds Flux's source-controller and kustomize-controller from their pinned modules
(:func:`lockstep.dev.flux.ensure_binaries`, cached) and, on one fresh control plane,
runs each shape of :mod:`benchmarks.shapes` at each N with each engine, back to back:

- ``lockstep``: ``lockstep run --concurrent 4``, its default;
- ``flux-default``: both controllers with ``--concurrent=4``, kustomize-controller with
  ``--requeue-dependency=30s``, its default;
- ``flux-benchmark``: the settings of Flux's own published benchmark (source-controller
  ``--concurrent=10``, kustomize-controller ``--concurrent=20``) with
  ``--requeue-dependency=5s`` of Flux's vertical-scaling guide.

Every run is :func:`benchmarks.fleet.rollout` in a fresh namespace with a fresh engine,
the other engines stopped, Flux on the CRDs ``lockstep install --crds`` installs, the
same HTTP Git server and the same watcher. A run that does not reach all Ready in time
is recorded with how many were Ready; the comparison goes on.

``python -m benchmarks.compare --shapes w1a,w1b --sizes 100 --engines lockstep,flux-default``
runs a subset. The full run writes ``benchmarks/results/compare.json`` and
``compare.md`` (the ratios Flux / lockstep per shape and N), a subset the same files
under ``benchmarks/results/custom/``; both are rewritten after every run.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import traceback
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from benchmarks import fleet
from benchmarks.comparison import (
    LOCKSTEP,
    choices,
    counts,
    first_line,
    heading,
    ratio,
    ready_table,
    report_build,
    write_results,
)
from benchmarks.flux_engine import FluxEngine, FluxSettings
from benchmarks.ground import CONCURRENT, Ground
from benchmarks.measure import MeteredEngine
from benchmarks.run import RESULTS, machine_facts
from benchmarks.shapes import SHAPES, Shape
from lockstep.controllers.kustomize.kustomization import DEPENDENCY_RETRY_SECONDS
from lockstep.dev.flux import FluxBinaries, ensure_binaries
from lockstep.dev.toolchain import ToolchainError

NAME = "compare"
SIZES = (100, 1000)
FLUX_SETTINGS = {
    settings.key: settings
    for settings in (
        FluxSettings(
            "flux-default",
            ("--concurrent=4",),
            ("--concurrent=4", "--requeue-dependency=30s"),
            30.0,
            "Flux's defaults: kustomize-controller's own (--concurrent=4, "
            "--requeue-dependency=30s), source-controller at the same --concurrent=4",
        ),
        FluxSettings(
            "flux-benchmark",
            ("--concurrent=10",),
            ("--concurrent=20", "--requeue-dependency=5s"),
            5.0,
            "fluxcd/flux-benchmark RESULTS.md (source-controller concurrency 10, "
            "kustomize-controller 20), with --requeue-dependency=5s of Flux's "
            "vertical-scaling guide",
        ),
    )
}
ENGINES = (LOCKSTEP, *FLUX_SETTINGS)
FIGURES = (
    ("seconds_to_all_ready", "all Ready"),
    ("engine_cpu_seconds", "engine CPU"),
    ("peak_rss_mib", "peak RSS"),
    ("apiserver_cpu_seconds", "API server CPU"),
    ("engine_requests_per_kustomization", "engine requests / K"),
    ("apiserver_requests_per_kustomization", "API server requests / K"),
)
"""What is compared, with its column title."""
CELLS = {
    "engine_cpu_seconds": "{:.1f} s",
    "apiserver_cpu_seconds": "{:.1f} s",
    "peak_rss_mib": "{:.0f} MiB",
}


def figures(run: dict[str, Any]) -> dict[str, float | None]:
    """The compared figures of one run; ``None`` for all of them if it did not complete.

    Peak RSS is the larger of the processes' own peaks (``VmHWM``, added up for Flux's two
    controllers) and the peak of their sum with children, sampled (lockstep's Kustomize
    build service).
    """
    if not run.get("complete"):
        return {key: None for key, _title in FIGURES}
    usage = run["usage"]
    return {
        "seconds_to_all_ready": run["seconds_to_all_ready"],
        "engine_cpu_seconds": usage["engine_cpu_seconds"],
        "peak_rss_mib": max(usage["engine_peak_rss_mib"], usage["engine_tree_peak_rss_mib"]),
        "apiserver_cpu_seconds": usage["control_plane_cpu_seconds"].get("kube-apiserver"),
        "engine_requests_per_kustomization": run["engine_requests_per_kustomization"],
        "apiserver_requests_per_kustomization": run["apiserver_requests_per_kustomization"],
    }


def ratios(flux: dict[str, Any], lockstep: dict[str, Any]) -> dict[str, float | None]:
    """Each figure of the Flux run divided by lockstep's; ``None`` where one is missing."""
    theirs, ours = figures(flux), figures(lockstep)
    return {key: ratio(theirs[key], ours[key]) for key, _title in FIGURES}


def engine_command(key: str) -> str:
    if key == LOCKSTEP:
        return f"lockstep run --concurrent {CONCURRENT}"
    return FLUX_SETTINGS[key].describe()


def engine_origin(key: str) -> str:
    return "lockstep's default" if key == LOCKSTEP else FLUX_SETTINGS[key].origin


def requeue_dependency_seconds(key: str) -> float:
    if key == LOCKSTEP:
        return DEPENDENCY_RETRY_SECONDS
    return FLUX_SETTINGS[key].requeue_dependency_seconds


def engine_starter(ground: Ground, key: str, binaries: FluxBinaries | None) -> fleet.StartEngine:
    """How to start a fresh engine ``key`` on ``ground``."""
    if key == LOCKSTEP:
        return ground.engine
    assert binaries is not None, "Flux's controllers are needed but were not built"
    settings = FLUX_SETTINGS[key]

    def start(name: str) -> AbstractAsyncContextManager[MeteredEngine]:
        return FluxEngine.started(ground, binaries, settings, f"{key}-{name}")

    return start


async def one_run(
    ground: Ground, shape: Shape, size: int, key: str, binaries: FluxBinaries | None
) -> dict[str, Any]:
    """One shape at one N with one engine; a failure is recorded, not raised."""
    sys.stderr.write(f"running {shape.key} at N = {size} with {key}\n")
    within = fleet.timeout_for(size, shape.levels, requeue_dependency_seconds(key))
    try:
        result = await fleet.rollout(
            ground, shape, size, engine_starter(ground, key, binaries), within=within
        )
    except Exception as error:
        traceback.print_exc()
        result = {"kustomizations": size, "complete": False, "error": first_line(error)}
    return {"shape": shape.key, "engine": key, **result}


async def compare(
    shapes: Sequence[Shape],
    sizes: Sequence[int],
    engines: Sequence[str],
    binaries: FluxBinaries | None,
    folder: Path,
) -> dict[str, Any]:
    """Every shape at every N with every engine on one fresh ground; the document written."""
    document: dict[str, Any] = {
        "workload": NAME,
        "engines": {
            key: {"command": engine_command(key), "origin": engine_origin(key)} for key in engines
        },
        "flux_versions": dict(binaries.versions) if binaries else {},
        "runs": [],
    }
    machine = machine_facts()
    async with Ground.started(settle=True) as ground:
        machine["kubernetes"] = ground.kubernetes_version
        for shape in shapes:
            for size in sizes:
                for key in engines:
                    document["runs"].append(await one_run(ground, shape, size, key, binaries))
                    write_results(folder, NAME, document, machine, markdown)
    return document


def markdown(document: dict[str, Any]) -> str:
    """The comparison as tables: per shape and N, a row per engine, then the ratios."""
    lines = [
        *heading("lockstep and Flux side by side: W1's fleet shapes", document),
        "N Kustomizations created at once, timed until all are Ready (with `wait`); engine CPU",
        "and peak RSS of all the engine's processes (Flux: both controllers); requests per",
        "Kustomization as the engine's client counts them and as the API server served them",
        "(every client); API server CPU over the same window.",
        "",
    ]
    for shape, size in _groups(document["runs"]):
        runs = {
            run["engine"]: run
            for run in document["runs"]
            if run["shape"] == shape and run["kustomizations"] == size
        }
        title = f"{shape} ({SHAPES[shape].title}), N = {size}"
        lines += ready_table(title, runs, FIGURES, figures, _outcome, CELLS)
    return "\n".join(lines)


def _groups(runs: list[dict[str, Any]]) -> list[tuple[str, int]]:
    seen: dict[tuple[str, int], None] = {}
    for run in runs:
        seen.setdefault((run["shape"], run["kustomizations"]), None)
    return list(seen)


def _outcome(run: dict[str, Any]) -> str:
    if run.get("error"):
        return f"failed: {run['error']}"
    if not run["complete"]:
        return (
            f"not all Ready: {run['ready']} of {run['kustomizations']} "
            f"within {run['timeout_seconds']} s"
        )
    return f"{run['seconds_to_all_ready']} s"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--shapes", default=",".join(SHAPES), help="comma-separated shapes (default: %(default)s)"
    )
    parser.add_argument(
        "--sizes",
        default=",".join(map(str, SIZES)),
        help="comma-separated Ns (default: %(default)s)",
    )
    parser.add_argument(
        "--engines",
        default=",".join(ENGINES),
        help="comma-separated engines (default: %(default)s)",
    )
    args = parser.parse_args()
    shapes = [SHAPES[key] for key in choices(parser, args.shapes, list(SHAPES), "shape")]
    engines = choices(parser, args.engines, ENGINES, "engine")
    sizes = counts(parser, args.sizes, "Kustomizations")
    full = len(shapes) == len(SHAPES) and tuple(sizes) == SIZES and tuple(engines) == ENGINES
    folder = RESULTS if full else RESULTS / "custom"
    try:
        binaries = _flux_binaries() if set(engines) & set(FLUX_SETTINGS) else None
    except ToolchainError as error:
        sys.stderr.write(f"error: cannot build Flux's controllers: {error}\n")
        return 1
    document = asyncio.run(compare(shapes, sizes, engines, binaries, folder))
    sys.stdout.write(markdown(document))
    failed = [run for run in document["runs"] if run.get("error")]
    if failed:
        sys.stderr.write(f"{len(failed)} runs failed; see {folder / (NAME + '.json')}\n")
        return 1
    return 0


def _flux_binaries() -> FluxBinaries:
    return ensure_binaries(report_build)


if __name__ == "__main__":
    raise SystemExit(main())
