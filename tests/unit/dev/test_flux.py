"""Pure parts of building and running Flux's controllers (the real-Flux oracle)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockstep.dev import flux


def test_both_controllers_are_pinned_to_releases_this_go_builds() -> None:
    versions = flux.flux_versions()
    assert set(versions) == {"source-controller", "kustomize-controller"}
    for version in versions.values():
        major, minor, patch = version.lstrip("v").split(".")
        assert (int(major), int(minor)) >= (1, 9)
        assert patch.isdigit()
    go_mod = (flux.FLUX_MODULE / "go.mod").read_text()
    assert "\ngo 1.26" in go_mod
    assert "toolchain" not in go_mod


def test_cache_folder_names_both_versions_and_the_pins_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCKSTEP_CACHE_DIR", str(tmp_path))
    folder = flux.binaries_directory()
    versions = flux.flux_versions()
    assert folder.parent == tmp_path / "flux"
    assert folder.name.startswith(
        f"source-{versions['source-controller']}-kustomize-{versions['kustomize-controller']}-"
    )
    assert len(folder.name.rsplit("-", 1)[1]) == 12
    assert flux.cached_binaries() is None


def test_a_complete_cache_folder_is_used_as_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCKSTEP_CACHE_DIR", str(tmp_path))
    folder = flux.binaries_directory()
    folder.mkdir(parents=True)
    (folder / "source-controller").write_text("")
    assert flux.cached_binaries() is None
    (folder / "kustomize-controller").write_text("")
    found = flux.ensure_binaries(lambda *_progress: pytest.fail("nothing is to be built"))
    assert found.path("kustomize-controller") == folder / "kustomize-controller"
    assert found.versions == flux.flux_versions()


def test_every_listener_of_a_run_is_on_loopback_and_distinct(tmp_path: Path) -> None:
    binaries = flux.FluxBinaries(tmp_path, flux.flux_versions())
    controllers = flux.FluxControllers(binaries, tmp_path / "kubeconfig", tmp_path / "run")
    addresses = list(vars(controllers.addresses).values())
    assert all(address.startswith("127.0.0.1:") for address in addresses)
    assert len(set(addresses)) == len(addresses)
    assert controllers.log("source-controller") == tmp_path / "run" / "source-controller.log"


def test_the_source_controller_can_run_alone_but_only_flux_controllers_run(
    tmp_path: Path,
) -> None:
    binaries = flux.FluxBinaries(tmp_path, flux.flux_versions())
    alone = flux.FluxControllers(
        binaries, tmp_path / "kubeconfig", tmp_path, controllers=("source-controller",)
    )
    assert alone.controllers == ("source-controller",)
    with pytest.raises(ValueError, match="no Flux controller named helm-controller"):
        flux.FluxControllers(
            binaries, tmp_path / "kubeconfig", tmp_path, controllers=("helm-controller",)
        )
