"""Packing a local folder for ``lockstep push artifact``: deterministic, Flux's exclusions."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from lockstep.sources.errors import TooLarge
from lockstep.sources.oci_push import FLUX_PUSH_EXCLUSIONS, PackOptions, pack_artifact


def members(tarball: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        return {member.name: member for member in tar.getmembers()}


def write_manifests(root: Path) -> None:
    (root / "apps").mkdir(parents=True)
    (root / "apps" / "web.yaml").write_text("kind: Deployment\n")
    (root / "kustomization.yaml").write_text("resources: [apps/web.yaml]\n")


def test_the_same_folder_packs_to_the_same_digest_whatever_times_and_modes(
    tmp_path: Path,
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    write_manifests(first)
    write_manifests(second)
    os.utime(second / "kustomization.yaml", (1_000_000, 1_000_000))
    (second / "apps" / "web.yaml").chmod(0o664)

    packed = pack_artifact(first)
    assert pack_artifact(first).tarball == packed.tarball
    assert pack_artifact(second).digest == packed.digest
    assert packed.digest.startswith("sha256:")


def test_a_change_of_content_changes_the_digest(tmp_path: Path) -> None:
    write_manifests(tmp_path)
    before = pack_artifact(tmp_path).digest
    (tmp_path / "apps" / "web.yaml").write_text("kind: StatefulSet\n")
    assert pack_artifact(tmp_path).digest != before


def test_files_sit_at_the_root_of_the_tarball_with_nothing_of_the_machine(tmp_path: Path) -> None:
    write_manifests(tmp_path)
    entries = members(pack_artifact(tmp_path).tarball)
    assert list(entries) == ["apps", "apps/web.yaml", "kustomization.yaml"]
    for entry in entries.values():
        assert (entry.mtime, entry.uid, entry.gid, entry.uname, entry.gname) == (0, 0, 0, "", "")


def test_flux_push_exclusions_leave_out_git_metadata_images_and_archives(tmp_path: Path) -> None:
    write_manifests(tmp_path)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (tmp_path / ".gitignore").write_text("*.tmp\n")
    (tmp_path / "apps" / "logo.png").write_bytes(b"\x89PNG")
    (tmp_path / "bundle.tar.gz").write_bytes(b"\x1f\x8b")
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "ci.yaml").write_text("on: push\n")

    entries = set(members(pack_artifact(tmp_path).tarball))
    assert entries == {
        "apps",
        "apps/web.yaml",
        "kustomization.yaml",
        ".github",
        ".github/ci.yaml",
    }, "flux push artifact leaves out only its own list, not the source reconcilers' CI folders"


def test_ignore_paths_replace_the_defaults(tmp_path: Path) -> None:
    write_manifests(tmp_path)
    (tmp_path / ".gitignore").write_text("*.tmp\n")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "token.yaml").write_text("kind: Secret\n")

    packed = pack_artifact(tmp_path, PackOptions(ignore_paths=("secrets/",)))
    assert set(members(packed.tarball)) == {
        ".gitignore",
        "apps",
        "apps/web.yaml",
        "kustomization.yaml",
    }
    assert ".git/" in FLUX_PUSH_EXCLUSIONS


def test_a_single_file_is_packed_alone_under_its_name(tmp_path: Path) -> None:
    write_manifests(tmp_path)
    packed = pack_artifact(tmp_path / "apps" / "web.yaml")
    entries = members(packed.tarball)
    assert list(entries) == ["web.yaml"]
    assert packed.content_bytes == len("kind: Deployment\n")


def test_links_are_left_out_and_reported_as_flux_extraction_refuses_them(tmp_path: Path) -> None:
    write_manifests(tmp_path)
    (tmp_path / "alias.yaml").symlink_to("kustomization.yaml")
    packed = pack_artifact(tmp_path)
    assert "alias.yaml" not in members(packed.tarball)
    assert packed.warnings == (
        "alias.yaml: link to kustomization.yaml; left out, Flux artifacts hold no links",
    )


def test_content_over_the_limit_is_refused(tmp_path: Path) -> None:
    write_manifests(tmp_path)
    with pytest.raises(TooLarge):
        pack_artifact(tmp_path, PackOptions(max_content_bytes=10))
