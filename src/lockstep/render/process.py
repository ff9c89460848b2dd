"""The child processes of a render, bounded: memory, CPU time, and the build's deadline.

Every program a render runs reads tenant content: the resident Kustomize build service
(:mod:`lockstep.render.kustomizer`), the resident Helm rendering service
(:mod:`lockstep.render.helm`) and sops (:mod:`lockstep.render.sops`). Each is started
by :func:`start_bounded`:

- in a process group of its own, which :func:`kill_group` kills whole at the deadline;
- with ``RLIMIT_DATA`` at :attr:`BuildLimits.memory_bytes`. Not ``RLIMIT_AS``: a Go
  program reserves far more address space than it uses (the build service, idle, holds
  1.5 GiB of address space for 50 MiB resident), which ``RLIMIT_AS`` counts and
  ``RLIMIT_DATA`` does not: it counts the memory mapped writable, which is what Go's
  heap grows by (140 MiB for the idle build service, its reserved heap arena and thread
  stacks included). Past it, Go's runtime stops with "fatal error: runtime: out of
  memory", which :func:`exceeded_memory` recognises (measured: a YAML alias bomb under
  a 1 GiB limit dies within 2.5 s at 940 MiB resident, where unbounded it grew to 15 GiB);
- with ``RLIMIT_CPU``: sops is killed by the kernel after
  :attr:`BuildLimits.cpu_seconds` of CPU time; a resident process is allowed that much
  more before each build (:func:`allow_cpu`), and the build service exits with status
  :data:`CPU_LIMIT_EXIT` when the kernel tells it the time is up.

The limits are set with prlimit(2) right after the start, before the program is given
any input: what it does before is its own start-up, not the tenant's content (setting
them between fork and exec would need ``preexec_fn``, unsafe in a process with threads).
They are the engine's: :func:`set_build_limits`, by ``lockstep run``, before any build.

:func:`run_until` runs a one-shot program (sops) within the build's deadline; one that
overruns is killed and reported as ``None``. Its ``TimeoutExpired`` is swallowed here
on purpose: it holds what the program had printed, decrypted values included, and must
never become the context of an error that reaches a log or a status.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024

DEFAULT_MEMORY_MIB = 1024
"""The default build memory limit. Measured as ``RLIMIT_DATA`` counts it: the build
service maps 140 MiB writable when idle (50 MiB resident), and a build of a thousand
Deployments in one folder 190 MiB (75 MiB resident), so a GiB leaves five times that,
while a machine running the engine can spare it for each of its at most four build
processes and a sops run."""

DEFAULT_CPU_SECONDS = 60
"""The default CPU time of one build: a Kustomize build takes milliseconds to a few
seconds; a minute is far beyond any real one and stops a runaway long before it
matters to the machine."""

CPU_LIMIT_EXIT = 152
"""Exit status of the build service when its build ran out of CPU time: 128 + SIGXCPU,
as a shell reports a program ended by that signal."""

_OUT_OF_MEMORY = re.compile(
    rb"fatal error: (runtime: )?out of memory|runtime: cannot allocate memory"
    rb"|pthread_create failed: Resource temporarily unavailable"
)
"""What Go's runtime says when the memory limit refuses it more heap, or the stack of
a new thread (which ``RLIMIT_DATA`` counts too)."""


@dataclass(frozen=True)
class BuildLimits:
    """What each child process of a build may use."""

    memory_bytes: int = DEFAULT_MEMORY_MIB * MIB
    """Memory mapped writable (``RLIMIT_DATA``): the heap, thread stacks."""

    cpu_seconds: int = DEFAULT_CPU_SECONDS
    """CPU time of one build (``RLIMIT_CPU``), all threads together."""

    @property
    def memory_text(self) -> str:
        return f"{self.memory_bytes // MIB} MiB"


class LimitExceeded(Exception):
    """A child process went past one of its limits; the message says which, as
    ``exceeded the build memory limit of 1024 MiB``."""


def memory_exceeded(limits: BuildLimits) -> LimitExceeded:
    return LimitExceeded(f"exceeded the build memory limit of {limits.memory_text}")


def cpu_exceeded(limits: BuildLimits) -> LimitExceeded:
    return LimitExceeded(f"exceeded the build CPU limit of {limits.cpu_seconds}s")


_engine_limits = BuildLimits()


def set_build_limits(limits: BuildLimits) -> None:
    """The limits of every build process started from now on; ``lockstep run`` sets them
    once, before the first build. Engine-wide, as the build service they bound."""
    global _engine_limits
    _engine_limits = limits


def build_limits() -> BuildLimits:
    """The engine's limits (:class:`BuildLimits` defaults until :func:`set_build_limits`)."""
    return _engine_limits


def start_bounded(
    command: Sequence[str],
    limits: BuildLimits,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """``command`` started with pipes for its standard streams, in a process group of its
    own, its memory limited (see the module docstring)."""
    process = subprocess.Popen(
        list(command),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        process_group=0,
    )
    memory = limits.memory_bytes
    # A process gone already is found out by whoever talks to it next.
    with contextlib.suppress(ProcessLookupError):
        resource.prlimit(process.pid, resource.RLIMIT_DATA, (memory, memory))
    return process


def allow_cpu(process: subprocess.Popen[bytes], seconds: int, *, last: bool = False) -> None:
    """Let ``process`` use ``seconds`` more CPU time: then SIGXCPU, or with ``last`` (a
    one-shot program) SIGKILL."""
    soft = _cpu_used(process.pid) + seconds
    hard = soft if last else resource.RLIM_INFINITY
    with contextlib.suppress(ProcessLookupError):
        resource.prlimit(process.pid, resource.RLIMIT_CPU, (soft, hard))


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill ``process`` and everything in its group, and reap it."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def exceeded_memory(stderr: bytes) -> bool:
    """Whether a Go program's last words say it ran out of memory."""
    return _OUT_OF_MEMORY.search(stderr) is not None


def run_until(
    command: Sequence[str],
    deadline: float,
    limits: BuildLimits,
    *,
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[bytes] | None:
    """Run ``command`` until ``deadline`` (``time.monotonic()``) within ``limits``;
    ``None`` when it overran. Raises :class:`LimitExceeded` when it went past a limit.
    Output is bytes: sops's may be binary."""
    process = start_bounded(command, limits, env=env, cwd=cwd)
    allow_cpu(process, limits.cpu_seconds, last=True)
    try:
        stdout, stderr = process.communicate(stdin, timeout=max(deadline - time.monotonic(), 0.0))
    except subprocess.TimeoutExpired:
        kill_group(process)
        process.communicate()
        return None
    if process.returncode == -signal.SIGKILL:
        raise cpu_exceeded(limits)
    if process.returncode != 0 and exceeded_memory(stderr):
        raise memory_exceeded(limits)
    return subprocess.CompletedProcess(list(command), process.returncode, stdout, stderr)


def _cpu_used(pid: int) -> int:
    """Whole seconds of CPU time ``pid`` has used, rounded up (0 when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = stat.rpartition(")")[2].split()
    ticks = int(fields[11]) + int(fields[12])
    return -(-ticks // os.sysconf("SC_CLK_TCK"))
