"""``lockstep install --crds`` on the real control plane accepts Flux manifests verbatim."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ground.manifests import SAMPLE_MANIFESTS

pytestmark = pytest.mark.integration


def _run(*command: str, kubeconfig: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        timeout=120,
    )


@pytest.fixture(scope="module")
def installed(kubeconfig: Path) -> Path:
    result = _run(sys.executable, "-m", "lockstep", "install", "--crds", kubeconfig=kubeconfig)
    assert result.returncode == 0, result.stderr
    assert "CRDs installed and established" in result.stdout
    return kubeconfig


def test_install_is_repeatable(installed: Path) -> None:
    again = _run(sys.executable, "-m", "lockstep", "install", "--crds", kubeconfig=installed)
    assert again.returncode == 0, again.stderr


def test_seed_manifests_are_accepted_and_printed_with_flux_columns(installed: Path) -> None:
    _run("kubectl", "create", "namespace", "flux-system", kubeconfig=installed)
    applied = _run("kubectl", "apply", "-f", "-", kubeconfig=installed, stdin=SAMPLE_MANIFESTS)
    assert applied.returncode == 0, applied.stderr
    assert "kustomization.kustomize.toolkit.fluxcd.io/apps created" in applied.stdout

    table = _run("kubectl", "get", "kustomizations", "-n", "flux-system", kubeconfig=installed)
    assert table.returncode == 0, table.stderr
    header = table.stdout.splitlines()[0].split()
    assert header == ["NAME", "AGE", "READY", "STATUS"]
    assert table.stdout.splitlines()[1].split()[0] == "apps"

    git = _run("kubectl", "get", "gitrepositories", "-n", "flux-system", kubeconfig=installed)
    assert git.stdout.splitlines()[0].split() == ["NAME", "URL", "AGE", "READY", "STATUS"]
    assert "https://github.com/acme/infra" in git.stdout

    policy = _run(
        "kubectl",
        "get",
        "imagepolicy.v1.image.toolkit.fluxcd.io",
        "payment-service-policy",
        "-n",
        "flux-system",
        "-o",
        "yaml",
        kubeconfig=installed,
    )
    assert policy.returncode == 0, policy.stderr
    assert yaml.safe_load(policy.stdout)["spec"]["policy"] == {"semver": {"range": "^1.2.x"}}


def test_invalid_manifest_is_rejected_by_the_schema(installed: Path) -> None:
    broken = SAMPLE_MANIFESTS.split("---")[1].replace("interval: 10m", "interval: ten minutes")
    result = _run(
        "kubectl", "apply", "--dry-run=server", "-f", "-", kubeconfig=installed, stdin=broken
    )
    assert result.returncode != 0
    assert "spec.interval" in result.stderr


def test_export_prints_the_same_crds(installed: Path) -> None:
    exported = _run(
        sys.executable, "-m", "lockstep", "install", "--crds", "--export", kubeconfig=installed
    )
    documents = [d for d in yaml.safe_load_all(exported.stdout) if d]
    names = {d["metadata"]["name"] for d in documents}
    assert {
        "gitrepositories.source.toolkit.fluxcd.io",
        "ocirepositories.source.toolkit.fluxcd.io",
        "kustomizations.kustomize.toolkit.fluxcd.io",
        "imagerepositories.image.toolkit.fluxcd.io",
        "imagepolicies.image.toolkit.fluxcd.io",
        "imageupdateautomations.image.toolkit.fluxcd.io",
        "receivers.notification.toolkit.fluxcd.io",
    } <= names
    listed = _run("kubectl", "get", "crds", "-o", "name", kubeconfig=installed)
    for name in names:
        assert f"customresourcedefinition.apiextensions.k8s.io/{name}" in listed.stdout
