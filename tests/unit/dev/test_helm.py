"""Pure parts of building the real helm command (the Helm oracle of the test ground)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockstep.dev import helm


def test_helm_is_pinned_to_a_release_this_go_builds() -> None:
    major, minor, patch = helm.helm_version().lstrip("v").split(".")
    assert (int(major), int(minor)) >= (4, 3)
    assert patch.isdigit()
    go_mod = (helm.HELM_MODULE / "go.mod").read_text()
    assert "\ngo 1.26" in go_mod
    assert "toolchain" not in go_mod
    assert "tool helm.sh/helm/v4/cmd/helm\n" in go_mod


def test_cache_folder_names_the_version_and_the_pins_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCKSTEP_CACHE_DIR", str(tmp_path))
    folder = helm.binaries_directory()
    assert folder.parent == tmp_path / "helm"
    version, digest = folder.name.rsplit("-", 1)
    assert version == helm.helm_version()
    assert len(digest) == 12
    assert helm.cached_helm() is None


def test_a_built_binary_is_used_as_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCKSTEP_CACHE_DIR", str(tmp_path))
    folder = helm.binaries_directory()
    folder.mkdir(parents=True)
    (folder / "helm").write_text("")
    found = helm.ensure_helm(lambda *_progress: pytest.fail("nothing is to be built"))
    assert found == folder / "helm"
