"""``lockstep dev demo`` (``make demo``) brings every example Kustomization to Ready, and
every step of the tour it then prints works as printed: a pushed image change is
applied, a manual scale is reverted, a file removed from Git is pruned.

The printed commands are run verbatim, one after another, in one shell (as a person
would paste them into a terminal), with no global Git identity.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

DEMO_SECONDS = 600
"""How long the demo may take to reach Ready; the test's own time limit is above it."""

STOP_SECONDS = 30
"""How long the demo may take to stop its servers and engine after SIGTERM."""

STEP_SECONDS = 90
"""How long a tour step may take to show its effect on the cluster."""

TOUR_START = "every Kustomization is Ready"
TOUR_END = "Ctrl-C stops the engine"


class Demo:
    """The demo process, its output read line by line as it comes."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def until(self, marker: str, seconds: float) -> list[str]:
        """The lines printed until one containing ``marker`` (included)."""
        deadline = time.monotonic() + seconds
        seen: list[str] = []
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                pytest.fail(f"the demo exited before {marker!r}: {''.join(self.output)[-3000:]}")
            self.output.append(line)
            seen.append(line)
            if marker in line:
                return seen
        pytest.fail(
            f"the demo did not print {marker!r} in {seconds} s: {''.join(self.output)[-3000:]}"
        )

    def stop(self) -> int:
        """SIGTERM, so that it stops the Git servers it started; the exit code."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


class Terminal:
    """One bash session that runs the tour's commands in order, as pasted."""

    def __init__(self, env: dict[str, str]) -> None:
        self.shell = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )

    def run(self, command: str) -> tuple[int, str]:
        assert self.shell.stdin is not None
        assert self.shell.stdout is not None
        marker = f"__done_{time.monotonic_ns()}__"
        self.shell.stdin.write(f"{command}\necho {marker} $?\n")
        self.shell.stdin.flush()
        output: list[str] = []
        for line in self.shell.stdout:
            if line.startswith(marker):
                return int(line.split()[1]), "".join(output)
            output.append(line)
        pytest.fail(f"the shell ended while running {command!r}: {''.join(output)}")

    def close(self) -> None:
        self.shell.kill()
        self.shell.wait()


def tour_commands(lines: list[str]) -> list[str]:
    """The commands of the printed tour: indented lines that are not comments."""
    return [
        line.strip() for line in lines if line.startswith("  ") and not line.strip().startswith("#")
    ]


def kubectl_json(kubeconfig: Path, *args: str) -> dict[str, object]:
    listed = subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), *args, "-o", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(listed.stdout)
    return result


def eventually(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + STEP_SECONDS
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    pytest.fail(f"not within {STEP_SECONDS} s: {what}")


def web_deployment(kubeconfig: Path) -> dict[str, object]:
    return kubectl_json(kubeconfig, "-n", "demo-production", "get", "deploy", "web")


def web_image(kubeconfig: Path) -> str:
    spec = web_deployment(kubeconfig)["spec"]
    assert isinstance(spec, dict)
    return str(spec["template"]["spec"]["containers"][0]["image"])


def web_replicas(kubeconfig: Path) -> int:
    spec = web_deployment(kubeconfig)["spec"]
    assert isinstance(spec, dict)
    return int(spec["replicas"])


def greetings(kubeconfig: Path) -> list[object]:
    items = kubectl_json(kubeconfig, "get", "greetings", "-A")["items"]
    assert isinstance(items, list)
    return items


@pytest.fixture
def demo_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    # No Git identity but the one the demo's working copy sets; the same caches (HOME).
    env = {
        **os.environ,
        "LOCKSTEP_STATE_DIR": str(tmp_path / "state"),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    for variable in ("KUBECONFIG", "GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME", "EMAIL"):
        env.pop(variable, None)
    try:
        yield env
    finally:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "lockstep",
                "dev",
                "cluster",
                "down",
                "--name",
                "lockstep-demo-test",
            ],
            env=env,
            check=False,
        )


@pytest.mark.timeout(DEMO_SECONDS + 4 * STEP_SECONDS + STOP_SECONDS + 120)
def test_demo_reaches_ready_and_its_tour_works_as_printed(
    tmp_path: Path, demo_env: dict[str, str]
) -> None:
    demo = Demo(
        [
            sys.executable,
            "-m",
            "lockstep",
            "dev",
            "demo",
            "--name",
            "lockstep-demo-test",
            "--port",
            "0",
        ],
        demo_env,
    )
    terminal = Terminal(demo_env)
    try:
        demo.until(TOUR_START, DEMO_SECONDS)
        commands = tour_commands(demo.until(TOUR_END, 10))
        kubeconfig = tmp_path / "state" / "clusters" / "lockstep-demo-test" / "kubeconfig"
        listed = kubectl_json(kubeconfig, "get", "deploy", "-A")["items"]
        assert isinstance(listed, list)
        replicas = {
            (d["metadata"]["namespace"], d["metadata"]["name"]): d["spec"]["replicas"]
            for d in listed
        }
        assert replicas == {("demo-staging", "web"): 1, ("demo-production", "web"): 3}
        assert len(greetings(kubeconfig)) == 2

        effects: dict[str, tuple[str, Callable[[], bool]]] = {
            "nginx:1.28": (
                "the new image is applied",
                lambda: web_image(kubeconfig) == "nginx:1.28",
            ),
            "--replicas=5": ("the manual scale is reverted", lambda: web_replicas(kubeconfig) == 3),
            "git rm": ("the removed greeting is pruned", lambda: greetings(kubeconfig) == []),
        }
        checked = []
        for command in commands:
            returncode, output = terminal.run(command)
            assert returncode == 0, f"{command!r} failed: {output}"
            for key, (what, check) in effects.items():
                if key in command:
                    eventually(what, check)
                    checked.append(key)
        assert checked == list(effects), f"the tour no longer shows every effect: {commands}"
        assert web_replicas(kubeconfig) == 3
    finally:
        terminal.close()
        returncode = demo.stop()
    assert returncode == 0, "".join(demo.output)[-4000:]
