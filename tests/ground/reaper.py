"""Nothing a test run started outlives it, even when pytest itself is killed.

The fixtures stop what they start (control planes, Git and registry servers, engines)
when they end, but a pytest killed with SIGKILL, or by a CI runner's time limit, runs
no teardown: etcd, kube-apiserver, kwok and the engines would keep their ports and
memory until the machine stops.

At the start of a run, this plugin marks the run's environment with
``LOCKSTEP_TEST_RUN=<id>``, which every process the tests start inherits (and their
children: the control plane's components, the build services), and starts a reaper:
a small process of its own session, outside the marked environment, that waits for
pytest to exit (a pidfd, so no polling) and then kills every process whose
environment carries the mark. After a clean run there is nothing left to kill.

Run as ``python -m ground.reaper <pytest pid> <mark>``.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

MARK = "LOCKSTEP_TEST_RUN"
SWEEPS = 3
"""Sweeps after pytest exits: a process being killed may have started another."""


def pytest_configure(config: pytest.Config) -> None:
    if MARK in os.environ:
        return  # a pytest started by a test: the outer run's reaper covers it
    mark = f"{os.getpid()}-{uuid.uuid4().hex}"
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).parent.parent), *filter(None, [environment.get("PYTHONPATH")])]
    )
    subprocess.Popen(
        [sys.executable, "-m", "ground.reaper", str(os.getpid()), mark],
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    os.environ[MARK] = mark


def marked(mark: str) -> list[int]:
    """The processes whose environment carries ``mark``, this one left out."""
    needle = f"{MARK}={mark}\0".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environment = (entry / "environ").read_bytes()
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if needle in environment:
            found.append(int(entry.name))
    return found


def reap(mark: str) -> int:
    """Kill every process carrying ``mark``; how many were killed."""
    killed = 0
    for _ in range(SWEEPS):
        found = marked(mark)
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        if not found:
            break
    return killed


def main(pid: int, mark: str) -> None:
    try:
        watched = os.pidfd_open(pid)
    except ProcessLookupError:
        pass  # pytest is already gone
    else:
        select.select([watched], [], [])
    reap(mark)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
