"""Prometheus metrics of the controllers, and the health state behind /healthz and /readyz.

One :class:`ControllerMetrics` per process: reconcile durations by controller and
result, reconcile errors by controller, and work queue depth by controller.
Reconcilers' outcomes are recorded by the controller manager; the HTTP server in
:mod:`lockstep.web.server` exposes them in the Prometheus text format.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

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

    def observe(self, controller: str, result: str, seconds: float) -> None:
        self.reconcile_duration.labels(controller=controller, result=result).observe(seconds)
        if result != "success":
            self.reconcile_errors.labels(controller=controller).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


@dataclass
class Health:
    """Liveness and readiness of the process, as the HTTP probes report them."""

    live: bool = True
    ready_reasons: dict[str, str] = field(default_factory=dict)

    def not_ready(self, component: str, reason: str) -> None:
        self.ready_reasons[component] = reason

    def ready(self, component: str) -> None:
        self.ready_reasons.pop(component, None)

    @property
    def is_ready(self) -> bool:
        return not self.ready_reasons
