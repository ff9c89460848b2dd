"""``lockstep uninstall`` on a cluster of its own (it deletes the CRDs, which the other
tests' cluster needs): the engine, the CRDs and the namespace go, the objects a
Kustomization applied stay, and ``--dry-run`` changes nothing."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ground.engine import lockstep_command
from lockstep.dev.cluster import LocalCluster

pytestmark = pytest.mark.integration

KUSTOMIZATION = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
  finalizers: [finalizers.fluxcd.io]
spec:
  interval: 10m
  path: ./apps
  prune: true
  sourceRef: {kind: GitRepository, name: fleet}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: applied
  namespace: default
  labels:
    kustomize.toolkit.fluxcd.io/name: apps
    kustomize.toolkit.fluxcd.io/namespace: flux-system
data: {colour: blue}
"""


@pytest.fixture(scope="module")
def own_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    cluster = LocalCluster(
        "lockstep-uninstall", port=0, state=tmp_path_factory.mktemp("uninstall-cluster")
    )
    cluster.up(lambda _message: None, lambda *_progress: None)
    try:
        yield cluster
    finally:
        cluster.down()


def run(kubeconfig: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        lockstep_command(kubeconfig, *args),
        capture_output=True,
        text=True,
        timeout=300,
        input=stdin,
        check=False,
    )


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        input=stdin,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_uninstall_keeps_what_was_applied(own_cluster: LocalCluster) -> None:
    kubeconfig = own_cluster.kubeconfig
    installed = run(kubeconfig, "install", "--image", "lockstep:test")
    assert installed.returncode == 0, installed.stderr
    kubectl(kubeconfig, "apply", "-f", "-", stdin=KUSTOMIZATION)
    # As if Argo CD had installed its own: a CRD without lockstep's label is left alone.
    kubectl(kubeconfig, "label", "crd", "appprojects.argoproj.io", "lockstep.io/reconciled-")

    dry = run(kubeconfig, "uninstall", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "delete Deployment/flux-system/lockstep" in dry.stdout
    assert "remove the finalizers of Kustomization/flux-system/apps" in dry.stdout
    assert (
        "delete CustomResourceDefinition/kustomizations.kustomize.toolkit.fluxcd.io" in dry.stdout
    )
    assert "delete Namespace/flux-system" in dry.stdout
    assert "appprojects.argoproj.io" not in dry.stdout
    assert "kustomizations" in kubectl(kubeconfig, "get", "crd")

    unasked = run(kubeconfig, "uninstall")
    assert unasked.returncode == 2
    assert "add --silent" in unasked.stderr

    done = run(kubeconfig, "uninstall", "--silent")
    assert done.returncode == 0, done.stderr
    crds = kubectl(kubeconfig, "get", "crd", "-o", "name")
    assert "toolkit.fluxcd.io" not in crds
    assert "applications.argoproj.io" not in crds
    assert "customresourcedefinition.apiextensions.k8s.io/appprojects.argoproj.io" in crds
    namespaces = kubectl(kubeconfig, "get", "ns", "-o", "name")
    assert "namespace/flux-system" not in namespaces
    assert "lockstep" not in kubectl(kubeconfig, "get", "clusterrolebinding", "-o", "name")
    assert "applied" in kubectl(
        kubeconfig, "get", "configmap", "applied", "-n", "default", "-o", "name"
    )
