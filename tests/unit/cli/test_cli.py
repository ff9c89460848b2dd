"""The lockstep command's surface: version, help with examples, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from lockstep import __version__


def lockstep(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lockstep", *args], capture_output=True, text=True, timeout=60
    )


def test_version() -> None:
    result = lockstep("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"lockstep {__version__}"


def test_every_command_has_help_with_an_example() -> None:
    for command in (
        ["install"],
        ["dev", "cluster", "up"],
        ["dev", "cluster", "down"],
        ["dev", "cluster", "status"],
        ["dev", "cluster", "kubeconfig"],
        ["dev", "cluster", "build"],
    ):
        result = lockstep(*command, "--help")
        assert result.returncode == 0, result.stderr
        assert "Example" in result.stdout, command


def test_export_prints_crds_without_a_cluster() -> None:
    result = lockstep("install", "--crds", "--export")
    assert result.returncode == 0, result.stderr
    kinds = {doc["kind"] for doc in yaml.safe_load_all(result.stdout) if doc}
    assert kinds == {"CustomResourceDefinition"}


def test_missing_kubeconfig_is_one_line_without_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    result = lockstep("--kubeconfig", str(missing), "install", "--crds")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: cannot use kubeconfig")
    assert str(missing) in result.stderr


def test_unreachable_api_server_names_the_server(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    result = lockstep("--kubeconfig", str(kubeconfig), "install", "--crds")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "cannot reach the Kubernetes API at http://127.0.0.1:9" in result.stderr


def test_install_export_needs_no_cluster_and_marks_what_must_never_be_pruned() -> None:
    result = lockstep("install", "--export", "--image", "example.com/lockstep:1")
    assert result.returncode == 0, result.stderr
    documents = list(yaml.safe_load_all(result.stdout))
    protected = {
        doc["kind"]
        for doc in documents
        if doc["metadata"].get("annotations", {}).get("kustomize.toolkit.fluxcd.io/prune")
        == "disabled"
    }
    assert protected == {"CustomResourceDefinition", "Namespace"}
    deployment = next(doc for doc in documents if doc["kind"] == "Deployment")
    assert (
        deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "example.com/lockstep:1"
    )
