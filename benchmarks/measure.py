"""What a workload costs over a window: engine CPU, memory, reconciles and API requests.

A :class:`Meter` takes a snapshot when it starts and one when it stops, and
:class:`Usage` holds the differences:

- requests the engine sent, by verb, as its own client counts them (lockstep's
  ``lockstep_kube_requests_total``, dry-runs apart as ``APPLY (dry-run)``; Flux's
  ``rest_client_requests_total``, by HTTP method);
- requests the API server served from every client, by verb
  (``apiserver_request_total``): the engine's, the harness's own (also counted, as
  ``harness_requests``), and the control plane's controllers and kwok;
- reconciles by controller, and the engine's CPU time (children included) and
  peak memory;
- the CPU time of each component of the control plane, which shares the machine
  with the engine.

The engine is anything :class:`MeteredEngine` describes: ``lockstep run``
(:class:`benchmarks.engine.Engine`) or Flux's two controllers
(:class:`benchmarks.flux_engine.FluxEngine`). Used by the workloads; percentiles of
latency samples are :func:`percentiles`.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any, Protocol, Self

from benchmarks.engine import TreeSampler
from benchmarks.ground import Ground
from benchmarks.prometheus import Samples

APISERVER_REQUESTS = "apiserver_request_total"


class MeteredEngine(Protocol):
    """What a :class:`Meter` reads of the engine under test."""

    sampler: TreeSampler
    """Peak memory of the engine's processes and their children, sampled."""

    def metrics(self) -> Samples: ...

    def cpu_seconds(self) -> float: ...

    def peak_rss_mib(self) -> float:
        """Peak resident memory of the engine's processes since they started (``VmHWM``)."""
        ...

    def requests_by_verb(self, samples: Samples) -> dict[str, int]:
        """The requests its client counted in ``samples`` (a difference of two scrapes)."""
        ...

    def reconciles(self, samples: Samples) -> dict[str, int]:
        """Reconciles by controller in ``samples``."""
        ...


@dataclass(frozen=True)
class Usage:
    """The differences between two snapshots."""

    seconds: float
    engine_cpu_seconds: float
    engine_peak_rss_mib: float
    """Peak of the engine process alone since it started (VmHWM)."""
    engine_tree_peak_rss_mib: float
    """Peak of the engine and its children (the Kustomize build service), sampled every 0.2 s."""
    engine_requests: dict[str, int]
    apiserver_requests: dict[str, int]
    harness_requests: int
    reconciles: dict[str, int]
    control_plane_cpu_seconds: dict[str, float]
    """By component: kube-apiserver, etcd, kube-controller-manager..."""

    @property
    def engine_requests_total(self) -> int:
        return sum(self.engine_requests.values())

    @property
    def apiserver_requests_total(self) -> int:
        return sum(self.apiserver_requests.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "engine_requests_total": self.engine_requests_total,
            "apiserver_requests_total": self.apiserver_requests_total,
        }


@dataclass
class Snapshot:
    at: float
    engine: Samples
    engine_cpu: float
    apiserver: Samples
    harness_requests: int
    control_plane_cpu: dict[str, float]

    @classmethod
    async def take(cls, ground: Ground, engine: MeteredEngine) -> Self:
        return cls(
            at=time.monotonic(),
            engine=await asyncio.to_thread(engine.metrics),
            engine_cpu=engine.cpu_seconds(),
            apiserver=await ground.apiserver_metrics(),
            harness_requests=ground.kube.requests.total(),
            control_plane_cpu=ground.control_plane_cpu(),
        )


class Meter:
    """Measures one window of a workload against one engine."""

    def __init__(self, ground: Ground, engine: MeteredEngine, start: Snapshot) -> None:
        self._ground = ground
        self._engine = engine
        self._start = start

    @classmethod
    async def start(cls, ground: Ground, engine: MeteredEngine) -> Self:
        engine.sampler.reset()
        return cls(ground, engine, await Snapshot.take(ground, engine))

    async def stop(self) -> Usage:
        end = await Snapshot.take(self._ground, self._engine)
        start = self._start
        engine = end.engine.since(start.engine)
        apiserver = end.apiserver.since(start.apiserver)
        return Usage(
            seconds=round(end.at - start.at, 3),
            engine_cpu_seconds=round(end.engine_cpu - start.engine_cpu, 3),
            engine_peak_rss_mib=round(self._engine.peak_rss_mib(), 1),
            engine_tree_peak_rss_mib=round(self._engine.sampler.peak_mib, 1),
            engine_requests=self._engine.requests_by_verb(engine),
            apiserver_requests=apiserver.counts_by(APISERVER_REQUESTS, "verb"),
            harness_requests=end.harness_requests - start.harness_requests,
            reconciles=self._engine.reconciles(engine),
            control_plane_cpu_seconds={
                name: round(seconds - start.control_plane_cpu.get(name, 0.0), 2)
                for name, seconds in end.control_plane_cpu.items()
            },
        )


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50, p95, max and mean of latencies in seconds, as milliseconds."""
    ordered = sorted(samples)
    if not ordered:
        return {"samples": 0}
    p95 = ordered[math.ceil(0.95 * len(ordered)) - 1]
    return {
        "samples": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(p95 * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 1),
    }
