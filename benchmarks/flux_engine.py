"""Flux's controllers as the benchmarks start and watch them, the counterpart of
:mod:`benchmarks.engine` for ``benchmarks/compare.py`` and ``benchmarks/compare_helm.py``.

:meth:`FluxEngine.started` runs the source-controller and kustomize-controller
(:class:`lockstep.dev.flux.FluxControllers`) with the flags of one :class:`FluxSettings`,
:meth:`FluxEngine.started_helm` the source-controller and helm-controller
(:class:`lockstep.dev.flux.FluxHelmController`) with those of one
:class:`FluxHelmSettings`; each against the test ground's cluster, every listener on
127.0.0.1, stopped when the block ends. The controllers of a run count as one engine:
their CPU times are added up (from ``/proc``), their peak memories too (``VmHWM``, and
the sum sampled five times a second), and their ``/metrics`` are scraped together —
requests as client-go counts them (``rest_client_requests_total``, by HTTP method: every
client of the process, Helm's too), reconciles as controller-runtime does
(``controller_runtime_reconcile_total``), queued work from its ``workqueue_depth``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sys
import urllib.request
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from benchmarks.engine import TreeSampler, peak_rss_mib_of, tree_cpu_seconds
from benchmarks.ground import Ground
from benchmarks.prometheus import Samples, parse_samples
from lockstep.dev.flux import (
    HELM_CONTROLLER,
    KUSTOMIZE_CONTROLLER,
    SOURCE_CONTROLLER,
    FluxBinaries,
    FluxControllers,
    FluxHelmController,
)

REQUESTS = "rest_client_requests_total"
RECONCILES = "controller_runtime_reconcile_total"
QUEUE_DEPTH = "workqueue_depth"
LOG_LEVEL = "--log-level=info"
"""Flux's default, given after the debug level :mod:`lockstep.dev.flux` starts them with."""
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
            SOURCE_CONTROLLER: [LOG_LEVEL, *self.source_controller],
            KUSTOMIZE_CONTROLLER: [LOG_LEVEL, *self.kustomize_controller],
        }

    def describe(self) -> str:
        return _described(self.flags())


@dataclass(frozen=True)
class FluxHelmSettings:
    """The flags the Flux column of the W6 comparison runs its two controllers with."""

    key: str
    source_controller: tuple[str, ...]
    helm_controller: tuple[str, ...]
    origin: str
    """Where these settings come from."""

    def flags(self) -> dict[str, list[str]]:
        """The flags by controller; ``--log-level=info`` (Flux's default) on both."""
        return {
            SOURCE_CONTROLLER: [LOG_LEVEL, *self.source_controller],
            HELM_CONTROLLER: [LOG_LEVEL, *self.helm_controller],
        }

    def describe(self) -> str:
        return _described(self.flags())


def _described(flags: dict[str, list[str]]) -> str:
    return "; ".join(f"{controller} {' '.join(given)}" for controller, given in flags.items())


@dataclass(frozen=True)
class WatchedController:
    """One running controller of an engine: its binary and metrics listener find its
    process and serve its metrics, its log explains a failure."""

    name: str
    binary: Path
    metrics_address: str
    log: Path

    def pid(self) -> int:
        return _pid_of(binary=str(self.binary), flag=f"--metrics-addr={self.metrics_address}")


class FluxEngine:
    """Flux's controllers of one run, running, seen as one engine by
    :class:`benchmarks.measure.Meter`."""

    def __init__(self, controllers: Sequence[WatchedController]) -> None:
        self.controllers = tuple(controllers)
        self.pids = tuple(controller.pid() for controller in self.controllers)
        self.sampler = TreeSampler(*self.pids)

    @classmethod
    def started(
        cls, ground: Ground, binaries: FluxBinaries, settings: FluxSettings, name: str
    ) -> AbstractAsyncContextManager[FluxEngine]:
        """The source- and kustomize-controller with ``settings``, their logs under
        ``name``, stopped when the block ends; when the block fails, the end of their logs
        goes to standard error."""
        controllers = FluxControllers(
            binaries,
            ground.cluster.kubeconfig,
            ground.folder / "flux" / name,
            extra_flags=settings.flags(),
        )
        return cls._running([controllers], _watched(controllers))

    @classmethod
    def started_helm(
        cls,
        ground: Ground,
        binaries: FluxBinaries,
        helm_binaries: FluxBinaries,
        settings: FluxHelmSettings,
        name: str,
    ) -> AbstractAsyncContextManager[FluxEngine]:
        """The source-controller and, once it serves, the helm-controller with
        ``settings``, their logs under ``name``, stopped when the block ends (the
        helm-controller first); when the block fails, the end of their logs goes to
        standard error."""
        folder = ground.folder / "flux" / name
        flags = settings.flags()
        sources = FluxControllers(
            binaries,
            ground.cluster.kubeconfig,
            folder,
            extra_flags={SOURCE_CONTROLLER: flags[SOURCE_CONTROLLER]},
            controllers=(SOURCE_CONTROLLER,),
        )
        helm = FluxHelmController(
            helm_binaries, ground.cluster.kubeconfig, folder, flags[HELM_CONTROLLER]
        )
        releases = WatchedController(
            HELM_CONTROLLER, helm.binaries.path(HELM_CONTROLLER), helm.metrics_address, helm.log()
        )
        return cls._running([sources, helm], [*_watched(sources), releases])

    @classmethod
    @contextlib.asynccontextmanager
    async def _running(
        cls,
        parts: Sequence[AbstractContextManager[object]],
        controllers: Sequence[WatchedController],
    ) -> AsyncIterator[FluxEngine]:
        """Start ``parts`` in order, watch ``controllers``; stop them in reverse order."""
        running = contextlib.ExitStack()
        try:
            for part in parts:
                await asyncio.to_thread(running.enter_context, part)
            engine = cls(controllers)
            engine.sampler.start()
        except BaseException:
            await asyncio.to_thread(running.close)
            raise
        try:
            yield engine
        except BaseException:
            sys.stderr.write(engine.log_tails())
            raise
        finally:
            engine.sampler.stop()
            await asyncio.to_thread(running.close)

    def metrics(self) -> Samples:
        """Every controller's ``/metrics`` right now, added up."""
        scrapes = [_scrape(controller.metrics_address) for controller in self.controllers]
        return functools.reduce(Samples.plus, scrapes)

    def cpu_seconds(self) -> float:
        return sum(tree_cpu_seconds(pid) for pid in self.pids)

    def peak_rss_mib(self) -> float:
        return sum(peak_rss_mib_of(pid) for pid in self.pids)

    def requests_by_verb(self, samples: Samples) -> dict[str, int]:
        return samples.counts_by(REQUESTS, "method")

    def reconciles(self, samples: Samples) -> dict[str, int]:
        return samples.counts_by(RECONCILES, "controller")

    def queue_depth(self, samples: Samples) -> float:
        """Work items waiting in every controller's queues, in one scrape."""
        return samples.sum(QUEUE_DEPTH)

    def helm_service_cpu_seconds(self) -> float | None:
        """``None``: the helm-controller renders charts in its own process."""
        return None

    def log_tails(self) -> str:
        parts = []
        for controller in self.controllers:
            lines = _read(controller.log).splitlines()[-LOG_LINES_SHOWN:]
            parts.append(f"end of the log of {controller.name}:\n" + "\n".join(lines) + "\n")
        return "".join(parts)


def _watched(controllers: FluxControllers) -> list[WatchedController]:
    """The controllers ``controllers`` runs, as the engine watches them."""
    metrics = {
        SOURCE_CONTROLLER: controllers.addresses.source_metrics,
        KUSTOMIZE_CONTROLLER: controllers.addresses.kustomize_metrics,
    }
    return [
        WatchedController(
            name, controllers.binaries.path(name), metrics[name], controllers.log(name)
        )
        for name in controllers.controllers
    ]


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
