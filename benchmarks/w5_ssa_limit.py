"""W5, the limit: W1's objects applied by a minimal server-side-apply loop, no engine.

For each N of W1, the N copies of Flux's benchmark application are rendered in
Python (:func:`benchmarks.fluxapp.app_objects`) and applied with lockstep's
Kubernetes client, as the engine's client is set up: copies in parallel as the
engine runs Kustomizations (``CONCURRENT``), each copy's four objects one after the
other, one server-side apply each — no dry-run, no status, no health, no
impersonation. That is about the most a client on this machine can get from the
API server; W1's throughput is reported as a percentage of it.

Run by ``benchmarks/run.py`` after W1, in the same ground.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from benchmarks import w1_time_to_production
from benchmarks.fluxapp import OBJECTS_PER_APP, app_objects
from benchmarks.ground import CONCURRENT, Ground, gather_limited
from lockstep.kube import KubeClient, KubeObject

NAME = "w5_ssa_limit"
FIELD_MANAGER = "lockstep-bench-ssa"


async def run(ground: Ground, quick: bool) -> dict[str, Any]:
    sizes = ground.sizes or (
        w1_time_to_production.QUICK_SIZES if quick else w1_time_to_production.SIZES
    )
    return {"concurrent": CONCURRENT, "runs": [await apply_loop(ground, size) for size in sizes]}


async def apply_loop(ground: Ground, size: int) -> dict[str, Any]:
    async with (
        ground.namespace("bench-w5") as namespace,
        KubeClient.from_kubeconfig(ground.cluster.kubeconfig, field_manager=FIELD_MANAGER) as kube,
    ):
        apps = [app_objects(index, namespace) for index in range(size)]
        before = await ground.apiserver_metrics()

        async def apply_app(objects: list[KubeObject]) -> None:
            for obj in objects:
                await kube.apply(obj)

        started = time.monotonic()
        await gather_limited((apply_app(objects) for objects in apps), limit=CONCURRENT)
        seconds = time.monotonic() - started
        served = (await ground.apiserver_metrics()).since(before)
    return {
        "kustomizations": size,
        "objects": size * OBJECTS_PER_APP,
        "seconds": round(seconds, 2),
        "objects_per_second": round(size * OBJECTS_PER_APP / seconds, 1),
        "kustomizations_per_second": round(size / seconds, 2),
        "client_requests": kube.requests.total(),
        "apiserver_requests_total": round(served.sum("apiserver_request_total")),
    }


def table(result: dict[str, Any], folder: Path) -> str:
    """W5's figures, and W1's throughput as a percentage of them when W1's result is there."""
    w1_path = folder / f"{w1_time_to_production.NAME}.json"
    w1_runs = json.loads(w1_path.read_text())["result"]["runs"] if w1_path.is_file() else []
    w1_by_size = {run["kustomizations"]: run for run in w1_runs}
    lines = [
        f"W5 the limit: W1's objects by a direct server-side-apply loop, {result['concurrent']} "
        "applications in parallel, no engine; lockstep's W1 throughput as a percentage of it.",
        "",
        "| N | objects | direct SSA loop | objects/s | client requests | "
        "lockstep W1 all Ready | lockstep / direct |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in result["runs"]:
        w1 = w1_by_size.get(run["kustomizations"])
        w1_cells = (
            f"{w1['seconds_to_all_ready']} s | "
            f"{100 * run['seconds'] / w1['seconds_to_all_ready']:.0f} %"
            if w1
            else "- | -"
        )
        lines.append(
            f"| {run['kustomizations']} | {run['objects']} | {run['seconds']} s"
            f" | {run['objects_per_second']} | {run['client_requests']} | {w1_cells} |"
        )
    return "\n".join(lines) + "\n"
