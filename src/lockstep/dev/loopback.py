"""Server processes on 127.0.0.1 for the sandbox and the test ground.

`LoopbackProcess` runs one server process in its own process group and stops it with
every child it spawned (lighttpd forks a CGI per request, git daemon a process per
connection). Used by :mod:`lockstep.dev.gitserver` and :mod:`lockstep.dev.registry`.
Port polling and process-group handling take a few lines of the standard library, so
no process-management dependency is added for them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Self

LOOPBACK = "127.0.0.1"
START_TIMEOUT_SECONDS = 10.0
STOP_GRACE_SECONDS = 5.0


class ServerStartError(RuntimeError):
    """A loopback server exited or did not answer in time; the message names its log."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def free_ports(count: int) -> list[int]:
    """Return ``count`` different TCP ports on 127.0.0.1 that nothing listens on right now."""
    with contextlib.ExitStack() as held:
        probes = [
            held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            for _ in range(count)
        ]
        for probe in probes:
            probe.bind((LOOPBACK, 0))
        return [int(probe.getsockname()[1]) for probe in probes]


def port_answers(port: int) -> bool:
    """Tell whether a TCP connection to 127.0.0.1:port is accepted."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            return True
    except OSError:
        return False


class LoopbackProcess:
    """One server process in its own process group, its output appended to a log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, ready: Callable[[], bool], timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Start the process and return once `ready` is true; stop it and raise otherwise."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not ready():
            code = self._process.poll()
            if code is not None:
                self.stop()
                raise ServerStartError(
                    f"{self.name} exited with code {code} before answering; see {self.log_path}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ServerStartError(
                    f"{self.name} did not answer within {timeout:g}s; see {self.log_path}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        """Terminate the process group, escalating to SIGKILL after a grace period."""
        if self._process is None:
            return
        group = self._process.pid  # leader of the session started for it
        _signal_group(group, signal.SIGTERM)
        try:
            self._process.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            _signal_group(group, signal.SIGKILL)
            self._process.wait()
        # Children (CGI scripts, per-connection daemons) can outlive the leader; the
        # group id cannot be reused while any of them is alive, so this reaches only them.
        _signal_group(group, signal.SIGKILL)
        self._process = None


def _signal_group(group: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signum)


class LoopbackServer(ABC):
    """A server on 127.0.0.1 that is also a context manager: started on enter, stopped on exit."""

    @abstractmethod
    def start(self) -> None:
        """Start serving; return once the server answers."""

    @abstractmethod
    def stop(self) -> None:
        """Stop serving and leave no process or listening port behind."""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
