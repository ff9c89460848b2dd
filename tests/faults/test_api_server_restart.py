"""Scenario C: the kube-apiserver stopped in the middle of a sync and started again a few
seconds later, etcd and the engine running throughout.

The engine must not exit; once the API server answers again it reconnects (its
informers, its drift watches, its clients) and converges without help: every object as
Git declares it, the inventory listing exactly the applied objects, no orphan.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest

from faults.checks import (
    Declared,
    applied,
    cluster_problems,
    commit_maps,
    own_namespace,
    owner_labels,
    source_artifact,
    storage_problems,
)
from faults.report import FaultReport, ScenarioResult, seconds
from ground.engine import start_engine, stop_engine
from ground.faults import STOP_GRACE_SECONDS, ApiServerOutage, wait_until_written
from ground.gitops import KUSTOMIZATION_API, Scenario
from lockstep.dev.cluster import LocalCluster
from lockstep.kube import KubeError, KubeObject

pytestmark = pytest.mark.faults

OBJECTS = 200
DOWN_SECONDS = 5.0


async def test_an_api_server_restart_during_a_sync_is_survived(
    crds_installed: Path,
    scenario: Scenario,
    local_cluster: LocalCluster,
    tmp_path: Path,
    rounds: int,
    fault_report: FaultReport,
) -> None:
    rng = random.Random()
    kube, namespace = scenario.kube, scenario.namespace
    result = ScenarioResult(
        f"C. kube-apiserver restarted during a sync (rounds: {rounds})",
        f"A Kustomization of {OBJECTS} ConfigMaps; each round pushes a commit that changes "
        "(the first: creates) all of them, stops the kube-apiserver (SIGTERM) once a "
        f"random number of them are written, and starts it again {DOWN_SECONDS:.0f} s "
        "later. A failure is an engine that exited, or a round after which the cluster "
        "did not converge to the commit without help.",
        ("restarts", "failures", "API server back → converged p50", "p95", "max"),
    )
    fault_report.scenarios.append(result)
    outage = ApiServerOutage(local_cluster)
    engine = start_engine(crds_installed, tmp_path / "engine", *own_namespace(scenario))
    labels = owner_labels("apps", namespace)
    declared: Declared = {}
    commits: set[str] = set()
    converged: list[float] = []
    stops: list[float] = []
    graceful = 0
    failures: list[str] = []
    restarts = 0
    try:
        await scenario.source(interval="1h")
        for restart in range(rounds):
            revision = str(restart + 1)
            declared = {
                f"map-{index:03d}": {"index": str(index), "revision": revision}
                for index in range(OBJECTS)
            }
            commits.add(commit_maps(scenario, declared, f"revision {revision}"))
            if restart == 0:
                await scenario.kustomization("apps", "./apps")
            else:
                await scenario.kubectl(
                    "annotate",
                    "--overwrite",
                    "gitrepository/repo",
                    f"reconcile.fluxcd.io/requestedAt={revision}",
                )

            def written(obj: KubeObject, revision: str = revision) -> bool:
                return bool((obj.get("data") or {}).get("revision") == revision)

            await wait_until_written(kube, labels, rng.randint(1, OBJECTS - 1), written=written)
            stopping = time.monotonic()
            graceful += await asyncio.to_thread(outage.stop)
            stops.append(time.monotonic() - stopping)
            restarts += 1
            await asyncio.sleep(DOWN_SECONDS)
            outage.start()
            back = time.monotonic()
            await outage.answering(kube, (KUSTOMIZATION_API, "Kustomization"))
            try:
                await applied(scenario, "apps", scenario.work.head(), within=180)
            except (AssertionError, KubeError) as error:
                failures.append(f"restart {restarts}: {str(error).splitlines()[0][:300]}")
                raise
            converged.append(time.monotonic() - back)
            if engine.process.poll() is not None:
                failures.append(f"restart {restarts}: the engine exited")
            failures += [
                f"restart {restarts}: {problem}"
                for problem in await cluster_problems(scenario, "apps", declared)
            ]
        failures += storage_problems(
            engine.storage_path, await source_artifact(kube, namespace), commits
        )
    finally:
        if engine.process.poll() is None:
            stop_engine(engine)
        else:
            failures.append(f"the engine exited with {engine.process.returncode}")
        result.rows.append((str(restarts), str(len(failures)), *seconds(converged)))
        result.notes = [
            f"The API server took {seconds(stops)[0]} (p50) from SIGTERM to exit; it exited "
            f"by itself {graceful} of {len(stops)} times, else was killed after "
            f"{STOP_GRACE_SECONDS:.0f} s.",
            *(f"- {failure}" for failure in failures),
        ]
    assert failures == []
