"""The artifact store: layout, reuse of identical content, atomic writes, GC and lookups."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from lockstep.sources.errors import TooLarge
from lockstep.sources.store import ArtifactStore

KIND, NAMESPACE, NAME = "GitRepository", "flux-system", "podinfo"
BASE_URL = "http://source.lockstep.svc/"


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "store", BASE_URL)


def source_tree(root: Path, content: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "app.yaml").write_text(content)
    return root


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_store_lays_out_the_artifact_and_describes_it(store: ArtifactStore, tmp_path: Path) -> None:
    tree = source_tree(tmp_path / "tree", "replicas: 1\n")

    stored = store.store(KIND, NAMESPACE, NAME, "main@sha1:" + "a" * 40, tree)

    artifact = stored.artifact
    digest_hex = artifact.digest.removeprefix("sha256:") if artifact.digest else ""
    assert artifact.path == f"gitrepository/flux-system/podinfo/{digest_hex}.tar.gz"
    assert artifact.url == "http://source.lockstep.svc/" + artifact.path
    assert artifact.revision == "main@sha1:" + "a" * 40
    assert artifact.size == store.local_path(artifact).stat().st_size
    assert not stored.reused
    assert store.list_artifacts(KIND, NAMESPACE, NAME) == [store.local_path(artifact)]


def test_a_file_stem_names_the_artifact_as_flux_does(store: ArtifactStore, tmp_path: Path) -> None:
    commit = "c" * 40
    stored = store.store(
        KIND, NAMESPACE, NAME, f"main@sha1:{commit}", source_tree(tmp_path / "a", "1\n"),
        file_stem=commit,
    )  # fmt: skip
    assert stored.artifact.path == f"gitrepository/flux-system/podinfo/{commit}.tar.gz"
    with store.open(stored.artifact.path) as served:
        assert served.read() == store.local_path(stored.artifact).read_bytes()
    assert store.list_artifacts(KIND, NAMESPACE, NAME) == [store.local_path(stored.artifact)]


def test_the_same_name_with_other_content_is_replaced_whole(
    store: ArtifactStore, tmp_path: Path
) -> None:
    commit = "d" * 64
    first = store.store(
        KIND, NAMESPACE, NAME, "r", source_tree(tmp_path / "a", "1\n"), file_stem=commit
    )
    inode = store.local_path(first.artifact).stat().st_ino
    again = store.store(
        KIND, NAMESPACE, NAME, "r", source_tree(tmp_path / "a", "1\n"), file_stem=commit
    )
    assert again.reused
    assert store.local_path(again.artifact).stat().st_ino == inode

    changed = store.store(
        KIND, NAMESPACE, NAME, "r", source_tree(tmp_path / "b", "2\n"), file_stem=commit
    )

    assert not changed.reused
    assert changed.artifact.path == first.artifact.path
    assert changed.artifact.digest != first.artifact.digest
    path = store.local_path(changed.artifact)
    assert f"sha256:{hashlib.sha256(path.read_bytes()).hexdigest()}" == changed.artifact.digest
    assert [p.name for p in path.parent.iterdir()] == [f"{commit}.tar.gz"]


@pytest.mark.parametrize("stem", ["main", "C" * 40, "c" * 39, "../" + "c" * 40, "c" * 41])
def test_a_file_stem_must_be_a_hex_id(store: ArtifactStore, tmp_path: Path, stem: str) -> None:
    with pytest.raises(ValueError, match="40 or 64 hex digits"):
        store.store(KIND, NAMESPACE, NAME, "r", source_tree(tmp_path / "a", "1\n"), file_stem=stem)


def test_identical_content_reuses_the_stored_file(store: ArtifactStore, tmp_path: Path) -> None:
    first = store.store(KIND, NAMESPACE, NAME, "main@sha1:1", source_tree(tmp_path / "a", "x\n"))
    inode = store.local_path(first.artifact).stat().st_ino

    again = store.store(KIND, NAMESPACE, NAME, "main@sha1:2", source_tree(tmp_path / "b", "x\n"))

    assert again.reused
    assert again.artifact.digest == first.artifact.digest
    assert again.artifact.revision == "main@sha1:2"
    assert store.local_path(again.artifact).stat().st_ino == inode
    assert len(store.list_artifacts(KIND, NAMESPACE, NAME)) == 1


def test_a_crashed_write_leaves_a_temp_file_that_is_never_listed(
    store: ArtifactStore, tmp_path: Path
) -> None:
    stored = store.store(KIND, NAMESPACE, NAME, "r1", source_tree(tmp_path / "tree", "x\n"))
    folder = store.local_path(stored.artifact).parent
    crashed = folder / ".incoming-crashed.partial"
    crashed.write_bytes(b"\x1f\x8b half an archive")

    assert store.list_artifacts(KIND, NAMESPACE, NAME) == [store.local_path(stored.artifact)]
    with pytest.raises(FileNotFoundError):
        store.open(crashed.relative_to(store.root).as_posix())


def test_a_failed_rename_stores_nothing_and_cleans_up(
    store: ArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(source: object, target: object) -> None:
        raise OSError("disk unplugged")

    monkeypatch.setattr(os, "replace", crash)

    with pytest.raises(OSError, match="disk unplugged"):
        store.store(KIND, NAMESPACE, NAME, "r1", source_tree(tmp_path / "tree", "x\n"))

    folder = store.root / "gitrepository" / NAMESPACE / NAME
    assert list(folder.iterdir()) == []


def test_too_large_content_stores_nothing(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store", BASE_URL, max_content_bytes=10)
    tree = source_tree(tmp_path / "tree", "more than ten bytes\n")

    with pytest.raises(TooLarge, match=r"^GitRepository flux-system/podinfo: .*limit of 10 bytes"):
        store.store(KIND, NAMESPACE, NAME, "r1", tree)

    assert list((store.root / "gitrepository" / NAMESPACE / NAME).iterdir()) == []


def test_garbage_collect_keeps_the_newest_and_removes_stale_temp_files(
    store: ArtifactStore, tmp_path: Path
) -> None:
    paths = []
    for number in range(4):
        stored = store.store(
            KIND, NAMESPACE, NAME, f"r{number}", source_tree(tmp_path / "t", f"{number}\n")
        )
        paths.append(store.local_path(stored.artifact))
        age(paths[-1], 100 - number)  # older first
    folder = paths[0].parent
    stale, live = folder / ".incoming-old.partial", folder / ".incoming-live.partial"
    stale.write_bytes(b"")
    live.write_bytes(b"")
    age(stale, 120)

    removed = store.garbage_collect(KIND, NAMESPACE, NAME, keep=2)

    assert sorted(removed) == sorted([paths[0], paths[1], stale])
    assert store.list_artifacts(KIND, NAMESPACE, NAME) == [paths[3], paths[2]]
    assert live.exists()


def test_garbage_collect_never_removes_a_reused_artifact(
    store: ArtifactStore, tmp_path: Path
) -> None:
    old = store.store(KIND, NAMESPACE, NAME, "r1", source_tree(tmp_path / "a", "old\n"))
    age(store.local_path(old.artifact), 60)
    store.store(KIND, NAMESPACE, NAME, "r2", source_tree(tmp_path / "b", "new\n"))
    age(store.local_path(old.artifact), 60)

    current = store.store(KIND, NAMESPACE, NAME, "r3", source_tree(tmp_path / "c", "old\n"))
    store.garbage_collect(KIND, NAMESPACE, NAME, keep=1)

    assert current.reused
    assert store.list_artifacts(KIND, NAMESPACE, NAME) == [store.local_path(current.artifact)]


def test_garbage_collect_must_keep_the_current_artifact(store: ArtifactStore) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        store.garbage_collect(KIND, NAMESPACE, NAME, keep=0)


def test_remove_all_deletes_only_that_source(store: ArtifactStore, tmp_path: Path) -> None:
    tree = source_tree(tmp_path / "tree", "x\n")
    store.store(KIND, NAMESPACE, NAME, "r1", tree)
    kept = store.store(KIND, NAMESPACE, "other", "r1", tree)

    store.remove_all(KIND, NAMESPACE, NAME)

    assert store.list_artifacts(KIND, NAMESPACE, NAME) == []
    assert store.local_path(kept.artifact).is_file()


def test_open_reads_an_artifact_by_its_path(store: ArtifactStore, tmp_path: Path) -> None:
    stored = store.store(KIND, NAMESPACE, NAME, "r1", source_tree(tmp_path / "tree", "x\n"))

    with store.open(stored.artifact.path) as served:
        assert served.read() == store.local_path(stored.artifact).read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "../outside/" + "a" * 64 + ".tar.gz",
        "gitrepository/flux-system",
        "gitrepository/flux-system/podinfo/" + "b" * 64 + ".tar.gz",
        "/etc/passwd",
    ],
)
def test_open_refuses_anything_but_a_stored_artifact(store: ArtifactStore, path: str) -> None:
    (store.root.parent / "outside").mkdir(parents=True)
    (store.root.parent / "outside" / ("a" * 64 + ".tar.gz")).write_bytes(b"")

    with pytest.raises(FileNotFoundError):
        store.open(path)


@pytest.mark.parametrize("name", ["", ".", "..", "a/b"])
def test_names_cannot_leave_the_store(store: ArtifactStore, tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="cannot name a folder"):
        store.store(KIND, NAMESPACE, name, "r1", source_tree(tmp_path / "tree", "x\n"))


def test_an_artifact_of_another_store_is_not_here(store: ArtifactStore, tmp_path: Path) -> None:
    elsewhere = ArtifactStore(tmp_path / "elsewhere", BASE_URL)
    tree = source_tree(tmp_path / "tree", "replicas: 1\n")
    foreign = elsewhere.store(KIND, NAMESPACE, NAME, "main@sha1:" + "b" * 40, tree).artifact

    assert elsewhere.has(foreign)
    assert not store.has(foreign)
    with pytest.raises(FileNotFoundError):
        store.local_path(foreign)


def test_an_artifact_served_at_another_address_must_be_stored_again(
    store: ArtifactStore, tmp_path: Path
) -> None:
    tree = source_tree(tmp_path / "tree", "replicas: 1\n")
    artifact = store.store(KIND, NAMESPACE, NAME, "main@sha1:" + "c" * 40, tree).artifact
    # The same folder, served by an engine started with another --storage-addr.
    moved = ArtifactStore(store.root, "http://127.0.0.1:19090")

    assert store.has(artifact)
    assert not moved.has(artifact)
    again = moved.store(KIND, NAMESPACE, NAME, "main@sha1:" + "c" * 40, tree)
    assert again.reused
    assert again.artifact.url == f"http://127.0.0.1:19090/{artifact.path}"
    assert moved.has(again.artifact)
