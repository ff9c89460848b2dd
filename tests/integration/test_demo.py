"""``lockstep dev demo`` (``make demo``) brings every example Kustomization to Ready."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration

DEMO_SECONDS = 600
"""How long the demo may take to reach Ready; the test's own time limit is above it."""

STOP_SECONDS = 30
"""How long the demo may take to stop its servers and engine after SIGTERM."""


def _run_demo(command: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run the demo; past the time limit, stop it with SIGTERM so that it stops the Git
    servers it started (a SIGKILL would leave them running), then report the timeout."""
    demo = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        output, _ = demo.communicate(timeout=DEMO_SECONDS)
    except subprocess.TimeoutExpired:
        demo.send_signal(signal.SIGTERM)
        try:
            output, _ = demo.communicate(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            demo.kill()
            output, _ = demo.communicate()
        pytest.fail(f"the demo was not Ready within {DEMO_SECONDS} s: {output[-2000:]}")
    return demo.returncode, output


@pytest.mark.timeout(DEMO_SECONDS + STOP_SECONDS + 60)
def test_demo_reaches_ready_then_exits(tmp_path: Path) -> None:
    env = {**os.environ, "LOCKSTEP_STATE_DIR": str(tmp_path / "state")}
    lockstep = [sys.executable, "-m", "lockstep", "dev"]
    try:
        returncode, output = _run_demo(
            [*lockstep, "demo", "--name", "lockstep-demo-test", "--port", "0", "--exit-when-ready"],
            env,
        )
        assert returncode == 0, output[-4000:]
        assert "every Kustomization is Ready" in output
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
