"""The local control plane is a real, working Kubernetes: scheduler, controllers, kwok nodes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ground.wait import eventually
from lockstep.kube import KubeClient, NotFound, ObjectRef

pytestmark = pytest.mark.integration


def _condition(obj: dict[str, Any], kind: str) -> str:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return str(condition.get("status"))
    return ""


async def test_deployment_becomes_available(kube: KubeClient, namespace: str) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    }
    await kube.apply(deployment)
    ref = ObjectRef.of(deployment)

    live = await eventually(
        lambda: kube.get(ref),
        lambda d: _condition(d, "Available") == "True" and d["status"].get("readyReplicas") == 2,
        what="Deployment web Available with 2 ready replicas",
    )
    assert live["status"]["availableReplicas"] == 2
    pods = await kube.list("v1", "Pod", namespace=namespace, labels={"app": "web"})
    assert len(pods) == 2
    assert all(pod["spec"]["nodeName"] == "kwok-node-0" for pod in pods)
    assert all(_condition(pod, "Ready") == "True" for pod in pods)


async def test_deleted_namespace_disappears(kube: KubeClient) -> None:
    name = "t-doomed"
    await kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": name},
            "data": {"colour": "blue"},
        }
    )
    await kube.delete(ObjectRef("v1", "Namespace", name))

    async def namespace_gone() -> bool:
        try:
            await kube.get(ObjectRef("v1", "Namespace", name))
        except NotFound:
            return True
        return False

    await eventually(
        namespace_gone, bool, what=f"namespace {name} deleted by the namespace controller"
    )


def _lockstep(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lockstep", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def _processes_of(workdir: Path) -> list[str]:
    """Live processes whose command line mentions the cluster's working folder."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(workdir) in cmdline and state != "Z":
            found.append(cmdline)
    return found


def test_cluster_command_up_twice_then_down(tmp_path: Path) -> None:
    env = {**os.environ, "LOCKSTEP_STATE_DIR": str(tmp_path / "state")}
    name = ["--name", "lockstep-cli"]

    first = _lockstep("dev", "cluster", "up", *name, "--port", "0", env=env)
    assert first.returncode == 0, first.stderr
    assert "is up: Kubernetes v1." in first.stdout
    second = _lockstep("dev", "cluster", "up", *name, "--port", "0", env=env)
    assert second.returncode == 0, second.stderr
    assert "1 node(s) Ready" in second.stdout

    status = _lockstep("dev", "cluster", "status", *name, env=env)
    assert status.returncode == 0, status.stdout
    assert "running" in status.stdout
    kubeconfig = _lockstep("dev", "cluster", "kubeconfig", *name, env=env).stdout.strip()
    assert Path(kubeconfig).is_file()
    assert _processes_of(tmp_path / "state"), "the cluster should have running processes"
    server = yaml.safe_load(Path(kubeconfig).read_text())["clusters"][0]["cluster"]["server"]
    port = int(server.rsplit(":", 1)[1])

    down = _lockstep("dev", "cluster", "down", *name, env=env)
    assert down.returncode == 0, down.stderr
    assert _processes_of(tmp_path / "state") == []
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert not Path(kubeconfig).exists()
    after = _lockstep("dev", "cluster", "status", *name, env=env)
    assert after.returncode == 1
    assert "not created" in after.stdout
