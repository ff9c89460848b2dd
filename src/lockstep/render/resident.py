"""Pools of resident Go programs that answer one JSON line per JSON line: the machinery
shared by the Kustomize build service (:mod:`lockstep.render.kustomizer`) and the Helm
rendering service (:mod:`lockstep.render.helm`).

Starting a Go program costs tens of milliseconds of CPU, most of a small build's cost;
a program kept running answers the same request in a couple. :class:`ResidentPool`
keeps up to ``processes`` of one program, each answering one request at a time (the
Go libraries they run are not safe for concurrent use), started on demand:

- :meth:`ResidentPool.ask` hands a request to an idle process and returns its answer
  (a JSON object); what the program refused is the caller's to interpret;
- a request not answered by its deadline kills its process group (a new process starts
  for the next request) and raises :class:`BuildDeadline`; a process that dies is
  replaced the same way, and its request fails naming the exit, with the service's own
  failure class (:attr:`Service.failed`);
- every process is bounded by the engine's :class:`~lockstep.render.process.BuildLimits`
  (:mod:`lockstep.render.process`): a request that goes past the memory limit, or past
  the CPU time one request may use, ends its process and raises
  :class:`~lockstep.render.process.LimitExceeded` ("exceeded the build memory limit of
  1024 MiB"); an answer longer than :data:`MAX_ANSWER_BYTES` does too, so the engine
  never holds more of one answer than that. Other processes, and the requests after,
  are not affected;
- the processes end with the engine: they read requests from a pipe and exit when
  it closes.

Thread-safe: requests come from the reconcilers' thread pool. A service subclasses
:class:`ResidentPool` with its typed verbs.
"""

from __future__ import annotations

import json
import os
import queue
import select
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from lockstep.render.process import (
    CPU_LIMIT_EXIT,
    BuildLimits,
    LimitExceeded,
    allow_cpu,
    cpu_exceeded,
    exceeded_memory,
    kill_group,
    memory_exceeded,
    start_bounded,
)

GO_SOFT_MEMORY_SHARE = 0.75
"""The share of the memory limit given to a service's Go runtime as its soft limit
(``GOMEMLIMIT``): a large build's garbage is collected before the kernel's limit is met."""

MAX_ANSWER_BYTES = 64 * 1024 * 1024
"""The longest answer read from a request: 64 MiB of YAML (as JSON), far beyond what the
API server would take from one Kustomization or Helm release (1.5 MiB an object)."""

_STDERR_CHUNK_BYTES = 65536
_STDERR_CARRIED_BYTES = 128


class BuildDeadline(Exception):
    """The request did not finish by its deadline."""


@dataclass(frozen=True)
class Service:
    """How a resident program is named in its failures."""

    what: str
    """The service, as a message names it: ``the Kustomize build service``."""

    task: str
    """One request, as a message names it: ``build``, ``render``."""

    failed: type[Exception]
    """Raised when the service cannot start or ends without an answer: not the request's
    fault, so another try may succeed."""


class ResidentPool:
    """A pool of processes of one program; see the module docstring."""

    def __init__(
        self, program: Path, processes: int, limits: BuildLimits | None, service: Service
    ) -> None:
        self._program = program
        self._limits = limits or BuildLimits()
        self._service = service
        self._idle: queue.LifoQueue[_Process] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(processes)
        self._lock = threading.Lock()
        self._all: set[_Process] = set()

    def ask(self, request: Mapping[str, Any], deadline: float) -> dict[str, Any]:
        """The program's answer to ``request``, given before ``deadline`` (a
        :func:`time.monotonic` instant)."""
        failed = self._service.failed
        line = json.dumps(request).encode() + b"\n"
        if not self._slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise BuildDeadline
        try:
            try:
                process = self._take()
            except OSError as error:
                raise failed(f"{self._service.what} cannot start: {error}") from error
            try:
                answer = process.ask(line, deadline)
            except (BuildDeadline, LimitExceeded, OSError, ValueError, failed) as error:
                self._drop(process)
                if isinstance(error, BuildDeadline | LimitExceeded | failed):
                    raise
                raise failed(f"{self._service.what} failed: {error}") from error
            self._idle.put(process)
        finally:
            self._slots.release()
        return answer

    def close(self) -> None:
        """Stop every process."""
        with self._lock:
            processes, self._all = self._all, set()
        for process in processes:
            process.stop()

    def _take(self) -> _Process:
        """An idle process that is still running, else a new one."""
        while True:
            try:
                process = self._idle.get_nowait()
            except queue.Empty:
                break
            if process.popen.poll() is None:
                return process
            self._drop(process)
        process = _Process(self._program, self._limits, self._service)
        with self._lock:
            self._all.add(process)
        return process

    def _drop(self, process: _Process) -> None:
        with self._lock:
            self._all.discard(process)
        process.stop()


class _Process:
    """One running program; one request at a time."""

    def __init__(self, program: Path, limits: BuildLimits, service: Service) -> None:
        self.limits = limits
        self.service = service
        # Go's collector works harder as the heap nears the soft limit, well before
        # the hard one of the kernel ends the process.
        soft_limit = int(limits.memory_bytes * GO_SOFT_MEMORY_SHARE)
        environment = {**os.environ, "GOMEMLIMIT": str(soft_limit)}
        self.popen = start_bounded([str(program)], limits, env=environment)
        self._pending = bytearray()
        self._stderr = _LastWords(self.popen.stderr, f"{program.name}-stderr")

    def ask(self, line: bytes, deadline: float) -> dict[str, Any]:
        """The answer to one request ``line`` (JSON and a newline)."""
        assert self.popen.stdin is not None
        allow_cpu(self.popen, self.limits.cpu_seconds)
        self.popen.stdin.write(line)
        self.popen.stdin.flush()
        answer = json.loads(self._line(deadline))
        if not isinstance(answer, dict):
            raise ValueError(f"the answer is not a JSON object: {type(answer).__name__}")
        return answer

    def _line(self, deadline: float) -> bytes:
        assert self.popen.stdout is not None
        descriptor = self.popen.stdout.fileno()
        searched = 0
        while (end := self._pending.find(b"\n", searched)) < 0:
            searched = len(self._pending)
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([descriptor], [], [], left)[0]:
                raise BuildDeadline
            chunk = os.read(descriptor, 1 << 20)
            if not chunk:
                raise self._exit_error()
            self._pending += chunk
            if len(self._pending) > MAX_ANSWER_BYTES:
                raise LimitExceeded(
                    f"printed more than the {MAX_ANSWER_BYTES // (1024 * 1024)} MiB a "
                    f"{self.service.task} may print"
                )
        line = bytes(self._pending[:end])
        del self._pending[: end + 1]
        return line

    def _exit_error(self) -> Exception:
        """Why the process ended during a request: a limit, or its exit status."""
        code = self.popen.wait()
        if code == CPU_LIMIT_EXIT:
            return cpu_exceeded(self.limits)
        if self._stderr.out_of_memory():
            return memory_exceeded(self.limits)
        what, task = self.service.what, self.service.task
        return self.service.failed(f"{what} exited ({code}) during the {task}")

    def stop(self) -> None:
        kill_group(self.popen)
        for stream in (self.popen.stdin, self.popen.stdout):
            if stream is not None:
                stream.close()
        self._stderr.join(timeout=1.0)


class _LastWords(threading.Thread):
    """Reads a process's stderr until it closes, noting whether Go said it ran out of
    memory; nothing else of it is kept (the libraries' warnings, the crash's stacks)."""

    def __init__(self, stream: IO[bytes] | None, name: str) -> None:
        super().__init__(daemon=True, name=name)
        assert stream is not None
        self._stream = stream
        self._out_of_memory = False
        self.start()

    def run(self) -> None:
        carried = b""
        with self._stream:
            while chunk := os.read(self._stream.fileno(), _STDERR_CHUNK_BYTES):
                # A message split across two reads is found whole in the carried end.
                self._out_of_memory |= exceeded_memory(carried + chunk)
                carried = chunk[-_STDERR_CARRIED_BYTES:]

    def out_of_memory(self) -> bool:
        """Whether the process ran out of memory, asked once it has ended."""
        self.join(timeout=1.0)
        return self._out_of_memory
