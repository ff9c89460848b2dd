"""W4, steady state: what lockstep costs when nothing changes.

- **No-op reconcile**: one Kustomization of 50 objects (ten copies of Flux's
  benchmark application, each with a ConfigMap), with W1's settings and a short
  interval. Once Ready and past two more reconciles, a window is measured; the
  engine's requests, the API server's, and the engine's CPU time are divided by the
  Kustomization reconciles in it. The engine watches that namespace only, so every
  reconcile counted is one of this Kustomization, and the GitRepository polls hourly,
  so none of its work falls in the window.
- **Idle fleet**: N Kustomizations of W1 (1000; 10 in a quick run) with a one-minute
  interval. Once all are Ready and one interval has passed, a window of
  ``IDLE_WINDOW`` seconds is measured and scaled to one hour: requests, CPU time,
  and reconciles (the engine keeps up when they reach N times 60).

Run by ``benchmarks/run.py``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from benchmarks.engine import RECONCILES, Engine
from benchmarks.fluxapp import APP, applier_rbac, git_repository, kustomization
from benchmarks.ground import KUSTOMIZATION_API, Ground
from benchmarks.measure import Meter, Usage
from benchmarks.observe import Watched, is_ready
from benchmarks.w1_time_to_production import create_apps, prepare_source, source_ready, timeout_for
from lockstep.dev.gitserver import WorkingCopy

NAME = "w4_steady_state"
NOOP_COPIES = 10
NOOP_INTERVAL, QUICK_NOOP_INTERVAL = 5, 2
NOOP_WINDOW, QUICK_NOOP_WINDOW = 60, 5
IDLE_SIZE, QUICK_IDLE_SIZE = 1000, 10
IDLE_INTERVAL, QUICK_IDLE_INTERVAL = 60, 3
IDLE_WINDOW, QUICK_IDLE_WINDOW = 180, 6
CONTROLLER = "kustomization"
CONFIG_MAP = """\
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings-{index}
data:
  colour: blue
"""


async def run(ground: Ground, quick: bool) -> dict[str, Any]:
    if quick:
        return {
            "noop": await noop_reconcile(ground, QUICK_NOOP_INTERVAL, QUICK_NOOP_WINDOW),
            "idle": await idle_fleet(
                ground, QUICK_IDLE_SIZE, QUICK_IDLE_INTERVAL, QUICK_IDLE_WINDOW
            ),
        }
    return {
        "noop": await noop_reconcile(ground, NOOP_INTERVAL, NOOP_WINDOW),
        "idle": await idle_fleet(ground, IDLE_SIZE, IDLE_INTERVAL, IDLE_WINDOW),
    }


def write_fifty(work: WorkingCopy) -> None:
    for index in range(NOOP_COPIES):
        application = APP.replace("${INDEX}", str(index)) + CONFIG_MAP.format(index=index)
        work.write(f"fifty/app-{index}.yaml", application)
    work.commit("fifty objects")
    work.push()


async def noop_reconcile(ground: Ground, interval: int, window: int) -> dict[str, Any]:
    async with ground.namespace("bench-w4-noop") as namespace:
        repo, work = ground.repository("w4")
        await asyncio.to_thread(write_fifty, work)
        for obj in [
            *applier_rbac(namespace),
            git_repository("fifty", namespace, repo.git_url),
            kustomization("fifty", namespace, "fifty", "./fifty", f"{interval}s"),
        ]:
            await ground.kube.apply(obj)
        async with ground.engine("w4-noop", "--watch-namespace", namespace) as engine:
            async with Watched(ground.kube, KUSTOMIZATION_API, "Kustomization", namespace) as ks:
                await ks.until(
                    lambda objs: is_ready(objs.get("fifty", {})),
                    within=90,
                    what="Kustomization fifty Ready",
                )
            await reconciles_after(engine, 2, within=4 * interval + 30)
            meter = await Meter.start(ground, engine)
            await asyncio.sleep(window)
            usage = await meter.stop()
    count = usage.reconciles.get(CONTROLLER, 0)
    if not count:
        raise RuntimeError(f"no Kustomization reconcile in {window}s at a {interval}s interval")
    return {
        "objects": NOOP_COPIES * 5,
        "interval_seconds": interval,
        "reconciles": count,
        "engine_requests_per_reconcile": round(usage.engine_requests_total / count, 2),
        "engine_requests_by_verb_per_reconcile": {
            verb: round(n / count, 2) for verb, n in usage.engine_requests.items()
        },
        "apiserver_requests_per_reconcile": round(usage.apiserver_requests_total / count, 2),
        "engine_cpu_ms_per_reconcile": round(1000 * usage.engine_cpu_seconds / count, 1),
        "usage": usage.as_dict(),
    }


async def idle_fleet(ground: Ground, size: int, interval: int, window: int) -> dict[str, Any]:
    async with ground.namespace("bench-w4-idle") as namespace:
        await prepare_source(ground, namespace)
        async with ground.engine(f"w4-idle-{size}") as engine:
            await source_ready(ground, namespace)
            async with Watched(ground.kube, KUSTOMIZATION_API, "Kustomization", namespace) as ks:
                await create_apps(ground, namespace, size, interval=f"{interval}s")
                await ks.until(
                    lambda objs: sum(1 for obj in objs.values() if is_ready(obj)) >= size,
                    within=timeout_for(size),
                    what=f"{size} Kustomizations Ready",
                )
            await asyncio.sleep(interval)
            meter = await Meter.start(ground, engine)
            await asyncio.sleep(window)
            usage = await meter.stop()
    return idle_figures(usage, size, interval)


def idle_figures(usage: Usage, size: int, interval: int) -> dict[str, Any]:
    per_hour = 3600 / usage.seconds
    return {
        "kustomizations": size,
        "interval_seconds": interval,
        "window_seconds": usage.seconds,
        "method": f"measured over {usage.seconds:.0f} s once all were Ready and one interval "
        "had passed, scaled to one hour",
        "reconciles_per_hour": round(usage.reconciles.get(CONTROLLER, 0) * per_hour),
        "expected_reconciles_per_hour": round(size * 3600 / interval),
        "engine_requests_per_hour": round(usage.engine_requests_total * per_hour),
        "apiserver_requests_per_hour": round(usage.apiserver_requests_total * per_hour),
        "engine_cpu_seconds_per_hour": round(usage.engine_cpu_seconds * per_hour, 1),
        "engine_cores_busy": round(usage.engine_cpu_seconds / usage.seconds, 3),
        "usage": usage.as_dict(),
    }


async def reconciles_after(engine: Engine, more: int, *, within: float) -> None:
    """Wait until the engine has finished ``more`` Kustomization reconciles from now."""

    def count() -> float:
        return engine.metrics().sum(RECONCILES, controller=CONTROLLER)

    target = await asyncio.to_thread(count) + more
    deadline = time.monotonic() + within
    while await asyncio.to_thread(count) < target:
        if time.monotonic() > deadline:
            raise RuntimeError(f"fewer than {more} Kustomization reconciles in {within:.0f}s")
        await asyncio.sleep(0.5)


def table(result: dict[str, Any]) -> str:
    noop, idle = result["noop"], result["idle"]
    verbs = ", ".join(
        f"{verb} {n}" for verb, n in noop["engine_requests_by_verb_per_reconcile"].items()
    )
    return (
        "W4 steady state: what reconciles cost when nothing changed.\n"
        "\n"
        f"No-op reconcile of one Kustomization of {noop['objects']} objects (interval "
        f"{noop['interval_seconds']} s, {noop['reconciles']} reconciles measured):\n"
        "\n"
        "| engine requests / reconcile | by verb | API server requests / reconcile (all clients) "
        "| engine CPU / reconcile |\n"
        "|---|---|---|---|\n"
        f"| {noop['engine_requests_per_reconcile']} | {verbs} "
        f"| {noop['apiserver_requests_per_reconcile']} | {noop['engine_cpu_ms_per_reconcile']} ms |\n"
        "\n"
        f"Idle fleet: {idle['kustomizations']} Kustomizations, interval {idle['interval_seconds']} s; "
        f"{idle['method']}:\n"
        "\n"
        "| reconciles / h (expected) | engine requests / h | API server requests / h "
        "| engine CPU / h | cores busy |\n"
        "|---|---|---|---|---|\n"
        f"| {idle['reconciles_per_hour']} ({idle['expected_reconciles_per_hour']}) "
        f"| {idle['engine_requests_per_hour']} | {idle['apiserver_requests_per_hour']} "
        f"| {idle['engine_cpu_seconds_per_hour']} s | {idle['engine_cores_busy']} |\n"
    )
