"""Scenario B: the Git server stopped while the engine runs, a commit pushed and a
reconcile requested meanwhile, then the server started again on its address.

While it is down: the GitRepository says why it cannot fetch (Ready False, FetchFailed
with the server's address) and keeps its last good artifact, stored whole; the
Kustomization handles the request with that artifact, stays Ready on the last good
revision, and nothing is pruned. Once it is back: the new commit is fetched and applied
without any further request.
"""

from __future__ import annotations

import time
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
from ground.engine import start_engine, stop_engine
from ground.faults import GitDaemon
from ground.gitops import Scenario
from ground.wait import eventually
from lockstep.dev.gitserver import GitServer
from lockstep.kube import KubeError, KubeObject, ObjectRef

pytestmark = pytest.mark.faults

OBJECTS = 20
SOURCE_API = "source.toolkit.fluxcd.io/v1"
INTERVAL = "5s"
"""The GitRepository's interval: failed fetches are retried within it."""


def _condition(obj: KubeObject, kind: str) -> dict[str, str]:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == kind), {})


def _handled(obj: KubeObject, requested: str) -> bool:
    return (obj.get("status") or {}).get("lastHandledReconcileAt") == requested


async def test_a_git_server_outage_keeps_the_last_good_artifact_and_recovers(
    crds_installed: Path,
    scenario: Scenario,
    git_server: GitServer,
    tmp_path: Path,
    rounds: int,
    fault_report: FaultReport,
) -> None:
    kube, namespace = scenario.kube, scenario.namespace
    result = ScenarioResult(
        f"B. Git server stopped (rounds: {rounds})",
        f"A GitRepository (interval {INTERVAL}) and a Kustomization of {OBJECTS} ConfigMaps; "
        "the Git server is stopped, a commit removing an object is pushed and a reconcile "
        "of both is requested; once both have handled the request, the server is started "
        "again on its address. A failure is an outage during which the artifact was lost, "
        "an object was pruned, a condition did not say why, or after which the new commit "
        "was not applied without a further request.",
        (
            "outages",
            "failures",
            "request → failure told p50",
            "server back → applied p50",
            "p95",
            "max",
        ),
    )
    fault_report.scenarios.append(result)
    daemon = GitDaemon(git_server.repos_dir, tmp_path / "git-daemon.log")
    daemon.start()
    engine = start_engine(crds_installed, tmp_path / "engine", *own_namespace(scenario))
    declared: Declared = {f"map-{index:02d}": {"index": str(index)} for index in range(OBJECTS)}
    commits = {commit_maps(scenario, declared, f"{OBJECTS} ConfigMaps")}
    told: list[float] = []
    recovered: list[float] = []
    failures: list[str] = []
    outages = 0
    statuses = ""
    try:
        await kube.apply(
            {
                "apiVersion": SOURCE_API,
                "kind": "GitRepository",
                "metadata": {"name": "repo", "namespace": namespace},
                "spec": {
                    "interval": INTERVAL,
                    "url": daemon.url(scenario.repo.name),
                    "ref": {"branch": "main"},
                },
            }
        )
        await scenario.kustomization("apps", "./apps")
        await applied(scenario, "apps", scenario.work.head())
        for outage in range(rounds):
            outages = outage + 1
            try:
                seen, back, said = await _outage(scenario, daemon, declared, commits, outage)
            except (AssertionError, KubeError) as error:
                failures.append(f"outage {outages}: {str(error).splitlines()[0][:300]}")
                raise
            told.append(seen)
            recovered.append(back)
            statuses = statuses or said
        problems = await cluster_problems(scenario, "apps", declared)
        problems += storage_problems(
            engine.storage_path, await source_artifact(kube, namespace), commits
        )
        failures += problems
    finally:
        stop_engine(engine)
        daemon.stop()
        result.rows.append(
            (
                str(outages),
                str(len(failures)),
                seconds(told)[0],
                *seconds(recovered),
            )
        )
        result.notes = [
            *([f"While down, as the first outage left them: {statuses}."] if statuses else []),
            *(f"- {failure}" for failure in failures),
        ]
    assert failures == []


async def _outage(
    scenario: Scenario, daemon: GitDaemon, declared: Declared, commits: set[str], outage: int
) -> tuple[float, float, str]:
    """One outage; the seconds from the request until both objects told what happened,
    from the server's return until the new commit was applied, and what they told."""
    kube, namespace = scenario.kube, scenario.namespace
    good = await source_artifact(kube, namespace)
    daemon.stop()
    removed = sorted(declared)[0]
    del declared[removed]
    commits.add(commit_maps(scenario, declared, f"outage {outage + 1}: remove {removed}"))
    requested = f"outage-{outage + 1}-{time.time()}"
    start = time.monotonic()
    for kind in ("gitrepository/repo", "kustomization/apps"):
        await scenario.kubectl(
            "annotate", "--overwrite", kind, f"reconcile.fluxcd.io/requestedAt={requested}"
        )
    repository = await eventually(
        lambda: kube.get(ObjectRef(SOURCE_API, "GitRepository", "repo", namespace)),
        lambda obj: _handled(obj, requested) and _condition(obj, "Ready").get("status") == "False",
        within=60,
        what="the GitRepository's failed fetch",
    )
    kustomization = await eventually(
        lambda: kube.get(scenario.ref("apps")),
        lambda obj: _handled(obj, requested),
        within=60,
        what="the Kustomization's handled request",
    )
    seen = time.monotonic() - start
    ready, fetch = _condition(repository, "Ready"), _condition(repository, "FetchFailed")
    address = f"127.0.0.1:{daemon.port}"
    assert address in ready.get("message", ""), f"Ready does not name the server: {ready}"
    assert fetch.get("status") == "True", f"no FetchFailed condition: {fetch}"
    assert repository["status"]["artifact"] == good, "the last good artifact was replaced"
    ks_ready = _condition(kustomization, "Ready")
    assert ks_ready.get("status") == "True", f"the Kustomization is not Ready: {ks_ready}"
    assert good["revision"] in ks_ready.get("message", ""), ks_ready
    live = await kube.list("v1", "ConfigMap", namespace=namespace)
    assert {obj["metadata"]["name"] for obj in live} >= {*declared, removed}, "pruned while down"
    daemon.start()
    start = time.monotonic()
    await applied(scenario, "apps", scenario.work.head(), within=60)
    said = "; ".join(
        f"{kind} Ready={condition['status']} ({condition['reason']}): {condition['message']}"
        for kind, condition in (("GitRepository", ready), ("Kustomization", ks_ready))
    )
    return seen, time.monotonic() - start, said
