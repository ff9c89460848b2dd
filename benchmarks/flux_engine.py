"""Flux's source-controller and kustomize-controller as the benchmarks start and watch them,
the counterpart of :mod:`benchmarks.engine` for ``benchmarks/compare.py``.

:meth:`FluxEngine.started` runs both controllers (:class:`lockstep.dev.flux.FluxControllers`)
against the test ground's cluster with the flags of one :class:`FluxSettings`, each
listener on 127.0.0.1, and stops them when the block ends. Both count as one engine:
their CPU times are added up (from ``/proc``), their peak memories too (``VmHWM``, and
the sum sampled five times a second), and their ``/metrics`` are scraped together —
requests as client-go counts them (``rest_client_requests_total``, by HTTP method),
reconciles as controller-runtime does (``controller_runtime_reconcile_total``).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from benchmarks.engine import TreeSampler, peak_rss_mib_of, tree_cpu_seconds
from benchmarks.ground import Ground
from benchmarks.prometheus import Samples, parse_samples
from lockstep.dev.flux import (
    CONTROLLERS,
    KUSTOMIZE_CONTROLLER,
    SOURCE_CONTROLLER,
    FluxBinaries,
    FluxControllers,
)

REQUESTS = "rest_client_requests_total"
RECONCILES = "controller_runtime_reconcile_total"
LOG_LINES_SHOWN = 20


@dataclass(frozen=True)
class FluxSettings:
    """The flags one Flux column of the comparison runs the controllers with."""

    key: str
    source_controller: tuple[str, ...]
    kustomize_controller: tuple[str, ...]
    requeue_dependency_seconds: float
    """How long a Kustomization whose dependency is not Ready waits to be looked at again."""
    origin: str
    """Where these settings come from."""

    def flags(self) -> dict[str, list[str]]:
        """The flags by controller; ``--log-level=info`` (Flux's default) on both."""
        return {
            SOURCE_CONTROLLER: ["--log-level=info", *self.source_controller],
            KUSTOMIZE_CONTROLLER: ["--log-level=info", *self.kustomize_controller],
        }

    def describe(self) -> str:
        return "; ".join(
            f"{controller} {' '.join(flags)}" for controller, flags in self.flags().items()
        )


class FluxEngine:
    """Both controllers, running, seen as one engine by :class:`benchmarks.measure.Meter`."""

    def __init__(self, controllers: FluxControllers) -> None:
        self.controllers = controllers
        addresses = controllers.addresses
        self._metrics = (addresses.source_metrics, addresses.kustomize_metrics)
        self.pids = tuple(
            _pid_of(
                binary=str(controllers.binaries.path(controller)), flag=f"--metrics-addr={addr}"
            )
            for controller, addr in zip(CONTROLLERS, self._metrics, strict=True)
        )
        self.sampler = TreeSampler(*self.pids)

    @classmethod
    @contextlib.asynccontextmanager
    async def started(
        cls, ground: Ground, binaries: FluxBinaries, settings: FluxSettings, name: str
    ) -> AsyncIterator[FluxEngine]:
        """Both controllers with ``settings``, their logs under ``name``, stopped when the
        block ends; when the block fails, the end of their logs goes to standard error."""
        controllers = FluxControllers(
            binaries,
            ground.cluster.kubeconfig,
            ground.folder / "flux" / name,
            extra_flags=settings.flags(),
        )
        await asyncio.to_thread(controllers.start)
        try:
            engine = cls(controllers)
            engine.sampler.start()
        except BaseException:
            await asyncio.to_thread(controllers.stop)
            raise
        try:
            yield engine
        except BaseException:
            sys.stderr.write(engine.log_tails())
            raise
        finally:
            engine.sampler.stop()
            await asyncio.to_thread(controllers.stop)

    def metrics(self) -> Samples:
        """Both controllers' ``/metrics`` right now, added up."""
        scrapes = [_scrape(address) for address in self._metrics]
        return scrapes[0].plus(scrapes[1])

    def cpu_seconds(self) -> float:
        return sum(tree_cpu_seconds(pid) for pid in self.pids)

    def peak_rss_mib(self) -> float:
        return sum(peak_rss_mib_of(pid) for pid in self.pids)

    def requests_by_verb(self, samples: Samples) -> dict[str, int]:
        return samples.counts_by(REQUESTS, "method")

    def reconciles(self, samples: Samples) -> dict[str, int]:
        return samples.counts_by(RECONCILES, "controller")

    def log_tails(self) -> str:
        parts = []
        for controller in CONTROLLERS:
            lines = _read(self.controllers.log(controller)).splitlines()[-LOG_LINES_SHOWN:]
            parts.append(f"end of the log of {controller}:\n" + "\n".join(lines) + "\n")
        return "".join(parts)


def _scrape(address: str) -> Samples:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as answer:
        return parse_samples(answer.read().decode())


def _pid_of(*, binary: str, flag: str) -> int:
    """The process running ``binary`` with ``flag`` on its command line."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if argv and argv[0] == binary and flag in argv:
            return int(entry.name)
    raise RuntimeError(f"no process runs {binary} {flag}; see the controllers' logs")


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""
