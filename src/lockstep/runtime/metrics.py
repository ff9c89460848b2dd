"""Prometheus metrics of the controllers, and the health state behind /healthz and /readyz.

One :class:`ControllerMetrics` per process: reconcile durations by controller and
result, reconcile errors by controller, work queue depth by controller, whether
each kind is served by the API server, and the requests sent to the API server by
verb (counted by the Kubernetes client, read at each scrape). Reconcilers'
outcomes are recorded by the controller manager; the HTTP server in
:mod:`lockstep.web.server` exposes them in the Prometheus text format.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from lockstep.kube.requests import RequestCounts

RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class ControllerMetrics:
    """The metric families lockstep exports, on a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reconcile_duration = Histogram(
            "lockstep_reconcile_duration_seconds",
            "Time spent in one reconciliation.",
            ["controller", "result"],
            buckets=RECONCILE_BUCKETS,
            registry=self.registry,
        )
        self.reconcile_errors = Counter(
            "lockstep_reconcile_errors_total",
            "Reconciliations that ended in an error.",
            ["controller"],
            registry=self.registry,
        )
        self.leader = Gauge(
            "lockstep_leader",
            "1 while this process holds the leader Lease (or runs without leader election).",
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "lockstep_workqueue_depth",
            "Keys waiting in a controller's work queue.",
            ["controller"],
            registry=self.registry,
        )
        self.kind_served = Gauge(
            "lockstep_kind_served",
            "1 while the API server serves the kind (its CRD is installed), 0 while its controller waits.",
            ["kind"],
            registry=self.registry,
        )

    def count_kube_requests(self, counts: RequestCounts) -> None:
        """Export ``counts`` as ``lockstep_kube_requests_total{verb, dry_run}``."""
        self.registry.register(_KubeRequests(counts))

    def observe(self, controller: str, result: str, seconds: float) -> None:
        self.reconcile_duration.labels(controller=controller, result=result).observe(seconds)
        if result != "success":
            self.reconcile_errors.labels(controller=controller).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _KubeRequests(Collector):
    """The Kubernetes client's request counts, as a counter family read at scrape time."""

    def __init__(self, counts: RequestCounts) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "lockstep_kube_requests",
            "Requests sent to the Kubernetes API server, by verb as the API server names it.",
            labels=["verb", "dry_run"],
        )
        for (verb, dry_run), count in sorted(self._counts.snapshot().items()):
            family.add_metric([verb, "true" if dry_run else "false"], count)
        yield family


@dataclass
class Health:
    """Liveness and readiness of the process, as the HTTP probes report them.

    Readiness waits for every component with a reason in ``ready_reasons``; absent
    kinds (their CRD is not installed, so their controller does not run) are
    reported beside it without holding it back.
    """

    live: bool = True
    ready_reasons: dict[str, str] = field(default_factory=dict)
    absent_kinds: dict[str, str] = field(default_factory=dict)
    """Kinds the API server does not serve, with what to do about it."""

    def not_ready(self, component: str, reason: str) -> None:
        self.ready_reasons[component] = reason

    def ready(self, component: str) -> None:
        self.ready_reasons.pop(component, None)

    def absent(self, kind: str, reason: str) -> None:
        self.absent_kinds[kind] = reason

    def present(self, kind: str) -> None:
        self.absent_kinds.pop(kind, None)

    @property
    def is_ready(self) -> bool:
        return not self.ready_reasons
