"""Pure parts of the control plane build and orchestration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lockstep.dev import cluster, toolchain


def test_pinned_kubernetes_version_is_a_release() -> None:
    version = toolchain.kubernetes_version()
    major, minor, patch = version.lstrip("v").split(".")
    assert (int(major), int(minor)) >= (1, 34)
    assert patch.isdigit()


def test_version_is_stamped_into_the_binaries() -> None:
    flags = toolchain._version_ldflags("v1.36.3")
    assert "-X k8s.io/component-base/version.gitVersion=v1.36.3" in flags
    assert "-X k8s.io/component-base/version.gitMinor=36" in flags
    assert "-X k8s.io/client-go/pkg/version.gitMajor=1" in flags


def test_cache_folder_follows_the_cache_root_and_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCKSTEP_CACHE_DIR", str(tmp_path))
    folder = toolchain.binaries_directory()
    assert folder.parent == tmp_path / "controlplane"
    assert folder.name.startswith(toolchain.kubernetes_version() + "-")
    assert toolchain.cached_binaries() is None


def test_kwokctl_error_picks_the_last_error_record() -> None:
    output = "\n".join(
        json.dumps(record)
        for record in (
            {"level": "INFO", "msg": "Cluster is creating"},
            {"level": "ERROR", "msg": "Failed to start cluster", "err": "port 46443 is in use"},
            {"level": "INFO", "msg": "Cleaning up"},
        )
    )
    assert cluster._kwokctl_error(output) == "Failed to start cluster: port 46443 is in use"
    assert cluster._kwokctl_error("plain failure\n") == "plain failure"
    assert cluster._kwokctl_error("") == "no output"


def test_state_root_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCKSTEP_STATE_DIR", str(tmp_path))
    local = cluster.LocalCluster("demo")
    assert local.kubeconfig == tmp_path / "clusters" / "demo" / "kubeconfig"
    assert not local.exists()
