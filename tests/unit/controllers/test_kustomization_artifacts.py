"""The Kustomization's build of its source's artifact: fetched through
:mod:`lockstep.sources.artifact_fetch` (digest checked, extracted safely) once per
digest and shared by the builds of every folder of it; kept in the build caches of the
reconciler's options: an artifact seen before whose build is kept is neither downloaded
nor extracted again, and two engines (two sets of options) share nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from lockstep.api.kustomize import Kustomization
from lockstep.api.meta import Artifact
from lockstep.controllers.kustomize.inputs import BuildInputs
from lockstep.controllers.kustomize.kustomization import (
    KustomizationOptions,
    KustomizationReconciler,
)
from lockstep.controllers.shell import Failure
from lockstep.kube import KubeClient
from lockstep.runtime.informer import Subscriber
from lockstep.sources.store import ArtifactStore
from unit.sources.test_artifact_fetch import Artifacts, artifacts, sha256, tarball

__all__ = ["artifacts"]  # the fixture, used by name

SETTINGS = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  colour: blue\n"
ARCHIVE = tarball(("apps/settings.yaml", SETTINGS))
MONOREPO = tarball(
    *(
        (f"apps/app-{index}/settings.yaml", SETTINGS.replace(b"settings", b"app-%d" % index))
        for index in range(3)
    )
)


class _Cache:
    def subscribe(self, subscriber: Subscriber) -> None:
        pass


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    folder = tmp_path / "scratch"
    folder.mkdir()
    return folder


def _reconciler(scratch: Path, options: KustomizationOptions, max_bytes: int = 1 << 20) -> Any:
    store = ArtifactStore(scratch.parent / "store", "http://127.0.0.1:1", max_bytes)
    return KustomizationReconciler(
        cast(KubeClient, None), store, cast(Any, _Cache()), scratch, options
    )


def _kustomization(name: str, path: str = "./apps") -> Kustomization:
    spec = {
        "interval": "10m",
        "path": path,
        "prune": True,
        "sourceRef": {"kind": "GitRepository", "name": "repo"},
    }
    return Kustomization.model_validate(
        {"metadata": {"name": name, "namespace": "apps"}, "spec": spec}
    )


def _artifact(url: str, digest: str) -> Artifact:
    return Artifact.model_validate(
        {
            "path": "gitrepository/apps/repo/abc.tar.gz",
            "url": url,
            "digest": digest,
            "revision": "main@sha1:abc",
            "lastUpdateTime": "2026-01-01T00:00:00Z",
        }
    )


def test_a_kept_build_of_a_seen_artifact_is_not_downloaded_again(
    artifacts: Artifacts, scratch: Path
) -> None:
    artifacts.files["abc.tar.gz"] = ARCHIVE
    artifact = _artifact(artifacts.url("abc.tar.gz"), sha256(ARCHIVE))
    engine = _reconciler(scratch, KustomizationOptions())

    first = engine._build(_kustomization("web"), artifact, BuildInputs())
    second = engine._build(_kustomization("api"), artifact, BuildInputs())

    assert [o["metadata"]["name"] for o in first.objects] == ["settings"]
    assert first == second
    assert artifacts.requests == ["/abc.tar.gz"], "the second build came from the caches"
    assert [path.name for path in scratch.iterdir()] == ["artifacts"], "the build's copy left"

    other = _reconciler(scratch, KustomizationOptions())
    other._build(_kustomization("web"), artifact, BuildInputs())
    assert len(artifacts.requests) == 2, "another engine's options share no cache"


def test_a_tampered_artifact_fails_the_artifact_stage(artifacts: Artifacts, scratch: Path) -> None:
    artifacts.files["abc.tar.gz"] = tarball(("apps/settings.yaml", SETTINGS + b"  evil: yes\n"))
    artifact = _artifact(artifacts.url("abc.tar.gz"), sha256(ARCHIVE))
    engine = _reconciler(scratch, KustomizationOptions())

    with pytest.raises(Failure) as failed:
        engine._build(_kustomization("web"), artifact, BuildInputs())

    assert failed.value.reason == "ArtifactFailed"
    assert str(failed.value).startswith("Kustomization apps/web: artifact http://127.0.0.1:")
    assert f"not {sha256(ARCHIVE)} as the source's status says" in str(failed.value)


def test_the_engine_s_size_limit_applies(artifacts: Artifacts, scratch: Path) -> None:
    big = tarball(("apps/settings.yaml", SETTINGS), ("apps/blob.bin", bytes(range(256)) * 64))
    artifacts.files["abc.tar.gz"] = big
    engine = _reconciler(scratch, KustomizationOptions(), max_bytes=4096)

    with pytest.raises(Failure, match="exceed the artifact size limit of 4096 bytes"):
        engine._build(
            _kustomization("web"),
            _artifact(artifacts.url("abc.tar.gz"), sha256(big)),
            BuildInputs(),
        )


def test_the_folders_of_one_artifact_share_one_download_and_extraction(
    artifacts: Artifacts, scratch: Path
) -> None:
    artifacts.files["mono.tar.gz"] = MONOREPO
    artifact = _artifact(artifacts.url("mono.tar.gz"), sha256(MONOREPO))
    engine = _reconciler(scratch, KustomizationOptions())

    built = [
        engine._build(
            _kustomization(f"app-{index}", f"./apps/app-{index}"), artifact, BuildInputs()
        )
        for index in range(3)
    ]

    assert [[o["metadata"]["name"] for o in b.objects] for b in built] == [
        ["app-0"],
        ["app-1"],
        ["app-2"],
    ]
    assert artifacts.requests == ["/mono.tar.gz"]


def test_a_tampered_artifact_is_not_kept_and_is_fetched_again(
    artifacts: Artifacts, scratch: Path
) -> None:
    artifacts.files["abc.tar.gz"] = tarball(("apps/settings.yaml", SETTINGS + b"  evil: yes\n"))
    artifact = _artifact(artifacts.url("abc.tar.gz"), sha256(ARCHIVE))
    engine = _reconciler(scratch, KustomizationOptions())
    with pytest.raises(Failure):
        engine._build(_kustomization("web"), artifact, BuildInputs())

    artifacts.files["abc.tar.gz"] = ARCHIVE
    built = engine._build(_kustomization("web"), artifact, BuildInputs())

    assert [o["metadata"]["name"] for o in built.objects] == ["settings"]
    assert len(artifacts.requests) == 2
