"""Scenario A: ``kill -9`` of ``lockstep run`` at random points of the first apply of a
Kustomization of 200 objects, K times in a row, restarting it each time; then, the
engine down, a commit that removes one of the objects the first killed engine created,
and the engine started again.

After every kill, every object carrying the Kustomization's labels must be listed in its
inventory (else nothing would ever prune it). Once the engine has applied the commit:
every object as Git declares it (the removed one pruned), the inventory listing exactly
the applied objects, no orphan, and no half-written or duplicate artifact.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from faults.checks import (
    applied,
    cluster_problems,
    commit_maps,
    entry_id,
    own_namespace,
    owned,
    owner_labels,
    source_artifact,
    storage_problems,
    unlisted,
)
from faults.report import FaultReport, ScenarioResult
from ground.engine import start_engine, stop_engine
from ground.faults import kill_engine, restart_engine, wait_until_written
from ground.gitops import Scenario
from ground.wait import eventually
from lockstep.kube import KubeError

pytestmark = pytest.mark.faults

OBJECTS = 200
SUSPEND = '{"spec": {"suspend": true}}'
RESUME = '{"spec": {"suspend": false}}'


async def test_kills_during_the_first_apply_leave_no_orphan(
    crds_installed: Path, scenario: Scenario, tmp_path: Path, kills: int, fault_report: FaultReport
) -> None:
    seed = random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    kube, namespace = scenario.kube, scenario.namespace
    declared = {f"map-{index:03d}": {"index": str(index)} for index in range(OBJECTS)}
    commits = {commit_maps(scenario, declared, f"{OBJECTS} ConfigMaps")}
    result = ScenarioResult(
        f"A. kill -9 during the first apply (K = {kills})",
        f"A Kustomization of {OBJECTS} ConfigMaps (prune on); `lockstep run` killed with "
        "SIGKILL as soon as a random number of further objects exist, then started again, "
        f"{kills} times in a row; after the last kill, a commit removes one of the objects "
        "the first killed engine created and the engine is started again, the "
        "Kustomization suspended until the new commit is fetched. A failure is a "
        "kill after which an object carrying the Kustomization's labels is missing from "
        "its inventory; a problem is one found once converged (an orphan, say).",
        (
            "kills",
            "kills leaving objects unlisted",
            "last kill → converged",
            "problems once converged",
        ),
    )
    fault_report.scenarios.append(result)
    labels = owner_labels("apps", namespace)
    engine = start_engine(crds_installed, tmp_path / "engine", *own_namespace(scenario))
    kill_points: list[int] = []
    failures: list[str] = []
    problems: list[str] = []
    converged = "-"
    killed = time.monotonic()
    try:
        await scenario.source(interval="1h")
        await scenario.kustomization("apps", "./apps")
        first_created: list[str] = []
        for index in range(kills):
            if index:
                engine = restart_engine(crds_installed, engine)
            existing = len(await owned(kube, namespace, "apps"))
            room = max(1, (OBJECTS - 1 - existing) // (kills - index))
            await wait_until_written(kube, labels, existing + rng.randint(1, room))
            if engine.process.poll() is not None:
                failures.append(f"kill {index + 1}: the engine had exited by itself")
            kill_engine(engine)
            killed = time.monotonic()
            live = await owned(kube, namespace, "apps")
            kill_points.append(len(live))
            first_created = first_created or sorted(live)
            missing = await unlisted(kube, namespace, "apps")
            if missing:
                failures.append(f"kill {index + 1}: {len(missing)} objects unlisted: {missing[:3]}")
        # The commit lands while the engine is down, and the Kustomization waits for it:
        # its first apply after the restart is the new revision, which never applies the
        # removed object, so only an inventory can have it pruned.
        removed = rng.choice([key for key in declared if entry_id(namespace, key) in first_created])
        del declared[removed]
        head = commit_maps(scenario, declared, f"remove {removed}")
        commits.add(head)
        await scenario.kubectl("patch", "kustomization/apps", "--type=merge", "-p", SUSPEND)
        engine = restart_engine(crds_installed, engine)
        await eventually(
            lambda: source_artifact(kube, namespace),
            lambda artifact: str(artifact.get("revision", "")).endswith(head),
            what="the GitRepository's artifact of the new commit",
        )
        await scenario.kubectl("patch", "kustomization/apps", "--type=merge", "-p", RESUME)
        await applied(scenario, "apps", head)
        converged = f"{time.monotonic() - killed:.1f} s"
        problems += await cluster_problems(scenario, "apps", declared)
        problems += storage_problems(
            engine.storage_path, await source_artifact(kube, namespace), commits
        )
    except (AssertionError, KubeError) as error:
        problems.append(str(error).splitlines()[0][:300])
        raise
    finally:
        if engine.process.poll() is None:
            stop_engine(engine)
        result.rows.append(
            (
                str(len(kill_points)),
                str(len(failures)),
                converged,
                "; ".join(problems) or "none",
            )
        )
        result.notes = [
            f"Objects existing at each kill: {', '.join(map(str, kill_points))} "
            f"(random seed {seed}).",
            *(f"- {failure}" for failure in failures),
        ]
    assert failures == []
    assert problems == []
