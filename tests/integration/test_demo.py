"""``lockstep dev demo`` (``make demo``) brings every example Kustomization to Ready."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration


def test_demo_reaches_ready_then_exits(tmp_path: Path) -> None:
    env = {**os.environ, "LOCKSTEP_STATE_DIR": str(tmp_path / "state")}
    lockstep = [sys.executable, "-m", "lockstep", "dev"]
    try:
        demo = subprocess.run(
            [*lockstep, "demo", "--name", "lockstep-demo-test", "--port", "0", "--exit-when-ready"],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
        assert "every Kustomization is Ready" in demo.stdout
        kubeconfig = tmp_path / "state" / "clusters" / "lockstep-demo-test" / "kubeconfig"
        listed = subprocess.run(
            ["kubectl", "--kubeconfig", str(kubeconfig), "get", "deploy", "-A", "-o", "yaml"],
            capture_output=True,
            text=True,
            check=True,
        )
        replicas = {
            (d["metadata"]["namespace"], d["metadata"]["name"]): d["spec"]["replicas"]
            for d in yaml.safe_load(listed.stdout)["items"]
        }
        assert replicas == {("demo-staging", "web"): 1, ("demo-production", "web"): 3}
    finally:
        subprocess.run(
            [*lockstep, "cluster", "down", "--name", "lockstep-demo-test"], env=env, check=False
        )
