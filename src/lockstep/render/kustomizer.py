"""The resident Kustomize build service: kustomization folders built as Flux builds them,
in long-running processes, instead of one ``kubectl kustomize`` per build.

Starting ``kubectl kustomize`` costs about 50 ms of CPU per build, which on a monorepo
of a thousand folders is most of a reconciliation's cost; the same build in a running
process costs a couple of milliseconds. The program is the Go module in
``gomod/kustomizer``: Kustomize's library run as Flux's kustomize-controller runs it
(its options, and its file system confined to the artifact root from
``github.com/fluxcd/pkg/kustomize``, at the versions Flux pins), so a build reads what
Flux's reads (any file under the artifact root, nothing outside it) and prints what it
prints; its docstring says where it departs from Flux's build function (the OpenAPI
schema is reset only around the builds that change it). Built once from its pinned
``go.sum`` and cached (:mod:`lockstep.gobuild`); ``make install`` and ``lockstep run``
build it ahead of the first build.

:class:`Kustomizer` keeps up to ``processes`` of them, each building one folder at a
time (Kustomize's library is not safe for concurrent builds), started on demand:

- :meth:`Kustomizer.build` hands a folder and its artifact root to an idle process and
  returns what Kustomize printed, or raises :class:`KustomizeError` with its message;
- a build not answered by its deadline kills its process group (a new process starts
  for the next build) and raises :class:`BuildDeadline`; a process that dies is
  replaced the same way, and its build fails naming the exit;
- every process is bounded by the engine's :class:`~lockstep.render.process.BuildLimits`
  (:mod:`lockstep.render.process`): a build that goes past the memory limit, or past
  the CPU time one build may use, ends its process and raises
  :class:`~lockstep.render.process.LimitExceeded` ("exceeded the build memory limit of
  1024 MiB"); an answer longer than :data:`MAX_ANSWER_BYTES` does too, so the engine
  never holds more of a build's output than that. Other processes, and the builds
  after, are not affected;
- the processes end with the engine: they read requests from a pipe and exit when
  it closes.

:func:`shared_kustomizer` is the one pool of the engine (one process per core, at
most four, bounded by :func:`lockstep.render.process.build_limits`), used by
:mod:`lockstep.render.kustomize`. Thread-safe: builds run in the reconcilers' thread
pool.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import select
import threading
import time
from pathlib import Path
from typing import IO

from lockstep.gobuild import built_program
from lockstep.render.process import (
    CPU_LIMIT_EXIT,
    BuildLimits,
    LimitExceeded,
    allow_cpu,
    build_limits,
    cpu_exceeded,
    exceeded_memory,
    kill_group,
    memory_exceeded,
    start_bounded,
)

PROGRAM_MODULE = Path(__file__).parent / "gomod" / "kustomizer"
WHAT = "the Kustomize build service"
MAX_PROCESSES = 4

MAX_ANSWER_BYTES = 64 * 1024 * 1024
"""The longest answer read from a build: 64 MiB of YAML (as JSON), far beyond what the
API server would take from one Kustomization (1.5 MiB an object)."""

_STDERR_CHUNK_BYTES = 65536
_STDERR_CARRIED_BYTES = 128


class KustomizeError(Exception):
    """Kustomize refused the build; the message is Kustomize's."""


class ServiceFailed(KustomizeError):
    """The build service could not start, or ended without an answer: not the build's
    fault, so another try may succeed."""


class BuildDeadline(Exception):
    """The build did not finish by its deadline."""


def kustomizer_program() -> Path:
    """The built program, built first when not cached (raises
    :class:`lockstep.gobuild.GoBuildError`)."""
    return built_program(PROGRAM_MODULE, "kustomizer", WHAT)


class _Process:
    """One running program; one request at a time."""

    def __init__(self, program: Path, limits: BuildLimits) -> None:
        self.limits = limits
        self.popen = start_bounded([str(program)], limits)
        self._pending = bytearray()
        self._stderr = _LastWords(self.popen.stderr)

    def ask(self, folder: Path, root: Path, schema: bool, deadline: float) -> dict[str, str]:
        assert self.popen.stdin is not None
        request = {"root": str(root), "dir": str(folder), "schema": schema}
        allow_cpu(self.popen, self.limits.cpu_seconds)
        self.popen.stdin.write(json.dumps(request).encode() + b"\n")
        self.popen.stdin.flush()
        return json.loads(self._line(deadline))  # type: ignore[no-any-return]

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
                    f"printed more than the {MAX_ANSWER_BYTES // (1024 * 1024)} MiB a build "
                    "may print"
                )
        line = bytes(self._pending[:end])
        del self._pending[: end + 1]
        return line

    def _exit_error(self) -> Exception:
        """Why the process ended during a build: a limit, or its exit status."""
        code = self.popen.wait()
        if code == CPU_LIMIT_EXIT:
            return cpu_exceeded(self.limits)
        if self._stderr.out_of_memory():
            return memory_exceeded(self.limits)
        return ServiceFailed(f"the Kustomize build service exited ({code}) during the build")

    def stop(self) -> None:
        kill_group(self.popen)
        for stream in (self.popen.stdin, self.popen.stdout):
            if stream is not None:
                stream.close()
        self._stderr.join(timeout=1.0)


class _LastWords(threading.Thread):
    """Reads a process's stderr until it closes, noting whether Go said it ran out of
    memory; nothing else of it is kept (Kustomize's warnings, the crash's stacks)."""

    def __init__(self, stream: IO[bytes] | None) -> None:
        super().__init__(daemon=True, name="kustomizer-stderr")
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


class Kustomizer:
    """A pool of build processes; see the module docstring."""

    def __init__(self, program: Path, processes: int, limits: BuildLimits | None = None) -> None:
        self._program = program
        self._limits = limits or BuildLimits()
        self._idle: queue.LifoQueue[_Process] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(processes)
        self._lock = threading.Lock()
        self._all: set[_Process] = set()

    def build(self, folder: Path, root: Path, deadline: float, *, schema: bool = False) -> str:
        """What Kustomize prints for ``folder``, reading only under ``root``, built
        before ``deadline`` (a :func:`time.monotonic` instant); ``schema``: the build's
        kustomizations change Kustomize's OpenAPI schema (``openapi``, ``crds``)."""
        if not self._slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise BuildDeadline
        try:
            try:
                process = self._take()
            except OSError as error:
                raise ServiceFailed(f"the Kustomize build service cannot start: {error}") from error
            try:
                answer = process.ask(folder, root, schema, deadline)
            except (BuildDeadline, KustomizeError, LimitExceeded, OSError, ValueError) as error:
                self._drop(process)
                if isinstance(error, BuildDeadline | KustomizeError | LimitExceeded):
                    raise
                raise ServiceFailed(f"the Kustomize build service failed: {error}") from error
            self._idle.put(process)
        finally:
            self._slots.release()
        if "error" in answer:
            raise KustomizeError(answer["error"])
        return answer["output"]

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
        process = _Process(self._program, self._limits)
        with self._lock:
            self._all.add(process)
        return process

    def _drop(self, process: _Process) -> None:
        with self._lock:
            self._all.discard(process)
        process.stop()


_shared: Kustomizer | None = None
_shared_lock = threading.Lock()


def shared_kustomizer() -> Kustomizer:
    """The engine's pool: one process per core, at most :data:`MAX_PROCESSES`, each
    bounded by the engine's :func:`~lockstep.render.process.build_limits`."""
    global _shared
    with _shared_lock:
        if _shared is None:
            processes = min(MAX_PROCESSES, os.cpu_count() or 1)
            _shared = Kustomizer(kustomizer_program(), processes, build_limits())
            atexit.register(_shared.close)
        return _shared


if __name__ == "__main__":
    print(kustomizer_program())
