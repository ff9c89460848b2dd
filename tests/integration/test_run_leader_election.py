"""Two ``lockstep run --leader-elect`` replicas: one works; when it dies, the other takes over."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from ground.engine import Engine, start_engine, stop_engine
from ground.wait import eventually
from lockstep.dev.gitserver import ServedRepo
from lockstep.kube import KubeClient, ObjectRef

pytestmark = pytest.mark.integration


def _git_repository(namespace: str, name: str, url: str) -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"url": url, "interval": "1h", "ref": {"branch": "main"}},
    }


async def _ready(kube: KubeClient, namespace: str, name: str) -> dict[str, Any]:
    ref = ObjectRef("source.toolkit.fluxcd.io/v1", "GitRepository", name, namespace)

    def is_ready(obj: dict[str, Any]) -> bool:
        conditions = (obj.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    return await eventually(
        lambda: kube.get(ref), is_ready, within=60, what=f"GitRepository {name} Ready"
    )


async def test_standby_takes_over_when_the_leader_is_killed(
    crds_installed: Path, kube: KubeClient, namespace: str, git_repo: ServedRepo, tmp_path: Path
) -> None:
    work = git_repo.working_copy(tmp_path / "work")
    work.write("app.yaml", "kind: ConfigMap\n")
    work.commit("first")
    work.push()
    election = ("--leader-elect", "--leader-election-namespace", namespace)
    first = start_engine(crds_installed, tmp_path / "first", *election)
    second = start_engine(crds_installed, tmp_path / "second", *election)
    try:
        await kube.apply(_git_repository(namespace, "before", git_repo.git_url))
        await _ready(kube, namespace, "before")
        leaders = [e for e in (first, second) if e.metric("lockstep_leader") == 1.0]
        assert len(leaders) == 1, "exactly one replica leads"
        leader: Engine = leaders[0]
        standby = second if leader is first else first

        leader.process.kill()
        leader.process.wait(timeout=10)
        killed_at = time.monotonic()
        await kube.apply(_git_repository(namespace, "after", git_repo.git_url))
        await _ready(kube, namespace, "after")
        took_over = time.monotonic() - killed_at
        assert standby.metric("lockstep_leader") == 1.0
        lease = await kube.get(
            ObjectRef("coordination.k8s.io/v1", "Lease", "lockstep-leader-election", namespace)
        )
        assert lease["spec"]["leaseTransitions"] >= 1
        print(f"standby took over and reconciled {took_over:.1f}s after the leader was killed")
    finally:
        for engine in (first, second):
            if engine.process.poll() is None:
                stop_engine(engine)
