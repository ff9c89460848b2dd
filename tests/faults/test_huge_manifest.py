"""Scenario J: a commit makes one manifest file of 50 MB. One GitRepository feeds two
Kustomizations of one ``lockstep run``: ``huge`` (a folder of one small ConfigMap at
first) and ``apps`` (ConfigMaps). A commit then replaces the small file of ``huge`` with
50 MB of ConfigMaps in one file, as a generator might write them.

Expected: the file is refused by the per-file bound (16 MiB,
:data:`lockstep.render.bounds.MAX_FILE_BYTES`) with one line naming the Kustomization,
the file and the bound, before anything parses it; ``huge`` keeps its objects; the
engine's peak resident memory grows by at most :data:`GROWTH_BOUND` times the file;
and a commit to ``apps`` pushed meanwhile is applied.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from faults.checks import applied, own_namespace
from faults.report import FaultReport, ScenarioResult
from ground.engine import start_engine, stop_engine
from ground.gitops import Scenario, config_map
from ground.wait import eventually
from lockstep.kube import KubeObject, ObjectRef
from lockstep.render.bounds import MAX_FILE_BYTES

pytestmark = pytest.mark.faults

MIB = 1024 * 1024
MANIFEST_BYTES = 50 * 1000 * 1000
VALUE_BYTES = 10_000
"""Each ConfigMap of the large file holds one value of this size."""
FILE = "huge/manifests.yaml"
GROWTH_BOUND = 2.5
"""The engine's peak resident memory may grow by this many times the file while it
refuses it. libgit2 holds a blob whole when it fetches and checks out a commit (the
blob and its pack: about 1.6 times the file, measured alone), once per fetch since the
fetched repository is released after its checkout (before, each fetch left its pack
mapped until Python's garbage collector ran: 3.9 times the file after two fetches);
packing, serving, downloading and extracting the artifact stream it, and the bound
refuses it by its size before any parser reads it. Parsed, its 5,000 ConfigMaps would
take several times the file again."""


def _condition(obj: KubeObject, kind: str) -> dict[str, str]:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == kind), {})


def _peak_rss_mib(pid: int) -> float:
    """The peak resident memory of process ``pid`` so far (``VmHWM``), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for process {pid}")


def huge_manifest(size: int) -> str:
    """ConfigMaps of one value each, ``size`` bytes or a little more in all."""
    documents = []
    written = index = 0
    while written < size:
        value = os.urandom(VALUE_BYTES // 2).hex()
        document = config_map(f"generated-{index:05d}", value=value)
        documents.append(document)
        written += len(document) + 4
        index += 1
    return "---\n".join(documents)


async def test_a_50_mb_manifest_is_refused_and_siblings_keep_working(
    crds_installed: Path, scenario: Scenario, tmp_path: Path, fault_report: FaultReport
) -> None:
    kube, namespace = scenario.kube, scenario.namespace
    result = ScenarioResult(
        "J. A single 50 MB manifest",
        "One GitRepository, two Kustomizations in one `lockstep run`: `huge` (one small "
        "ConfigMap) and `apps` (ConfigMaps). A commit replaces the file of `huge` with "
        f"{MANIFEST_BYTES // 1_000_000} MB of ConfigMaps in one file; then a commit "
        "changes `apps`. A failure is a refusal that does not name the Kustomization, the "
        "file and the limit on one line, an object of `huge` pruned, `apps` not applied, "
        f"or the engine's peak resident memory growing by more than {GROWTH_BOUND} times the "
        "file (libgit2 holds a blob whole while it checks a commit out).",
        (
            "manifest",
            "push → refused",
            "sibling push → applied",
            "engine peak before",
            "peak after",
            "failures",
        ),
    )
    fault_report.scenarios.append(result)
    scenario.commit(
        {
            "apps/settings.yaml": config_map("settings", version="1"),
            "huge/manifests.yaml": config_map("generated-small", value="small"),
        },
        "two apps",
    )
    failures: list[str] = []
    refused = sibling = before = after = "-"
    refusal = ""
    size = 0
    engine = start_engine(crds_installed, tmp_path / "engine", *own_namespace(scenario))
    try:
        await scenario.source(interval="1h")
        await scenario.kustomization("huge", "./huge", retryInterval="5s")
        await scenario.kustomization("apps", "./apps")
        await applied(scenario, "huge", scenario.work.head())
        await applied(scenario, "apps", scenario.work.head())
        baseline = _peak_rss_mib(engine.process.pid)
        before = f"{baseline:.0f} MiB"

        scenario.commit({FILE: huge_manifest(MANIFEST_BYTES)}, "50 MB of generated ConfigMaps")
        size = (scenario.work.path / FILE).stat().st_size
        start = time.monotonic()
        await scenario.kubectl(
            "annotate",
            "--overwrite",
            "gitrepository/repo",
            f"reconcile.fluxcd.io/requestedAt={start}",
        )
        huge = await eventually(
            lambda: kube.get(scenario.ref("huge")),
            lambda obj: (
                scenario.work.head() in str((obj.get("status") or {}).get("lastAttemptedRevision"))
                and _condition(obj, "Ready").get("status") == "False"
            ),
            within=120,
            what="the Kustomization huge refusing the file",
        )
        refused = f"{time.monotonic() - start:.1f} s"
        refusal = _condition(huge, "Ready").get("message", "")
        expected = f"Kustomization {namespace}/huge: {FILE}: the file has "
        limit = f"{MAX_FILE_BYTES / MIB:.1f} MiB"
        if not refusal.startswith(expected) or limit not in refusal or "\n" in refusal:
            failures.append(f"the refusal does not name the file and the limit: {refusal!r}")

        scenario.commit({"apps/settings.yaml": config_map("settings", version="2")}, "apps v2")
        start = time.monotonic()
        await scenario.kubectl(
            "annotate",
            "--overwrite",
            "gitrepository/repo",
            f"reconcile.fluxcd.io/requestedAt={start}",
        )
        await applied(scenario, "apps", scenario.work.head(), within=120)
        sibling = f"{time.monotonic() - start:.1f} s"
        live = await kube.get(ObjectRef("v1", "ConfigMap", "settings", namespace))
        if live.get("data") != {"version": "2"}:
            failures.append(f"apps did not apply its commit: {live.get('data')}")
        if await scenario.get(ObjectRef("v1", "ConfigMap", "generated-small", namespace)) is None:
            failures.append("the object of huge was pruned")
        peak = _peak_rss_mib(engine.process.pid)
        after = f"{peak:.0f} MiB"
        if peak - baseline > GROWTH_BOUND * size / MIB:
            failures.append(
                f"the engine's peak grew by {peak - baseline:.0f} MiB, more than "
                f"{GROWTH_BOUND} times the file"
            )
        if engine.process.poll() is not None:
            failures.append(f"the engine exited with {engine.process.returncode}")
    finally:
        stop_engine(engine)
        result.rows.append(
            (
                f"{size / MIB:.1f} MiB" if size else "-",
                refused,
                sibling,
                before,
                after,
                str(len(failures)),
            )
        )
        result.notes = [
            *([f"The refusal: {refusal}"] if refusal else []),
            *(f"- {failure}" for failure in failures),
        ]
    assert failures == []
