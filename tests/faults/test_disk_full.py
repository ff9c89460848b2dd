"""Scenario H: the artifact store's disk fills up. ``lockstep run`` keeps its artifacts
on a small disk (a tmpfs); a GitRepository and a Kustomization of ConfigMaps are
applied; then a commit adds a file of random bytes (which no compression shrinks) in a
folder the Kustomization does not read, and removes one ConfigMap. The file is so large
that either its tarball (the store's write) or already its checkout (libgit2's write)
does not fit.

While the disk is full: the GitRepository says so on one line (Ready False,
StorageOperationFailed, naming the store's folder and what to do), its last good
artifact is still served and matches its digest, no half-written artifact or work
folder is left in the store, and the Kustomization stays Ready on the last good
revision with nothing pruned. Once the disk is grown (``mount -o remount,size=``, as an
operator grows a volume), the new commit is fetched and applied without any request.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import urllib.request
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
from faults.report import FaultReport, ScenarioResult
from ground.engine import start_engine, stop_engine
from ground.fault_disks import MIB, small_disk
from ground.gitops import Scenario
from ground.wait import eventually
from lockstep.kube import KubeObject, ObjectRef

pytestmark = pytest.mark.faults

OBJECTS = 10
DISK = 32 * MIB
"""The store's disk at first: the small artifact fits, the filler's does not."""
GROWTH = 4
"""Once full, the disk is grown by this many times the filler: room for its checkout,
its tarball, and the Kustomization's download and extraction of it."""
FILLER_SHARES = {"the tarball": 0.6, "the checkout": 1.5}
"""The filler's size as a share of the space left, by what of the fetch does not fit:
the work folder of the checkout fits 0.6 of it but not the tarball besides."""
INTERVAL = "5s"
SOURCE_API = "source.toolkit.fluxcd.io/v1"
STORAGE_FULL = "StorageOperationFailed"


def _condition(obj: KubeObject, kind: str) -> dict[str, str]:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == kind), {})


def _served_digest(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return f"sha256:{hashlib.sha256(response.read()).hexdigest()}"


def _leftovers(storage: Path) -> list[str]:
    """Half-written artifacts and work folders in the store (``storage_problems`` less
    the checks of the current artifact)."""
    scratch = storage / ".scratch"
    return [str(path.relative_to(storage)) for path in storage.rglob(".incoming-*")] + [
        str(path.relative_to(storage))
        for path in (scratch.iterdir() if scratch.is_dir() else [])
        if path.name != "artifacts"
    ]


@pytest.mark.parametrize("not_fitting", sorted(FILLER_SHARES))
async def test_a_full_artifact_store_keeps_the_last_artifact_and_recovers(
    crds_installed: Path,
    scenario: Scenario,
    tmp_path: Path,
    fault_report: FaultReport,
    not_fitting: str,
) -> None:
    kube, namespace = scenario.kube, scenario.namespace
    result = ScenarioResult(
        f"H. Artifact store disk full: {not_fitting} of a commit does not fit",
        f"`lockstep run` with its artifact store on a tmpfs of {DISK // MIB} MiB; a "
        f"GitRepository (interval {INTERVAL}) and a Kustomization of {OBJECTS} ConfigMaps "
        "are applied; a commit then adds a file of random bytes, outside the "
        f"Kustomization's path, so large that {not_fitting} does not fit, and removes "
        f"one ConfigMap; later the disk is grown by {GROWTH} times that file with "
        "`mount -o remount,size=`. A failure is a full disk that is not told on the "
        "GitRepository, a last good artifact not served whole, a half-written file left, "
        "an object pruned while full, or a commit not applied once space returns.",
        (
            "filler",
            "push → disk full told",
            "disk grown → applied",
            "failures",
        ),
    )
    fault_report.scenarios.append(result)
    declared: Declared = {f"map-{index:02d}": {"index": str(index)} for index in range(OBJECTS)}
    commits = {commit_maps(scenario, declared, f"{OBJECTS} ConfigMaps")}
    failures: list[str] = []
    told = recovered = "-"
    filler = 0
    statuses = ""
    storage = tmp_path / "engine" / "artifacts"
    with small_disk(storage, DISK) as disk:
        engine = start_engine(crds_installed, tmp_path / "engine", *own_namespace(scenario))
        try:
            await scenario.source(interval=INTERVAL)
            await scenario.kustomization("apps", "./apps")
            await applied(scenario, "apps", scenario.work.head())
            good = await source_artifact(kube, namespace)

            filler = int(disk.free() * FILLER_SHARES[not_fitting])
            scenario.work.write("blobs/filler.bin", os.urandom(filler))
            removed = sorted(declared)[0]
            del declared[removed]
            commits.add(commit_maps(scenario, declared, f"a large file; remove {removed}"))
            start = time.monotonic()
            repository = await eventually(
                lambda: kube.get(ObjectRef(SOURCE_API, "GitRepository", "repo", namespace)),
                lambda obj: _condition(obj, "Ready").get("reason") == STORAGE_FULL,
                within=60,
                what="the GitRepository telling the disk is full",
            )
            told = f"{time.monotonic() - start:.1f} s"
            ready = _condition(repository, "Ready")
            failures += await _full_disk_problems(repository, good, storage)
            requested = f"disk-full-{time.time()}"
            await scenario.kubectl(
                "annotate",
                "--overwrite",
                "kustomization/apps",
                f"reconcile.fluxcd.io/requestedAt={requested}",
            )
            kustomization = await eventually(
                lambda: kube.get(scenario.ref("apps")),
                lambda obj: (obj.get("status") or {}).get("lastHandledReconcileAt") == requested,
                within=60,
                what="the Kustomization's handled request",
            )
            ks_ready = _condition(kustomization, "Ready")
            if ks_ready.get("status") != "True" or good["revision"] not in ks_ready["message"]:
                failures.append(f"the Kustomization left the last good revision: {ks_ready}")
            live = await kube.list("v1", "ConfigMap", namespace=namespace)
            if removed not in {obj["metadata"]["name"] for obj in live}:
                failures.append(f"ConfigMap {removed} was pruned while the disk was full")
            statuses = (
                f"GitRepository Ready={ready['status']} ({ready['reason']}): {ready['message']}"
            )

            disk.grow(DISK + GROWTH * filler)
            start = time.monotonic()
            await applied(scenario, "apps", scenario.work.head(), within=120)
            recovered = f"{time.monotonic() - start:.1f} s"
            failures += await cluster_problems(scenario, "apps", declared)
            failures += storage_problems(storage, await source_artifact(kube, namespace), commits)
        finally:
            stop_engine(engine)
            result.rows.append((f"{filler / MIB:.1f} MiB", told, recovered, str(len(failures))))
            result.notes = [
                *([f"While full: {statuses}."] if statuses else []),
                *(f"- {failure}" for failure in failures),
            ]
    assert failures == []


async def _full_disk_problems(repository: KubeObject, good: KubeObject, storage: Path) -> list[str]:
    """What is wrong with the GitRepository and the store while the disk is full."""
    problems = []
    ready = _condition(repository, "Ready")
    message = ready.get("message", "")
    if str(storage) not in message or "\n" in message or "space" not in message:
        problems.append(f"Ready does not say which disk is full on one line: {message!r}")
    if _condition(repository, "FetchFailed").get("status") != "True":
        problems.append("no FetchFailed condition while the disk is full")
    artifact = (repository.get("status") or {}).get("artifact") or {}
    if artifact != good:
        problems.append(f"the last good artifact was replaced: {artifact}")
    elif _served_digest(good["url"]) != good["digest"]:
        problems.append("the last good artifact is not served whole")
    leftovers = _leftovers(storage)
    deadline = time.monotonic() + 15
    while leftovers and time.monotonic() < deadline:  # a retry may be writing right now
        await asyncio.sleep(0.2)
        leftovers = _leftovers(storage)
    problems += [f"left in the full store: {path}" for path in leftovers]
    return problems
