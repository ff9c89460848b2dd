"""``lockstep install`` (CRDs, namespace, RBAC, the engine's Deployment; --export) and
``lockstep check`` against the local control plane."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from ground.engine import lockstep_command
from ground.wait import eventually
from lockstep.kube import KubeClient, ObjectRef

pytestmark = pytest.mark.integration


def _lockstep(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        lockstep_command(kubeconfig, *args), capture_output=True, text=True, timeout=180
    )


def test_export_prints_every_manifest(kubeconfig: Path) -> None:
    exported = _lockstep(
        kubeconfig, "install", "--export", "-n", "gitops", "--image", "example.com/lockstep:1"
    )
    assert exported.returncode == 0, exported.stderr
    kinds = [doc["kind"] for doc in yaml.safe_load_all(exported.stdout)]
    assert kinds.count("CustomResourceDefinition") >= 7
    assert kinds[-4:] == ["Namespace", "ServiceAccount", "ClusterRoleBinding", "Deployment"]
    assert "example.com/lockstep:1" in exported.stdout
    assert "&id" not in exported.stdout, "no YAML anchors"


async def test_install_then_check(kube: KubeClient, kubeconfig: Path) -> None:
    before = _lockstep(kubeconfig, "check", "--pre")
    assert before.returncode == 0, before.stdout + before.stderr
    assert "Kubernetes v1." in before.stdout

    namespace = f"lockstep-{uuid.uuid4().hex[:6]}"
    try:
        installed = _lockstep(kubeconfig, "install", "-n", namespace)
        assert installed.returncode == 0, installed.stderr
        assert f"lockstep installed in namespace {namespace}" in installed.stdout
        deployment = ObjectRef("apps/v1", "Deployment", "lockstep", namespace)
        await eventually(
            lambda: kube.get(deployment),
            lambda d: (d.get("status") or {}).get("availableReplicas") == 1,
            what="the engine Deployment available",
        )
        again = _lockstep(kubeconfig, "install", "-n", namespace)
        assert again.returncode == 0, again.stderr

        checked = _lockstep(kubeconfig, "check")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "CRDs installed and Established" in checked.stdout
        assert "all checks passed" in checked.stdout
    finally:
        await kube.delete(
            ObjectRef("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", f"lockstep-{namespace}")
        )
        await kube.delete(ObjectRef("v1", "Namespace", namespace))
