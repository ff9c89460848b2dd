"""Single files in the artifact store: a HelmRepository's index, a HelmChart's package.

Names are checked strictly, identical content is not written again, writes are atomic,
and the files are listed, served and collected like tarballs.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from lockstep.sources.errors import TooLarge
from lockstep.sources.store import STRAY_TEMP_AGE_SECONDS, ArtifactStore

NAMESPACE, NAME = "flux-system", "podinfo"
BASE_URL = "http://source.lockstep.svc"
INDEX = f"index-{'a' * 64}.yaml"


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "store", BASE_URL)


def a_file(folder: Path, content: bytes, name: str = "upload") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(content)
    return folder / name


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_an_index_is_stored_as_it_is(store: ArtifactStore, tmp_path: Path) -> None:
    content = b'{\n  "apiVersion": "v1"\n}'
    stored = store.store_file(
        "HelmRepository", NAMESPACE, NAME, "sha256:" + "a" * 64, a_file(tmp_path, content), INDEX
    )
    artifact = stored.artifact
    assert artifact.path == f"helmrepository/flux-system/podinfo/{INDEX}"
    assert artifact.url == f"{BASE_URL}/{artifact.path}"
    assert artifact.revision == "sha256:" + "a" * 64
    assert artifact.digest == f"sha256:{hashlib.sha256(content).hexdigest()}"
    assert artifact.size == len(content)
    assert (stored.reused, stored.warnings) == (False, ())
    assert store.local_path(artifact).read_bytes() == content
    assert store.local_path(artifact).stat().st_mode & 0o777 == 0o644
    with store.open(artifact.path) as served:
        assert served.read() == content


@pytest.mark.parametrize(
    "filename",
    ["podinfo-6.5.0.tgz", "podinfo-6.5.0-rc.1.tgz", "my_chart.v2-1.0.0+abcdef012345.tgz"],
)
def test_a_chart_package_is_stored_under_its_name(
    store: ArtifactStore, tmp_path: Path, filename: str
) -> None:
    stored = store.store_file(
        "HelmChart", NAMESPACE, NAME, "6.5.0", a_file(tmp_path, b"\x1f\x8b..."), filename
    )
    assert stored.artifact.path == f"helmchart/flux-system/podinfo/{filename}"
    assert store.list_artifacts("HelmChart", NAMESPACE, NAME) == [store.local_path(stored.artifact)]


def test_identical_content_is_not_rewritten_but_refreshed(
    store: ArtifactStore, tmp_path: Path
) -> None:
    source = a_file(tmp_path, b"index")
    first = store.store_file("HelmRepository", NAMESPACE, NAME, "r", source, INDEX)
    path = store.local_path(first.artifact)
    age(path, 3600)
    inode = path.stat().st_ino
    again = store.store_file("HelmRepository", NAMESPACE, NAME, "r", source, INDEX)
    assert again.reused
    assert path.stat().st_ino == inode
    assert time.time() - path.stat().st_mtime < 60
    assert again.artifact.digest == first.artifact.digest


def test_other_content_under_the_same_name_replaces_the_file(
    store: ArtifactStore, tmp_path: Path
) -> None:
    store.store_file("HelmChart", NAMESPACE, NAME, "1", a_file(tmp_path, b"old"), "a-1.0.0.tgz")
    stored = store.store_file(
        "HelmChart", NAMESPACE, NAME, "1", a_file(tmp_path, b"new"), "a-1.0.0.tgz"
    )
    assert not stored.reused
    assert store.local_path(stored.artifact).read_bytes() == b"new"


@pytest.mark.parametrize(
    "filename",
    [
        "index.yaml",
        f"index-{'A' * 64}.yaml",
        "../podinfo-1.0.0.tgz",
        "sub/podinfo-1.0.0.tgz",
        ".podinfo-1.0.0.tgz",
        "podinfo-1.0.tgz",
        "podinfo-latest.tgz",
        "podinfo-1.0.0.tar.gz",
        ".incoming-x.partial",
        "podinfo-1.0.0.tgz/..",
    ],
)
def test_other_names_are_refused(store: ArtifactStore, tmp_path: Path, filename: str) -> None:
    with pytest.raises(ValueError, match="cannot name an artifact file"):
        store.store_file("HelmChart", NAMESPACE, NAME, "1", a_file(tmp_path, b"x"), filename)
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").rglob("*.*"))


def test_a_file_over_the_limit_stores_nothing(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store", BASE_URL, max_content_bytes=4)
    with pytest.raises(TooLarge, match="HelmChart flux-system/podinfo"):
        store.store_file(
            "HelmChart", NAMESPACE, NAME, "1", a_file(tmp_path, b"12345"), "a-1.0.0.tgz"
        )
    assert store.list_artifacts("HelmChart", NAMESPACE, NAME) == []
    assert list((tmp_path / "store" / "helmchart" / NAMESPACE / NAME).iterdir()) == []


def test_garbage_collect_keeps_the_newest_files(store: ArtifactStore, tmp_path: Path) -> None:
    paths = []
    for number, version in enumerate(("1.0.0", "1.1.0", "1.2.0")):
        source = a_file(tmp_path, version.encode())
        stored = store.store_file("HelmChart", NAMESPACE, NAME, version, source, f"a-{version}.tgz")
        paths.append(store.local_path(stored.artifact))
        age(paths[-1], 300 - number * 100)
    stray = paths[0].parent / ".incoming-crashed.partial"
    stray.write_bytes(b"half")
    age(stray, STRAY_TEMP_AGE_SECONDS + 1)
    removed = store.garbage_collect("HelmChart", NAMESPACE, NAME, keep=2)
    assert sorted(removed) == sorted([paths[0], stray])
    assert store.list_artifacts("HelmChart", NAMESPACE, NAME) == [paths[2], paths[1]]


@pytest.mark.parametrize(
    "path",
    [
        "helmchart/flux-system/podinfo/.incoming-abc.partial",
        "helmchart/flux-system/podinfo/notes.txt",
        "helmchart/flux-system/podinfo/../../../../etc/a-1.0.0.tgz",
        "helmrepository/flux-system/podinfo/index.yaml",
    ],
)
def test_open_serves_only_stored_artifact_names(
    store: ArtifactStore, tmp_path: Path, path: str
) -> None:
    folder = tmp_path / "store" / "helmchart" / "flux-system" / "podinfo"
    a_file(folder, b"partial", ".incoming-abc.partial")
    a_file(folder, b"notes", "notes.txt")
    a_file(tmp_path / "etc", b"outside", "a-1.0.0.tgz")
    with pytest.raises(FileNotFoundError):
        store.open(path)
