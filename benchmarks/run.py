"""Run lockstep's benchmarks and write their results (``make bench``; ``--quick`` for a smoke run).

Workloads (``--only git,w1,...`` runs some of them, in this order):

- ``git``: the cost of a Git source poll and fetch (:mod:`benchmarks.git_source`);
- ``w1`` (or ``w1a``): time to production of N Kustomizations on one shared path
  (:mod:`benchmarks.w1_time_to_production`), and the other fleet shapes of W1: ``w1b``
  a monorepo, ``w1c`` many sources, ``w1d`` a dependency chain (:mod:`benchmarks.shapes`);
- ``w5``: the same objects by a direct server-side-apply loop (:mod:`benchmarks.w5_ssa_limit`);
- ``w2``: commit → applied, with a Receiver and by polling (:mod:`benchmarks.w2_commit_to_applied`);
- ``w3``: drift repair (:mod:`benchmarks.w3_drift_repair`);
- ``w4``: steady state, per no-op reconcile and per hour (:mod:`benchmarks.w4_steady_state`);
- ``w6``: N HelmReleases of one chart until all Ready, then a no-op pass
  (:mod:`benchmarks.w6_helm_releases`);
- ``w7``: N Argo CD Applications of one folder until all Synced and Healthy, then a
  no-op refresh (:mod:`benchmarks.w7_argo_applications`).

W1 to W7 share one fresh local control plane and Git server (:mod:`benchmarks.ground`).
Each workload returns plain data; this runner adds the machine's facts and writes
``benchmarks/results/<name>.json`` and ``<name>.md``, then ``summary.md`` with the
tables of every result file there. A quick run writes under ``benchmarks/results/quick/``
and a run with other Ns (``--sizes 100,300``, for W1, W5, W6 and W7) under
``benchmarks/results/custom/`` (neither is committed), so that such runs never overwrite
the reference figures. A workload that fails writes nothing, and the runner exits with 1
after the others have run.

``--profile`` samples every engine the workloads start with py-spy and writes, in
``profiles/`` of the results folder, one text summary per engine (committed) beside its
raw stacks (not committed); see :mod:`benchmarks.profile`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lockstep
from benchmarks import (
    git_source,
    w1_time_to_production,
    w2_commit_to_applied,
    w3_drift_repair,
    w4_steady_state,
    w5_ssa_limit,
    w6_helm_releases,
    w7_argo_applications,
)
from benchmarks.ground import Ground

RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class ClusterWorkload:
    """A workload on the test ground: its results' file name, how to run and show it."""

    name: str
    run: Callable[[Ground, bool], Awaitable[dict[str, Any]]]
    table: Callable[[dict[str, Any], Path], str]
    """Markdown of a result; the folder holds the other results it may compare with."""


CLUSTER_WORKLOADS = {
    "w1": ClusterWorkload(
        w1_time_to_production.NAME,
        w1_time_to_production.run,
        lambda result, _folder: w1_time_to_production.table(result),
    ),
    **{
        key: ClusterWorkload(
            w1_time_to_production.NAMES[key],
            w1_time_to_production.workload(key),
            lambda result, _folder: w1_time_to_production.table(result),
        )
        for key in ("w1b", "w1c", "w1d")
    },
    "w5": ClusterWorkload(w5_ssa_limit.NAME, w5_ssa_limit.run, w5_ssa_limit.table),
    "w2": ClusterWorkload(
        w2_commit_to_applied.NAME,
        w2_commit_to_applied.run,
        lambda result, _folder: w2_commit_to_applied.table(result),
    ),
    "w3": ClusterWorkload(
        w3_drift_repair.NAME,
        w3_drift_repair.run,
        lambda result, _folder: w3_drift_repair.table(result),
    ),
    "w4": ClusterWorkload(
        w4_steady_state.NAME,
        w4_steady_state.run,
        lambda result, _folder: w4_steady_state.table(result),
    ),
    "w6": ClusterWorkload(
        w6_helm_releases.NAME,
        w6_helm_releases.run,
        lambda result, _folder: w6_helm_releases.table(result),
    ),
    "w7": ClusterWorkload(
        w7_argo_applications.NAME,
        w7_argo_applications.run,
        lambda result, _folder: w7_argo_applications.table(result),
    ),
}
ORDER = ("git", *CLUSTER_WORKLOADS)
ALIASES = {"w1a": "w1"}
TABLES: dict[str, Callable[[dict[str, Any], Path], str]] = {
    git_source.NAME: lambda result, _folder: git_table(result),
    **{workload.name: workload.table for workload in CLUSTER_WORKLOADS.values()},
}


def machine_facts() -> dict[str, Any]:
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    memory_kib = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal"))
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line), "")
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "lockstep": lockstep.__version__,
        "revision": _revision(),
    }


def _revision() -> str:
    """The work tree's commit, marked when it has changes not committed."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=Path(__file__).parent.parent, capture_output=True, text=True
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short=12", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "src", "benchmarks")
    return f"{commit}{' (modified)' if dirty else ''}" if commit else "unknown"


def git_table(result: dict[str, Any]) -> str:
    lines = [
        f"Git source, repository of {result['files']} files (ms; p50 / p95 over the runs)",
        "",
        "| transport | no-op poll p50 | no-op poll p95 | full fetch p50 | full fetch p95 |",
        "|---|---|---|---|---|",
    ]
    for transport in ("git", "http"):
        poll, fetch = result[transport]["noop_poll"], result[transport]["full_fetch"]
        lines.append(
            f"| {transport} | {poll['p50_ms']} | {poll['p95_ms']} | {fetch['p50_ms']} | {fetch['p95_ms']} |"
        )
    return "\n".join(lines) + "\n"


def write_result(
    folder: Path,
    name: str,
    result: dict[str, Any],
    machine: dict[str, Any],
    quick: bool,
    wall_seconds: float,
) -> None:
    document = {
        "workload": name,
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "quick": quick,
        "wall_seconds": round(wall_seconds, 1),
        "machine": {**machine, "load_average": [round(x, 2) for x in os.getloadavg()]},
        "result": result,
    }
    (folder / f"{name}.json").write_text(json.dumps(document, indent=2) + "\n")
    text = markdown(document, folder)
    (folder / f"{name}.md").write_text(text)
    sys.stdout.write(f"\n{text}({name}: {wall_seconds:.0f} s)\n")
    sys.stdout.flush()


def markdown(document: dict[str, Any], folder: Path) -> str:
    """Where and when a result was measured, then its table."""
    machine = document["machine"]
    where = (
        f"{document['when']}, lockstep {machine.get('lockstep', '?')} at "
        f"{machine.get('revision', '?')}; {machine['cores']} cores, "
        f"{machine['memory_gib']} GiB, {machine.get('cpu', '')}; "
        f"Kubernetes {machine.get('kubernetes', '-')}; "
        f"load average at the end {machine.get('load_average', '-')}"
    )
    return f"{where}\n\n{TABLES[document['workload']](document['result'], folder)}"


def write_summary(folder: Path) -> None:
    """``summary.md``: the result of every workload in ``folder``, in the runner's order."""
    documents = {
        path.stem: json.loads(path.read_text())
        for path in sorted(folder.glob("*.json"))
        if path.stem in TABLES
    }
    if not documents:
        return
    parts = ["# lockstep benchmarks", ""]
    for name in TABLES:
        if name in documents:
            parts += [f"## {name}", "", markdown(documents[name], folder)]
    (folder / "summary.md").write_text("\n".join(parts))


async def run_on_ground(
    keys: list[str],
    folder: Path,
    machine: dict[str, Any],
    quick: bool,
    sizes: tuple[int, ...] = (),
    profile: bool = False,
) -> list[str]:
    """Run the cluster workloads ``keys`` on one fresh ground; the keys that failed."""
    failed = []
    profile_to = folder / "profiles" if profile else None
    async with Ground.started(settle=not quick, sizes=sizes, profile_to=profile_to) as ground:
        machine = {**machine, "kubernetes": ground.kubernetes_version}
        for key in keys:
            workload = CLUSTER_WORKLOADS[key]
            sys.stderr.write(f"running {key} ({workload.name})\n")
            started = time.monotonic()
            try:
                result = await workload.run(ground, quick)
            except Exception:
                traceback.print_exc()
                failed.append(key)
                continue
            write_result(folder, workload.name, result, machine, quick, time.monotonic() - started)
    return failed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="a small smoke run; results are not kept"
    )
    parser.add_argument(
        "--only",
        default=",".join(ORDER),
        help=f"comma-separated workloads to run, of {', '.join(ORDER)} (default: all)",
    )
    parser.add_argument(
        "--sizes",
        default="",
        help="comma-separated Ns for W1's shapes, W5 and W6 instead of their own (results go to custom/)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample each engine with py-spy; summaries go to profiles/ of the results folder",
    )
    args = parser.parse_args()
    try:
        sizes = tuple(int(size) for size in args.sizes.split(",") if size.strip())
    except ValueError:
        parser.error(f"--sizes takes whole numbers separated by commas, not {args.sizes!r}")
    if any(size < 1 for size in sizes):
        parser.error("--sizes takes numbers of Kustomizations, at least 1")
    selected = [
        ALIASES.get(key.strip(), key.strip()) for key in args.only.split(",") if key.strip()
    ]
    unknown = [key for key in selected if key not in ORDER]
    if unknown:
        parser.error(f"unknown workload {', '.join(unknown)}; choose among {', '.join(ORDER)}")
    folder = RESULTS / ("quick" if args.quick else "custom" if sizes else "")
    folder.mkdir(parents=True, exist_ok=True)
    machine = machine_facts()
    failed: list[str] = []
    if "git" in selected:
        started = time.monotonic()
        result = git_source.run(args.quick)
        write_result(
            folder, git_source.NAME, result, machine, args.quick, time.monotonic() - started
        )
    on_ground = [key for key in ORDER if key in selected and key in CLUSTER_WORKLOADS]
    if on_ground:
        started = time.monotonic()
        failed = asyncio.run(
            run_on_ground(on_ground, folder, machine, args.quick, sizes, args.profile)
        )
        sys.stdout.write(f"\n(all on the control plane: {time.monotonic() - started:.0f} s)\n")
    write_summary(folder)
    if failed:
        sys.stderr.write(f"failed: {', '.join(failed)} (no result written for them)\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
