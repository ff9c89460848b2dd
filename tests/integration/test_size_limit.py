"""A source larger than ``--max-artifact-size`` fails clearly and keeps the last artifact.

Runs its own engine with a small limit; no other engine runs during this module.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ground.artifacts import condition
from ground.engine import start_engine, stop_engine
from ground.wait import eventually
from lockstep.dev.gitserver import ServedRepo
from lockstep.kube import KubeClient, ObjectRef

pytestmark = pytest.mark.integration


async def test_source_over_the_size_limit_fails_and_keeps_the_last_artifact(
    crds_installed: Path, kube: KubeClient, namespace: str, git_repo: ServedRepo, tmp_path: Path
) -> None:
    work = git_repo.working_copy(tmp_path / "work")
    work.write("app.yaml", "kind: ConfigMap\n")
    work.commit("small")
    work.push()
    limited = start_engine(crds_installed, tmp_path / "engine", "--max-artifact-size", "1")
    try:
        await kube.apply(
            {
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": "GitRepository",
                "metadata": {"name": "app", "namespace": namespace},
                "spec": {"url": git_repo.git_url, "interval": "1s", "ref": {"branch": "main"}},
            }
        )
        ref = ObjectRef("source.toolkit.fluxcd.io/v1", "GitRepository", "app", namespace)
        first = await eventually(
            lambda: kube.get(ref), lambda o: condition(o, "Ready").startswith("True"), what="Ready"
        )
        work.write("big.bin", os.urandom(2 * 1024 * 1024))
        work.commit("too big")
        work.push()
        failed = await eventually(
            lambda: kube.get(ref),
            lambda o: condition(o, "Ready").startswith("False"),
            what="too large",
        )
        assert "1.0 MiB" in condition(failed, "Ready") or "limit" in condition(failed, "Ready"), (
            condition(failed, "Ready")
        )
        assert failed["status"]["artifact"] == first["status"]["artifact"], (
            "the last good artifact stays"
        )
        assert condition(failed, "ArtifactOutdated").startswith("True: new upstream revision")
    finally:
        stop_engine(limited)
