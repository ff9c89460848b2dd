"""Scenario E: etcd paused (SIGSTOP) for 10 s in the middle of a sync of 200 ConfigMaps,
then resumed (SIGCONT), the API server and the engine running throughout.

The engine must not exit; once etcd answers again it converges to the commit without
help. Two things are counted besides: writes, by a watch of the ConfigMaps from the
test (an object changed more than once for one commit was written twice with different
content: a server-side apply that changes nothing is no write, as its resourceVersion
stays); and the engine's requests by verb (``lockstep_kube_requests_total``), in a
round without a fault first and then in each paused round, so that a relist storm
(many more LISTs) or a storm of retried applies shows against the clean sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
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
from ground.engine import Engine, start_engine, stop_engine
from ground.faults import wait_until_written
from ground.gitops import Scenario
from lockstep.dev.cluster import LocalCluster
from lockstep.kube import KubeClient, KubeError, Labels

pytestmark = pytest.mark.faults

OBJECTS = 200
PAUSED_SECONDS = 10.0
VERBS = ("APPLY", "LIST", "WATCH")
"""Requests always shown, even when none was sent; any other verb is shown when sent."""


@contextlib.contextmanager
def etcd_paused(cluster: LocalCluster) -> Iterator[None]:
    """SIGSTOP the cluster's etcd for the block; SIGCONT whatever happens in it."""
    pid = cluster.component_pids()["etcd"]
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


class WriteCounter:
    """Counts the changes of the ConfigMaps carrying ``labels`` by name, watched from a
    resourceVersion on, reconnecting where a stream ends, until stopped."""

    def __init__(self, kube: KubeClient, labels: Labels) -> None:
        self.kube, self.labels = kube, labels
        self.changes: Counter[str] = Counter()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        _, version = await self.kube.list_with_version("v1", "ConfigMap", labels=self.labels)
        self._task = asyncio.create_task(self._follow(version))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def problems(self, expected: int) -> list[str]:
        """Objects changed twice, or fewer changed objects seen than ``expected``."""
        twice = sorted(name for name, count in self.changes.items() if count > 1)
        found = [f"{len(twice)} objects written twice: {twice[:5]}"] if twice else []
        if len(self.changes) < expected:
            found.append(f"the watch saw {len(self.changes)} of {expected} objects change")
        return found

    async def _follow(self, version: str) -> None:
        while True:
            try:
                events = self.kube.watch(
                    "v1", "ConfigMap", resource_version=version, labels=self.labels
                )
                async for event in events:
                    metadata = event.object["metadata"]
                    version = metadata.get("resourceVersion", version)
                    if event.type in ("ADDED", "MODIFIED"):
                        self.changes[metadata["name"]] += 1
            except KubeError:
                await asyncio.sleep(0.5)


def _requests(engine: Engine) -> Counter[str]:
    """The engine's requests to the API server so far by verb, dry-runs apart."""
    with urllib.request.urlopen(f"http://{engine.metrics_addr}/metrics", timeout=5) as response:
        text = response.read().decode()
    counts: Counter[str] = Counter()
    for labels, value in re.findall(r"^lockstep_kube_requests_total\{(.*)\} (\S+)$", text, re.M):
        sample = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if sample.get("dry_run") == "false":
            counts[sample["verb"]] += int(float(value))
    return counts


def _counts(counts: Counter[str]) -> str:
    return ", ".join(f"{counts[verb]} {verb}" for verb in sorted(set(VERBS) | set(counts)))


async def _sync(scenario: Scenario, declared: Declared, revision: str) -> str:
    """Commit ``declared`` and ask the GitRepository to fetch it; the commit id."""
    commit = commit_maps(scenario, declared, f"revision {revision}")
    await scenario.kubectl(
        "annotate",
        "--overwrite",
        "gitrepository/repo",
        f"reconcile.fluxcd.io/requestedAt={revision}",
    )
    return commit


def _revision(revision: str) -> Declared:
    return {
        f"map-{index:03d}": {"index": str(index), "revision": revision} for index in range(OBJECTS)
    }


async def test_etcd_paused_during_a_sync_is_survived(
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
        f"E. etcd paused {PAUSED_SECONDS:.0f} s during a sync (rounds: {rounds})",
        f"A Kustomization of {OBJECTS} ConfigMaps; after one round without a fault, each "
        "round pushes a commit that changes all of them, stops etcd (SIGSTOP) once a "
        f"random number of them are written, and resumes it (SIGCONT) {PAUSED_SECONDS:.0f} s "
        "later. A failure is an engine that exited, a round after which the cluster did "
        "not converge to the commit without help, an object written twice for one "
        "commit (changed twice, as a watch of the ConfigMaps sees it), or a relist storm "
        "(more LISTs than the engine sent from its start to its first sync, beyond those "
        "of the sync without a fault).",
        ("pauses", "failures", "etcd resumed → converged p50", "p95", "max"),
    )
    fault_report.scenarios.append(result)
    engine = start_engine(crds_installed, tmp_path / "engine", *own_namespace(scenario))
    labels = owner_labels("apps", namespace)
    commits: set[str] = set()
    converged: list[float] = []
    failures: list[str] = []
    requests: list[str] = []
    relists = 0
    pauses = 0
    try:
        declared = _revision("0")
        commits.add(commit_maps(scenario, declared, "revision 0"))
        await scenario.source(interval="1h")
        await scenario.kustomization("apps", "./apps")
        await applied(scenario, "apps", scenario.work.head())
        before = _requests(engine)
        relists = before["LIST"]
        declared = _revision("clean")
        commits.add(await _sync(scenario, declared, "clean"))
        await applied(scenario, "apps", scenario.work.head())
        clean = _requests(engine) - before
        requests.append(f"without a fault: {_counts(clean)}")
        for pause in range(rounds):
            revision = str(pause + 1)
            declared = _revision(revision)
            writes = WriteCounter(kube, labels)
            await writes.start()
            before = _requests(engine)
            commits.add(await _sync(scenario, declared, revision))
            written = await wait_until_written(
                kube,
                labels,
                rng.randint(1, OBJECTS - 1),
                written=lambda obj, revision=revision: (
                    (obj.get("data") or {}).get("revision") == revision
                ),
            )
            pauses += 1
            with etcd_paused(local_cluster):
                await asyncio.sleep(PAUSED_SECONDS)
            resumed = time.monotonic()
            try:
                await applied(scenario, "apps", scenario.work.head(), within=180)
            except (AssertionError, KubeError) as error:
                failures.append(f"pause {pauses}: {str(error).splitlines()[0][:300]}")
                raise
            converged.append(time.monotonic() - resumed)
            await asyncio.sleep(1)
            await writes.stop()
            spent = _requests(engine) - before
            requests.append(f"paused after {written} written: {_counts(spent)}")
            if spent["LIST"] > clean["LIST"] + relists:
                failures.append(
                    f"pause {pauses}: a relist storm: {spent['LIST']} LISTs, more than the "
                    f"{relists} the engine sent from its start to its first sync"
                )
            if engine.process.poll() is not None:
                failures.append(f"pause {pauses}: the engine exited")
            failures += [f"pause {pauses}: {problem}" for problem in writes.problems(OBJECTS)]
            failures += [
                f"pause {pauses}: {problem}"
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
        result.rows.append((str(pauses), str(len(failures)), *seconds(converged)))
        result.notes = [
            "The engine's requests to the API server in each sync of "
            f"{OBJECTS} changed objects (dry-runs apart): {'; '.join(requests)}. LIST and "
            "WATCH are those of its informers and drift watches, sent again when a watch "
            f"breaks ({relists} LISTs from its start to its first sync); PUT and GET include "
            "the renewals of its Lease.",
            *(f"- {failure}" for failure in failures),
        ]
    assert failures == []
