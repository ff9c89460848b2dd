"""Profiling the engine while a workload runs: py-spy attached to ``lockstep run``, and a
text summary of where its CPU time went.

With ``benchmarks/run.py --profile``, every engine the workloads start is sampled by
``py-spy record`` (attached by pid, so the engine runs exactly as without it), 100
times a second, every thread, idle samples left out: what remains is time on the
CPU. The raw stacks (``<engine>.raw.txt``, folded stacks for any flame graph tool)
are large and not committed; :func:`summarize` writes ``<engine>.txt`` beside them,
a short account that is:

- the share of samples per thread (the event loop, the threads that build);
- the share per package of the innermost frame (self time: lockstep, the HTTP
  stack, YAML, pydantic, ...);
- the lockstep function nearest to the top of each stack (which of lockstep's code
  asked for the work, wherever the work itself ran);
- lockstep's functions with the most samples below them (inclusive), and the
  functions of any package with the most samples of their own (self).

The Kustomize build service runs as child processes and is not sampled: its CPU time
is in the workload's ``engine CPU`` figure (children included), and the threads that
wait for it are idle here. Used by :mod:`benchmarks.engine`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SAMPLES_PER_SECOND = 100
STOP_TIMEOUT = 60.0
TOP = 30

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
_THREAD = re.compile(r"^thread \([^)]*\)(?:: (?P<name>.*))?$")
# Worker threads are numbered (asyncio_0, ThreadPoolExecutor-0_1): one group per pool.
_THREAD_NUMBER = re.compile(r"[_-]\d+(_\d+)?$")


class ProfileError(RuntimeError):
    """py-spy is missing or could not attach; the message says what to install or allow."""


def py_spy() -> str:
    """The py-spy of the running interpreter's environment, else the first on PATH."""
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if found is None:
        raise ProfileError("py-spy is not installed; install lockstep's dev dependencies")
    return found


@dataclass
class Profiler:
    """``py-spy record`` attached to one process until that process exits."""

    process: subprocess.Popen[bytes]
    raw: Path
    summary: Path
    log: Path

    @classmethod
    def attach(cls, pid: int, folder: Path, name: str) -> Profiler:
        folder.mkdir(parents=True, exist_ok=True)
        raw, summary = folder / f"{name}.raw.txt", folder / f"{name}.txt"
        command = [
            py_spy(),
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(SAMPLES_PER_SECOND),
            "--threads",
            "--format",
            "raw",
            "--output",
            str(raw),
            "--nonblocking",
        ]
        log = folder / f"{name}.py-spy.log"
        with log.open("wb") as output:
            process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        return cls(process, raw, summary, log)

    def finish(self, title: str) -> Path:
        """Wait for py-spy to write its stacks (the process has exited), then summarize them."""
        try:
            code = self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            code = -9
        if code != 0 or not self.raw.is_file():
            raise ProfileError(
                f"py-spy exited with {code} and wrote no stacks; see {self.log} "
                "(attaching to a process needs the right to trace it)"
            )
        self.summary.write_text(summarize(self.raw.read_text().splitlines(), title))
        return self.summary


@dataclass(frozen=True)
class Frame:
    function: str
    file: str

    @property
    def package(self) -> str:
        """The top-level package or module (``lockstep``, ``yaml``, ``asyncio``) of the frame;
        py-spy names files from there already, except those of a ``site-packages``."""
        parts = [part for part in self.file.split("/") if part]
        if "site-packages" in parts:
            parts = parts[parts.index("site-packages") + 1 :]
        return parts[0].removesuffix(".py") if parts else "?"

    @property
    def qualified(self) -> str:
        return f"{self.function} ({self.file})"


@dataclass(frozen=True)
class Stack:
    thread: str
    frames: tuple[Frame, ...]
    """Outermost first."""
    count: int


def parse_stacks(lines: Iterable[str]) -> list[Stack]:
    """py-spy's raw output: ``thread (id): name;frame;frame... count`` per line."""
    stacks = []
    for line in lines:
        text, _, count = line.rstrip().rpartition(" ")
        if not text or not count.isdigit():
            continue
        head, *rest = text.split(";")
        thread = _THREAD.match(head)
        frames = [head] if thread is None else rest
        name = _THREAD_NUMBER.sub("", thread["name"] or "(unnamed)") if thread else "?"
        parsed = []
        for frame in frames:
            match = _FRAME.match(frame)
            if match:
                parsed.append(Frame(match["function"], match["file"]))
            else:
                parsed.append(Frame(frame, "?"))
        stacks.append(Stack(name, tuple(parsed), int(count)))
    return stacks


def summarize(lines: Iterable[str], title: str) -> str:
    """The text account of one profile; see the module docstring."""
    stacks = parse_stacks(lines)
    total = sum(stack.count for stack in stacks)
    if not total:
        return f"{title}\n\nno samples (the engine was idle, or py-spy could not read it)\n"
    threads: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    callers: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for stack in stacks:
        threads[stack.thread] += stack.count
        if stack.frames:
            packages[stack.frames[-1].package] += stack.count
            own[stack.frames[-1].qualified] += stack.count
        for name in {frame.qualified for frame in stack.frames if frame.package == "lockstep"}:
            inclusive[name] += stack.count
        caller = next((f for f in reversed(stack.frames) if f.package == "lockstep"), None)
        callers[caller.qualified if caller else "(no lockstep frame)"] += stack.count
    seconds = total / SAMPLES_PER_SECOND
    parts = [
        title,
        "",
        f"py-spy, {SAMPLES_PER_SECOND} samples/s, idle left out: {total} samples, "
        f"{seconds:.1f} s on the CPU",
        _section("by thread", threads, total),
        _section("by package of the innermost frame (self)", packages, total),
        _section("by the innermost lockstep function (who asked for the work)", callers, total),
        _section("lockstep functions, inclusive", inclusive, total),
        _section("functions, self", own, total),
    ]
    return "\n".join(parts)


def _section(heading: str, counts: Counter[str], total: int) -> str:
    rows = [f"\n{heading}:"]
    for name, count in counts.most_common(TOP):
        rows.append(f"  {100 * count / total:5.1f} %  {name}")
    return "\n".join(rows) + "\n"
