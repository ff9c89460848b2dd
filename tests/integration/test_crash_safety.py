"""A ``kill -9`` of ``lockstep run`` mid-fetch leaves no partial artifact; the next run converges."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

from ground.engine import start_engine, stop_engine
from ground.wait import eventually
from lockstep.dev.gitserver import ServedRepo
from lockstep.kube import KubeClient, ObjectRef

pytestmark = pytest.mark.integration


def _artifacts_are_whole(storage: Path) -> list[str]:
    """Names of stored artifacts that are not whole gzip tarballs."""
    broken = []
    for path in storage.rglob("*.tar.gz"):
        try:
            with tarfile.open(path, "r:gz") as tar:
                tar.getmembers()
        except (tarfile.TarError, EOFError, OSError):
            broken.append(str(path))
    return broken


def _in_progress(storage: Path) -> bool:
    """Whether a checkout or a pack is under way."""
    scratch = storage / ".scratch"
    return any(storage.rglob(".incoming-*")) or (scratch.is_dir() and any(scratch.iterdir()))


async def test_kill_during_fetch_then_restart(
    crds_installed: Path, kube: KubeClient, namespace: str, git_repo: ServedRepo, tmp_path: Path
) -> None:
    work = git_repo.working_copy(tmp_path / "work")
    for index in range(40):
        work.write(f"blobs/blob-{index}.bin", os.urandom(1024 * 1024))
    work.write("app.yaml", "kind: ConfigMap\n")
    work.commit("big")
    work.push()
    storage = tmp_path / "engine"
    first = start_engine(crds_installed, storage)
    repository: dict[str, Any] = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "big", "namespace": namespace},
        "spec": {"url": git_repo.git_url, "interval": "1h", "ref": {"branch": "main"}},
    }
    await kube.apply(repository)

    async def fetching() -> bool:
        return await asyncio.to_thread(_in_progress, storage / "artifacts")

    await eventually(fetching, bool, within=30, what="the fetch or pack in progress")
    first.process.kill()
    first.process.wait(timeout=10)
    assert _artifacts_are_whole(storage / "artifacts") == []

    second = start_engine(crds_installed, storage)
    try:
        ref = ObjectRef("source.toolkit.fluxcd.io/v1", "GitRepository", "big", namespace)

        def ready(obj: dict[str, Any]) -> bool:
            conditions = (obj.get("status") or {}).get("conditions") or []
            return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

        converged = await eventually(
            lambda: kube.get(ref), ready, within=60, what="Ready after restart"
        )
        artifact = converged["status"]["artifact"]
        stored = storage / "artifacts" / artifact["path"]
        assert artifact["digest"] == "sha256:" + hashlib.sha256(stored.read_bytes()).hexdigest()
        assert _artifacts_are_whole(storage / "artifacts") == []
        assert list((storage / "artifacts" / ".scratch").iterdir()) == [], "left-overs were cleared"
    finally:
        stop_engine(second)
