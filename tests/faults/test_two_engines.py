"""Scenario G: a second ``lockstep run`` without ``--leader-elect`` on the cluster of a
running one, while a Kustomization of 50 ConfigMaps is synced through three commits.

Left to run side by side, two engines apply the same objects without losing or
pruning any, but each stores every source's artifact again under its own URL at each
interval and rewrites the status: the GitRepository's artifact URL alternates between
the two stores for as long as both run. So every engine holds the Lease
``lockstep-leader-election`` while it works, and one without ``--leader-elect``
refuses to start while another renews it. Asserted here: the second engine exits with
a one-line error naming the Lease and the engine holding it; the first syncs every
commit, its artifact URL never moving; once it stops (releasing the Lease), the
second starts at once and takes over, the URL moving to its store once.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from faults.checks import (
    Declared,
    applied,
    cluster_problems,
    commit_maps,
    own_namespace,
    source_artifact,
    storage_problems,
)
from faults.report import FaultReport, ScenarioResult, seconds
from ground.engine import lockstep_command, start_engine, stop_engine
from ground.gitops import Scenario
from lockstep.dev.loopback import free_port
from lockstep.kube import KubeClient, KubeError

pytestmark = pytest.mark.faults

OBJECTS = 50
COMMITS = 3
SOURCE_API = "source.toolkit.fluxcd.io/v1"
INTERVAL = "2s"
"""The GitRepository's interval: short, so that two engines would rewrite it often."""
REFUSED_WITHIN_SECONDS = 30


def _second_engine(kubeconfig: Path, folder: Path) -> tuple[int | None, float, str]:
    """Start ``lockstep run`` on ports and a folder of its own; its exit code (None when
    it was still running after :data:`REFUSED_WITHIN_SECONDS`, then stopped), the
    seconds until it exited, and the error it wrote (else its last line)."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "lockstep.log"
    addresses = [f"127.0.0.1:{free_port()}" for _ in range(3)]
    started = time.monotonic()
    with log.open("wb") as output:
        process = subprocess.Popen(
            lockstep_command(
                kubeconfig,
                "run",
                "--storage-path",
                str(folder / "artifacts"),
                "--storage-addr",
                addresses[0],
                "--metrics-addr",
                addresses[1],
                "--receiver-addr",
                addresses[2],
            ),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        code: int | None = process.wait(timeout=REFUSED_WITHIN_SECONDS)
    except subprocess.TimeoutExpired:
        process.terminate()
        process.wait(timeout=60)
        code = None
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    return (
        code,
        time.monotonic() - started,
        next(
            (line for line in reversed(lines) if line.startswith("error")),
            lines[-1] if lines else "",
        ),
    )


@contextlib.asynccontextmanager
async def artifact_urls(kube: KubeClient, namespace: str) -> AsyncIterator[list[str]]:
    """The artifact URLs the GitRepository ``repo`` names, each time it changes, while
    the block runs."""
    seen: list[str] = []

    async def follow() -> None:
        version = ""
        while True:
            try:
                if not version:
                    items, version = await kube.list_with_version(
                        SOURCE_API, "GitRepository", namespace=namespace
                    )
                    for item in items:
                        _note(item, seen)
                events = kube.watch(
                    SOURCE_API, "GitRepository", resource_version=version, namespace=namespace
                )
                async for event in events:
                    version = event.object["metadata"].get("resourceVersion", version)
                    if event.type != "BOOKMARK":
                        _note(event.object, seen)
            except KubeError:
                version = ""
                await asyncio.sleep(0.5)

    task = asyncio.create_task(follow())
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _note(obj: dict[str, object], seen: list[str]) -> None:
    status = obj.get("status") or {}
    assert isinstance(status, dict)
    url = str((status.get("artifact") or {}).get("url") or "")
    if url and (not seen or seen[-1] != url):
        seen.append(url)


def _stores(urls: list[str]) -> list[str]:
    """The artifact servers the URLs name, in order, each change of server once."""
    servers: list[str] = []
    for url in urls:
        server = url.split("/", 3)[2]
        if not servers or servers[-1] != server:
            servers.append(server)
    return servers


async def test_a_second_engine_without_leader_election_refuses_to_start(
    crds_installed: Path,
    scenario: Scenario,
    tmp_path: Path,
    rounds: int,
    fault_report: FaultReport,
) -> None:
    kube, namespace = scenario.kube, scenario.namespace
    result = ScenarioResult(
        f"G. A second engine without leader election (rounds: {rounds})",
        f"`lockstep run` A syncs a Kustomization of {OBJECTS} ConfigMaps (GitRepository "
        f"interval {INTERVAL}); in each round a second `lockstep run` B, without "
        "--leader-elect, on ports and an artifact folder of its own, is started beside "
        f"it; then {COMMITS} commits. Last, A is stopped and B started again, and one more "
        "commit pushed. A failure is a B that started beside A, an error that is not one "
        "line naming the Lease and its holder, a commit not applied, an artifact URL that "
        "moved between stores while A ran, or a B that did not take over once A stopped.",
        (
            "second engines started",
            "failures",
            "start → refused p50",
            "commit → applied p50",
            "A stopped → B applied",
        ),
    )
    fault_report.scenarios.append(result)
    first = start_engine(crds_installed, tmp_path / "a", *own_namespace(scenario))
    second = None
    refused: list[float] = []
    synced: list[float] = []
    failures: list[str] = []
    said = ""
    takeover = "-"
    attempts = 0
    declared: Declared = {f"map-{index:02d}": {"index": str(index)} for index in range(OBJECTS)}
    commits = {commit_maps(scenario, declared, f"{OBJECTS} ConfigMaps")}
    try:
        async with artifact_urls(kube, namespace) as urls:
            await scenario.source(interval=INTERVAL)
            await scenario.kustomization("apps", "./apps")
            await applied(scenario, "apps", scenario.work.head())
            for attempt in range(rounds):
                attempts = attempt + 1
                code, took, line = await asyncio.to_thread(
                    _second_engine, crds_installed, tmp_path / f"b-{attempt}"
                )
                said = said or line
                if code in (None, 0):
                    failures.append(f"second engine {attempts} started beside the first")
                    continue
                refused.append(took)
                holder = str(first.storage_path.resolve())
                if "lockstep-leader-election" not in line or holder not in line:
                    failures.append(f"the refusal does not name the Lease and {holder}: {line}")
            for number in range(COMMITS):
                removed = sorted(declared)[0]
                del declared[removed]
                declared = {
                    name: {**data, "commit": str(number)} for name, data in declared.items()
                }
                commits.add(commit_maps(scenario, declared, f"commit {number}: remove {removed}"))
                start = time.monotonic()
                try:
                    await applied(scenario, "apps", scenario.work.head(), within=60)
                except (AssertionError, KubeError) as error:
                    failures.append(f"commit {number}: {str(error).splitlines()[0][:300]}")
                    raise
                synced.append(time.monotonic() - start)
            failures += await cluster_problems(scenario, "apps", declared)
            stores = _stores(urls)
            if stores != [first.storage_addr]:
                failures.append(f"the artifact URL moved between stores: {' → '.join(stores)}")
            stop_engine(first)
            stopped = time.monotonic()
            second = start_engine(crds_installed, tmp_path / "b-takeover", *own_namespace(scenario))
            removed = sorted(declared)[0]
            del declared[removed]
            commits.add(commit_maps(scenario, declared, f"after the takeover: remove {removed}"))
            await applied(scenario, "apps", scenario.work.head(), within=60)
            takeover = f"{time.monotonic() - stopped:.1f} s"
            failures += await cluster_problems(scenario, "apps", declared)
            stores = _stores(urls)
            if stores != [first.storage_addr, second.storage_addr]:
                failures.append(f"the artifact URL after the takeover: {' → '.join(stores)}")
            artifact = await source_artifact(kube, namespace)
            failures += storage_problems(second.storage_path, artifact, commits)
    finally:
        for engine in (first, second):
            if engine is not None and engine.process.poll() is None:
                stop_engine(engine)
        result.rows.append(
            (
                f"{attempts - len(refused)} of {attempts}",
                str(len(failures)),
                seconds(refused)[0],
                seconds(synced)[0],
                takeover,
            )
        )
        result.notes = [
            *([f"The second engine said: `{said}`"] if said else []),
            *(f"- {failure}" for failure in failures),
        ]
    assert failures == []
