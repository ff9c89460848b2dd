"""``lockstep run`` as the benchmarks start and watch it: a subprocess, its metrics,
its CPU time and memory.

:meth:`Engine.start` runs ``python -m lockstep run`` on free loopback ports with
its artifacts and log in a folder of its own and waits for ``/readyz``. While it
runs, a :class:`TreeSampler` thread adds up the resident memory of the engine
and of its children (the resident Kustomize build service) five times
a second and keeps the peak; the engine's own peak comes exact from the kernel
(``VmHWM``). CPU time counts the engine and its children, those that have exited
(``cutime + cstime``) and those still running (the resident Kustomize build
service), each ``utime + stime``. With a profile folder, py-spy samples the
engine from start to stop (:mod:`benchmarks.profile`).

Used by the workloads through :meth:`benchmarks.ground.Ground.engine`; Flux's
controllers are watched the same way by :mod:`benchmarks.flux_engine`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.profile import Profiler
from benchmarks.prometheus import Samples, parse_samples
from lockstep.dev.loopback import free_port

REQUESTS = "lockstep_kube_requests_total"
RECONCILES = "lockstep_reconcile_duration_seconds_count"
QUEUE_DEPTH = "lockstep_workqueue_depth"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 120.0
SAMPLE_SECONDS = 0.2
_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
_PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


class EngineError(RuntimeError):
    """``lockstep run`` did not start, or did not stop cleanly; the message has its log's end."""


@dataclass
class Engine:
    """A running ``lockstep run``."""

    process: subprocess.Popen[bytes]
    folder: Path
    metrics_addr: str
    receiver_addr: str
    profiler: Profiler | None = None
    sampler: TreeSampler = field(init=False)

    def __post_init__(self) -> None:
        self.sampler = TreeSampler(self.process.pid)

    @classmethod
    def start(
        cls, kubeconfig: Path, folder: Path, *extra: str, profile_to: Path | None = None
    ) -> Engine:
        """Start ``lockstep run`` (``extra`` are more of its options) and wait until ready;
        with ``profile_to``, profile it into that folder until it stops."""
        folder.mkdir(parents=True, exist_ok=True)
        storage, metrics, receiver = (f"127.0.0.1:{free_port()}" for _ in range(3))
        command = [
            sys.executable,
            "-m",
            "lockstep",
            "--kubeconfig",
            str(kubeconfig),
            "run",
            "--storage-path",
            str(folder / "artifacts"),
            "--storage-addr",
            storage,
            "--metrics-addr",
            metrics,
            "--receiver-addr",
            receiver,
            *extra,
        ]
        with (folder / "lockstep.log").open("wb") as log:
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        profiler = Profiler.attach(process.pid, profile_to, folder.name) if profile_to else None
        engine = cls(process, folder, metrics, receiver, profiler)
        engine.sampler.start()
        try:
            engine._wait_ready()
        except EngineError:
            engine.process.kill()
            engine.process.wait()
            engine.sampler.stop()
            raise
        return engine

    @property
    def log(self) -> Path:
        return self.folder / "lockstep.log"

    def metrics(self) -> Samples:
        """The samples of ``/metrics`` right now."""
        with urllib.request.urlopen(f"http://{self.metrics_addr}/metrics", timeout=10) as answer:
            return parse_samples(answer.read().decode())

    def cpu_seconds(self) -> float:
        """CPU time of the engine and all its children so far: those that exited and
        those still running (the resident Kustomize build service)."""
        return tree_cpu_seconds(self.process.pid)

    def peak_rss_mib(self) -> float:
        """The engine process's peak resident memory since it started (``VmHWM``)."""
        return peak_rss_mib_of(self.process.pid)

    def requests_by_verb(self, samples: Samples) -> dict[str, int]:
        """Requests the engine's client sent, by verb, dry-runs apart as ``APPLY (dry-run)``."""
        counts = samples.counts_by(REQUESTS, "verb", dry_run="false")
        for verb, count in samples.counts_by(REQUESTS, "verb", dry_run="true").items():
            counts[f"{verb} (dry-run)"] = count
        return dict(sorted(counts.items()))

    def reconciles(self, samples: Samples) -> dict[str, int]:
        return samples.counts_by(RECONCILES, "controller")

    def queue_depth(self, samples: Samples) -> float:
        """Work items waiting in the engine's queues, in one scrape."""
        return samples.sum(QUEUE_DEPTH)

    def helm_service_cpu_seconds(self) -> float:
        """CPU time of the engine's children so far (the Helm service renders charts
        there), running or exited."""
        pid = self.process.pid
        return tree_cpu_seconds(pid) - cpu_seconds_of(pid)

    def stop(self) -> None:
        """SIGTERM, then insist on a clean exit."""
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            code = -9
        finally:
            self.sampler.stop()
        if code != 0:
            raise EngineError(f"lockstep run exited with {code}:\n{self.log_tail()}")
        if self.profiler is not None:
            summary = self.profiler.finish(f"profile of lockstep run ({self.folder.name})")
            sys.stderr.write(f"profile of {self.folder.name}: {summary}\n")

    def log_tail(self, characters: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-characters:]

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EngineError(f"lockstep run exited early:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(
                    f"http://{self.metrics_addr}/readyz", timeout=2
                ) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise EngineError(f"lockstep run not ready within {READY_TIMEOUT:.0f}s:\n{self.log_tail()}")


class TreeSampler:
    """Samples the resident memory of processes and their descendants, added up; keeps the
    peak of the sum."""

    def __init__(self, *pids: int) -> None:
        self._pids = pids
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-{pids[0]}", daemon=True)
        self.peak_mib = 0.0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def reset(self) -> None:
        """Forget the peak so far: the next workload phase starts from now."""
        self.peak_mib = 0.0

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self.peak_mib = max(self.peak_mib, _tree_rss_kib(self._pids) / 1024)


def _tree_rss_kib(pids: tuple[int, ...]) -> int:
    total, pending = 0, list(pids)
    while pending:
        current = pending.pop()
        try:
            total += int(_stat_fields(current)[21]) * _PAGE_KIB
            pending.extend(_children(current))
        except (OSError, IndexError, ValueError):
            continue
    return total


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of process ``pid`` and of every descendant, running or exited; a child
    that exits moves its time into its parent's, so the total never goes back."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            total += cpu_seconds_of(current, children=True)
            pending.extend(_children(current))
        except (OSError, IndexError, ValueError):
            continue
    return total


def _children(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children.extend(int(c) for c in (task / "children").read_text().split())
    return children


def peak_rss_mib_of(pid: int) -> float:
    """The peak resident memory of process ``pid`` since it started (``VmHWM``); 0 when gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0.0
    for line in status:
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds_of(pid: int, *, children: bool = False) -> float:
    """CPU time (user and system) of process ``pid`` so far, with ``children`` that of its
    children that have exited too; 0 when it is gone."""
    try:
        fields = _stat_fields(pid)
    except OSError:
        return 0.0
    return sum(int(value) for value in fields[11 : 15 if children else 13]) / _TICKS_PER_SECOND


def _stat_fields(pid: int) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command name (field 3 is index 0)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
