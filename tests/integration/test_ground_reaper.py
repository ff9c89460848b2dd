"""The test ground's reaper: what a pytest run started dies with it, even with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ground.reaper import MARK

pytestmark = pytest.mark.integration

INNER = """
import subprocess, time

def test_starts_a_server_and_is_killed(tmp_path):
    child = subprocess.Popen(["sleep", "300"], start_new_session=True)
    (tmp_path.parent.parent / "child.pid").write_text(str(child.pid))
    time.sleep(300)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_killed_run_leaves_no_process_behind(tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text(INNER)
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["ground.reaper"]\n')
    environment = {key: value for key, value in os.environ.items() if key != MARK}
    environment["PYTHONPATH"] = str(Path(__file__).parent.parent)
    base = tmp_path / "base"
    inner = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--basetemp={base}",
            str(tmp_path / "test_inner.py"),
        ],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pid_file = tmp_path / "child.pid"
    deadline = time.monotonic() + 60
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    child = int(pid_file.read_text())
    assert _alive(child)

    inner.send_signal(signal.SIGKILL)
    inner.wait()

    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child), "the server the killed run started is still running"
