"""Extraction of an OCI layer's tarball: files land inside the folder or not at all."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from lockstep.sources.errors import InvalidArtifact, TooLarge, UnsafeArchive
from lockstep.sources.oci import extract_tarball

SOURCE = "oci://registry.example/app v1.0.0@sha256:abc"
LIMIT = 1024 * 1024


def tarball(*entries: tarfile.TarInfo | tuple[str, bytes]) -> io.BytesIO:
    """A gzip tarball of (name, content) files and ready-made headers, in order."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tar.addfile(entry)
            else:
                name, content = entry
                info = tarfile.TarInfo(name)
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    out.seek(0)
    return out


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def special(name: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    return info


def extract(archive: io.BytesIO, dest: Path, limit: int = LIMIT) -> int:
    return extract_tarball(archive, dest, max_bytes=limit, source=SOURCE)


def test_files_folders_and_inner_links_are_extracted(tmp_path: Path) -> None:
    archive = tarball(
        ("kustomization.yaml", b"resources: [deploy]\n"),
        ("deploy/app.yaml", b"kind: Deployment\n"),
        link("deploy/current.yaml", "app.yaml"),
        link("shared", "deploy"),
        link("copy.yaml", "deploy/app.yaml", tarfile.LNKTYPE),
    )

    content_bytes = extract(archive, tmp_path)

    assert (tmp_path / "deploy" / "current.yaml").read_text() == "kind: Deployment\n"
    assert (tmp_path / "shared" / "app.yaml").read_text() == "kind: Deployment\n"
    assert (tmp_path / "copy.yaml").read_text() == "kind: Deployment\n"
    assert content_bytes == len(b"resources: [deploy]\n") + len(b"kind: Deployment\n")


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (("../x", b"escaped\n"), "climbs out with '..'"),
        (("deploy/../../x", b"escaped\n"), "climbs out with '..'"),
        (("/tmp/lockstep-absolute", b"escaped\n"), "absolute path"),
        (link("etc", "/etc"), "outside the artifact"),
        (link("deploy/up", "../../outside"), "outside the artifact"),
        (link("passwd", "/etc/passwd", tarfile.LNKTYPE), "outside the artifact"),
        (special("null", tarfile.CHRTYPE), "device file or FIFO"),
        (special("disk", tarfile.BLKTYPE), "device file or FIFO"),
        (special("pipe", tarfile.FIFOTYPE), "device file or FIFO"),
    ],
)
def test_entries_that_could_leave_the_folder_are_refused(
    tmp_path: Path, entry: tarfile.TarInfo | tuple[str, bytes], problem: str
) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()

    with pytest.raises(UnsafeArchive, match=problem) as raised:
        extract(tarball(("ok.yaml", b"a: 1\n"), entry), dest)

    assert SOURCE in str(raised.value)
    assert "push a tarball without it" in str(raised.value)
    assert [path.name for path in tmp_path.iterdir()] == ["dest"]


def test_a_link_chain_that_leaves_the_folder_only_once_complete_is_refused(
    tmp_path: Path,
) -> None:
    # Each link alone stays inside; once a/b/x points at t, y climbs out through it.
    dest = tmp_path / "dest"
    dest.mkdir()
    archive = tarball(
        link("y", "a/b/x/../../.."),
        ("t/keep", b""),
        link("a/b/x", "../../t"),
    )

    with pytest.raises(UnsafeArchive, match="through other links"):
        extract(archive, dest)


def test_writing_through_a_link_that_leaves_the_folder_is_refused(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    archive = tarball(
        link("y", "a/b/x/../../.."),
        ("t/keep", b""),
        link("a/b/x", "../../t"),
        ("y/escaped", b"outside\n"),
    )

    with pytest.raises(UnsafeArchive):
        extract(archive, dest)

    assert not (tmp_path / "escaped").exists()


def test_content_over_the_limit_stops_the_extraction(tmp_path: Path) -> None:
    archive = tarball(("a.bin", b"x" * 600), ("b.bin", b"x" * 600))

    with pytest.raises(TooLarge, match="size limit of 1000 bytes"):
        extract(archive, tmp_path, limit=1000)

    assert not (tmp_path / "b.bin").exists()


def test_content_at_the_limit_is_extracted(tmp_path: Path) -> None:
    assert extract(tarball(("a.bin", b"x" * 1000)), tmp_path, limit=1000) == 1000


@pytest.mark.parametrize(
    "data",
    [b"not a tarball at all", b"\x1f\x8b\x08\x00garbage after a gzip magic"],
)
def test_a_layer_that_is_not_a_gzip_tarball_is_an_invalid_artifact(
    tmp_path: Path, data: bytes
) -> None:
    with pytest.raises(InvalidArtifact, match="not a valid gzip tarball"):
        extract(io.BytesIO(data), tmp_path)


def test_too_many_entries_stop_the_extraction_however_small(tmp_path: Path) -> None:
    archive = tarball(*((f"empty-{index}", b"") for index in range(11)))

    with pytest.raises(TooLarge, match=r"^oci://.*: the layer holds more than 10 entries; push"):
        extract_tarball(archive, tmp_path, max_bytes=LIMIT, source=SOURCE, max_entries=10)

    assert len(list(tmp_path.iterdir())) == 10
