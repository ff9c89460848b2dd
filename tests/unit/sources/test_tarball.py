"""Deterministic packing: same content, same bytes; links that leave the tree stay out."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from lockstep.sources.errors import TooLarge
from lockstep.sources.ignore import IgnoreRules
from lockstep.sources.tarball import pack_tree

LIMIT = 1024 * 1024


def pack(
    root: Path, ignore: IgnoreRules | None = None, limit: int = LIMIT
) -> tuple[bytes, list[str]]:
    out = io.BytesIO()
    report = pack_tree(
        root, out, source="GitRepository ns/app", max_content_bytes=limit, ignore=ignore
    )
    return out.getvalue(), list(report.warnings)


def members(archive: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return {member.name: member for member in tar.getmembers()}


def write_tree(root: Path) -> None:
    (root / "deploy").mkdir(parents=True)
    (root / "deploy" / "app.yaml").write_text("kind: Deployment\n")
    (root / "kustomization.yaml").write_text("resources: [deploy/app.yaml]\n")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o700)


def test_same_content_gives_the_same_digest_whatever_the_times_modes_and_order(
    tmp_path: Path,
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    write_tree(first)
    (second / "deploy").mkdir(parents=True)  # created in another order, with other modes
    (second / "run.sh").write_text("#!/bin/sh\n")
    (second / "run.sh").chmod(0o755)
    (second / "kustomization.yaml").write_text("resources: [deploy/app.yaml]\n")
    (second / "kustomization.yaml").chmod(0o600)
    (second / "deploy" / "app.yaml").write_text("kind: Deployment\n")
    os.utime(second / "deploy" / "app.yaml", (1_000_000, 1_000_000))

    first_bytes, _ = pack(first)
    second_bytes, _ = pack(second)

    assert hashlib.sha256(first_bytes).hexdigest() == hashlib.sha256(second_bytes).hexdigest()


def test_a_changed_file_changes_the_digest(tmp_path: Path) -> None:
    write_tree(tmp_path)
    before, _ = pack(tmp_path)
    (tmp_path / "deploy" / "app.yaml").write_text("kind: StatefulSet\n")

    after, _ = pack(tmp_path)

    assert before != after


def test_entries_are_sorted_and_carry_nothing_of_the_machine(tmp_path: Path) -> None:
    write_tree(tmp_path)

    archive, _ = pack(tmp_path)

    entries = members(archive)
    assert list(entries) == ["deploy", "deploy/app.yaml", "kustomization.yaml", "run.sh"]
    for member in entries.values():
        assert (member.mtime, member.uid, member.gid, member.uname, member.gname) == (
            0,
            0,
            0,
            "",
            "",
        )
    assert entries["deploy"].mode == 0o755
    assert entries["kustomization.yaml"].mode == 0o644
    assert entries["run.sh"].mode == 0o755
    assert archive[4:8] == b"\0\0\0\0"  # gzip header time


def test_links_inside_the_tree_are_stored_as_links(tmp_path: Path) -> None:
    write_tree(tmp_path)
    (tmp_path / "current").symlink_to("deploy")
    (tmp_path / "deploy" / "alias.yaml").symlink_to("app.yaml")

    archive, warnings = pack(tmp_path)

    entries = members(archive)
    assert entries["current"].issym()
    assert entries["current"].linkname == "deploy"
    assert entries["deploy/alias.yaml"].linkname == "app.yaml"
    assert "current/app.yaml" not in entries  # not followed
    assert warnings == []


@pytest.mark.parametrize(
    "target",
    ["../outside.yaml", "/etc/passwd", "deploy/../../outside.yaml", "hop"],
)
def test_links_leaving_the_tree_are_left_out_and_reported(tmp_path: Path, target: str) -> None:
    root = tmp_path / "root"
    write_tree(root)
    (tmp_path / "outside.yaml").write_text("secret: true\n")
    (root / "hop").symlink_to("../outside.yaml")  # "escape" -> "hop" leaves through a chain
    (root / "escape").symlink_to(target)

    archive, warnings = pack(root)

    assert "escape" not in members(archive)
    assert any(warning.startswith("escape: link") for warning in warnings)


def test_ignored_folders_are_skipped_whole(tmp_path: Path) -> None:
    write_tree(tmp_path)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("[core]\n")

    archive, _ = pack(tmp_path, IgnoreRules.for_tree(tmp_path))

    assert not any(name.startswith(".git") for name in members(archive))


def test_content_over_the_limit_is_refused_naming_the_source_and_limit(tmp_path: Path) -> None:
    (tmp_path / "big.bin").write_bytes(b"x" * 2048)

    with pytest.raises(TooLarge, match=r"^GitRepository ns/app: .* limit of 1024 bytes;"):
        pack(tmp_path, limit=1024)


def test_too_many_entries_are_refused_naming_the_source(tmp_path: Path) -> None:
    for index in range(11):
        (tmp_path / f"empty-{index}").touch()

    with pytest.raises(TooLarge, match=r"^GitRepository ns/app: content holds more than 10 files"):
        pack_tree(
            tmp_path,
            io.BytesIO(),
            source="GitRepository ns/app",
            max_content_bytes=1024,
            max_entries=10,
        )
