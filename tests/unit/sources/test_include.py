"""Including one artifact's content in another tree."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from lockstep.sources.errors import PathNotFound
from lockstep.sources.include import include_artifact, inside


def _tarball(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, mode="w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return path


def test_whole_artifact_and_sub_folder(tmp_path: Path) -> None:
    tarball = _tarball(tmp_path / "a.tar.gz", {"base/app.yaml": b"app", "README.md": b"docs"})
    tree = tmp_path / "tree"
    include_artifact(tarball, None, tree / "shared", source="GitRepository ns/shared")
    assert (tree / "shared" / "base" / "app.yaml").read_bytes() == b"app"
    include_artifact(tarball, "base", tree / "only-base", source="GitRepository ns/shared")
    assert sorted(p.name for p in (tree / "only-base").iterdir()) == ["app.yaml"]


def test_destination_is_replaced(tmp_path: Path) -> None:
    tarball = _tarball(tmp_path / "a.tar.gz", {"new.yaml": b"new"})
    destination = tmp_path / "tree" / "lib"
    destination.mkdir(parents=True)
    (destination / "stale.yaml").write_text("stale")
    include_artifact(tarball, None, destination, source="GitRepository ns/lib")
    assert sorted(p.name for p in destination.iterdir()) == ["new.yaml"]


def test_missing_from_path_and_escapes_are_refused(tmp_path: Path) -> None:
    tarball = _tarball(tmp_path / "a.tar.gz", {"base/app.yaml": b"app"})
    with pytest.raises(PathNotFound, match="has no folder 'overlays'"):
        include_artifact(
            tarball, "overlays", tmp_path / "tree" / "x", source="GitRepository ns/lib"
        )
    with pytest.raises(PathNotFound, match=r"without '\.\.'"):
        inside(tmp_path, "../etc", "toPath")
    with pytest.raises(PathNotFound):
        inside(tmp_path, "/etc", "toPath")
    assert inside(tmp_path, "deploy/lib", "toPath") == tmp_path / "deploy" / "lib"


def test_hostile_member_is_not_extracted(tmp_path: Path) -> None:
    tarball = _tarball(tmp_path / "a.tar.gz", {"../escape.yaml": b"x"})
    with pytest.raises(tarfile.OutsideDestinationError):
        include_artifact(tarball, None, tmp_path / "tree" / "x", source="GitRepository ns/lib")
    assert not (tmp_path / "tree" / "escape.yaml").exists()
