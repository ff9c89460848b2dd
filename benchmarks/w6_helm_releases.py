"""W6, Helm releases: N HelmReleases of one chart, created at once, until every one is
Ready; then a no-op pass over all of them.

For each N a fresh engine and namespace, and a chart repository of one small chart on
127.0.0.1 (:mod:`benchmarks.helmchart`: a ServiceAccount, a Service and a Deployment
scaled to 0, as W1's application). The HelmRepository is made Ready first (not timed).

- **Install**: N HelmReleases, each its own release name, created at once (eight
  requests in flight); the clock runs from the first creation until the last reports
  Ready for its generation. Each HelmRelease generates its HelmChart, whose package is
  downloaded; the release is rendered by the engine's Helm service, applied, stored as
  Helm's Secret, and waited for (``disableWait`` is not set: the Deployments become
  Available once the controller manager has written their status, as in W1). Measured
  as W1 (:mod:`benchmarks.measure`): the engine's CPU with its children (the Helm
  service), peak memory, requests by its client and by the API server.
- **No-op pass**: once every reconcile has finished, each HelmRelease is asked to
  reconcile (``reconcile.fluxcd.io/requestedAt``, as ``flux reconcile hr`` does); the
  pass ends when each status has handled the request and the engine has finished N
  HelmRelease reconciles. Nothing changed, so no release should be rendered or
  written, but for the request's acknowledgement (``status.lastHandledReconcileAt``, a
  status apply per release, as Flux writes it). The pass counts the engine's writes
  (POST, PUT, PATCH, APPLY, DELETE), the writes the API server served by resource
  (every client: the harness's annotations are N PATCHes of helmreleases), the status
  fields that changed besides the acknowledgement, the Helm release revisions stored
  before and after (a render is always followed by storing a new revision) and the CPU
  time of the engine's children (the Helm service).

A quick run takes N = 5, the runner's ``--sizes`` others. Run by ``benchmarks/run.py``
with ``lockstep run``, and by ``benchmarks/compare_helm.py`` with Flux's source- and
helm-controller too (:func:`release_fleet` takes the engine to start, as
:func:`benchmarks.fleet.rollout` does for W1).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any, Protocol

from benchmarks import fleet
from benchmarks.ground import CONCURRENT, HELM_API, SOURCE_API, Ground, gather_limited
from benchmarks.helmchart import CHART_NAME, CHART_VERSION, OBJECTS_PER_RELEASE, ChartServer
from benchmarks.measure import APISERVER_REQUESTS, Meter, MeteredEngine, percentiles
from benchmarks.observe import Objects, WaitTimeout, Watched, is_ready
from benchmarks.prometheus import Samples
from benchmarks.w1_time_to_production import _control_plane
from lockstep.api.meta import RECONCILE_REQUEST_ANNOTATION
from lockstep.kube import KubeObject, ObjectRef

NAME = "w6_helm_releases"
SIZES = (100, 500)
QUICK_SIZES = (5,)
REPOSITORY = "charts"
CONTROLLER = "helmrelease"
WRITE_VERBS = ("POST", "PUT", "PATCH", "APPLY", "DELETE")
"""Writes as lockstep's client counts them and as client-go does (by HTTP method)."""
SETTLE_SECONDS = 2.0
"""How long the engine's reconcile counts must stay unchanged, with empty queues, before
the no-op pass starts."""
SETTLE_TIMEOUT = 120.0
PASS_TIMEOUT = 300.0


class ReleaseEngine(MeteredEngine, Protocol):
    """What W6 reads of an engine besides what the meter reads: ``lockstep run``
    (:class:`benchmarks.engine.Engine`) or Flux's source- and helm-controller
    (:class:`benchmarks.flux_engine.FluxEngine`)."""

    def queue_depth(self, samples: Samples) -> float:
        """Work items waiting in the engine's queues, in one scrape."""
        ...

    def helm_service_cpu_seconds(self) -> float | None:
        """CPU time so far of the processes that render charts beside the engine;
        ``None`` when the engine renders them in its own process."""
        ...


StartEngine = Callable[[str], AbstractAsyncContextManager[ReleaseEngine]]
"""Starts a fresh engine whose artifacts and logs go under the given name."""


class ReleasesNotReady(RuntimeError):
    """Not every HelmRelease was Ready within the install's timeout; :attr:`install` holds
    what was measured until then."""

    def __init__(self, install: dict[str, Any], folder: str) -> None:
        super().__init__(
            f"w6: {install['ready']} of {install['releases']} HelmReleases Ready within "
            f"{install['timeout_seconds']}s; see the engine's log under {folder}"
        )
        self.install = install


class NoopPassFailed(RuntimeError):
    """The no-op pass failed after a complete install; :attr:`install` holds the install's
    figures, the exception's cause why the pass failed."""

    def __init__(self, install: dict[str, Any], error: Exception) -> None:
        super().__init__(
            f"w6: the no-op pass over {install['releases']} HelmReleases failed: {error}"
        )
        self.install = install


async def run(ground: Ground, quick: bool) -> dict[str, Any]:
    sizes = ground.sizes or (QUICK_SIZES if quick else SIZES)
    with ChartServer() as charts:
        runs = [
            await release_fleet(ground, charts, size, ground.engine, within=fleet.timeout_for(size))
            for size in sizes
        ]
    return {"chart": f"{CHART_NAME}@{CHART_VERSION}", "concurrent": CONCURRENT, "runs": runs}


async def release_fleet(
    ground: Ground, charts: ChartServer, size: int, start_engine: StartEngine, *, within: float
) -> dict[str, Any]:
    """Install ``size`` HelmReleases at once, then reconcile each once more; raises
    :class:`ReleasesNotReady` when the install is not all Ready ``within`` seconds,
    :class:`NoopPassFailed` when the pass after it fails."""
    served_before = dict(charts.served)
    async with ground.namespace("bench-w6") as namespace:
        await ground.kube.apply(helm_repository(namespace, charts.url))
        async with start_engine(f"w6-{size}") as engine:
            await repository_ready(ground, namespace)
            installed = await install_and_time(ground, engine, namespace, size, within)
            if not installed["complete"]:
                raise ReleasesNotReady(installed, str(ground.folder))
            installed["chart_repository_requests"] = {
                path: count - served_before.get(path, 0)
                for path, count in charts.served.items()
                if count > served_before.get(path, 0)
            }
            try:
                await settled(engine)
                noop = await noop_pass(ground, engine, namespace, size)
            except Exception as error:
                raise NoopPassFailed(installed, error) from error
    return {"releases": size, "install": installed, "noop": noop}


def helm_repository(namespace: str, url: str) -> KubeObject:
    return {
        "apiVersion": SOURCE_API,
        "kind": "HelmRepository",
        "metadata": {"name": REPOSITORY, "namespace": namespace},
        "spec": {"url": url, "interval": "60m"},
    }


def helm_release(index: int, namespace: str) -> KubeObject:
    """HelmRelease ``app-<index>``: the chart at its version, values for the replicas."""
    return {
        "apiVersion": HELM_API,
        "kind": "HelmRelease",
        "metadata": {"name": f"app-{index}", "namespace": namespace},
        "spec": {
            "interval": "60m",
            "chart": {
                "spec": {
                    "chart": CHART_NAME,
                    "version": CHART_VERSION,
                    "interval": "60m",
                    "sourceRef": {"kind": "HelmRepository", "name": REPOSITORY},
                }
            },
            "values": {"replicas": 0},
        },
    }


async def repository_ready(ground: Ground, namespace: str) -> None:
    async with Watched(ground.kube, SOURCE_API, "HelmRepository", namespace) as repositories:
        await repositories.until(
            lambda objs: is_ready(objs.get(REPOSITORY, {})),
            within=60,
            what=f"HelmRepository {REPOSITORY} Ready",
        )


async def install_and_time(
    ground: Ground, engine: ReleaseEngine, namespace: str, size: int, within: float
) -> dict[str, Any]:
    """Create ``size`` HelmReleases at once and wait until every one is Ready, or ``within``
    seconds."""
    ready_at: dict[str, float] = {}

    def note_ready(obj: KubeObject, at: float) -> None:
        if is_ready(obj):
            ready_at.setdefault(str(obj["metadata"]["name"]), at)

    async with Watched(ground.kube, HELM_API, "HelmRelease", namespace, changed=note_ready) as hrs:
        apiserver_before = await ground.apiserver_metrics()
        meter = await Meter.start(ground, engine)
        started = time.monotonic()
        await gather_limited(
            (ground.kube.apply(helm_release(index, namespace)) for index in range(size)),
            limit=fleet.CREATE_IN_FLIGHT,
        )
        created = time.monotonic()
        try:
            await hrs.until(
                lambda _: len(ready_at) >= size, within=within, what=f"{size} HelmReleases Ready"
            )
            complete = True
        except WaitTimeout:
            complete = False
        waited = time.monotonic() - started
        usage = await meter.stop()
    apiserver = (await ground.apiserver_metrics()).since(apiserver_before)
    seconds = max(ready_at.values()) - started if complete else waited
    return {
        "releases": size,
        "objects": size * OBJECTS_PER_RELEASE,
        "complete": complete,
        "ready": len(ready_at),
        "timeout_seconds": round(within),
        "seconds_to_all_ready": round(seconds, 2) if complete else None,
        "seconds_waited": round(waited, 2),
        "seconds_to_create": round(created - started, 2),
        "releases_per_second": round(size / seconds, 2) if complete else None,
        "time_to_ready": percentiles([at - started for at in ready_at.values()]),
        "engine_requests_per_release": round(usage.engine_requests_total / size, 1),
        "apiserver_requests_per_release": round(usage.apiserver_requests_total / size, 1),
        "apiserver_requests_by_resource": requests_by_resource(apiserver),
        "usage": usage.as_dict(),
    }


async def settled(engine: ReleaseEngine) -> None:
    """Wait until the engine's queues are empty and no reconcile finished for a while."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    previous, since = -1.0, time.monotonic()
    while time.monotonic() < deadline:
        samples = await asyncio.to_thread(engine.metrics)
        reconciles = float(sum(engine.reconciles(samples).values()))
        if reconciles != previous or engine.queue_depth(samples):
            previous, since = reconciles, time.monotonic()
        elif time.monotonic() - since >= SETTLE_SECONDS:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the engine still reconciled after {SETTLE_TIMEOUT:.0f}s of W6")


async def noop_pass(
    ground: Ground, engine: ReleaseEngine, namespace: str, size: int
) -> dict[str, Any]:
    """Ask every HelmRelease to reconcile once more; what that wrote and rendered."""
    token = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    revisions_before = await release_revisions(ground, namespace)
    helm_service_before = engine.helm_service_cpu_seconds()
    apiserver_before = await ground.apiserver_metrics()
    reconciles_before = await asyncio.to_thread(reconciles_of, engine)
    async with Watched(ground.kube, HELM_API, "HelmRelease", namespace) as hrs:
        statuses_before = _statuses(hrs.objects)
        meter = await Meter.start(ground, engine)
        started = time.monotonic()
        await gather_limited(
            (
                ground.kube.json_patch(
                    ObjectRef(HELM_API, "HelmRelease", f"app-{index}", namespace),
                    [
                        {
                            "op": "add",
                            "path": "/metadata/annotations",
                            "value": {RECONCILE_REQUEST_ANNOTATION: token},
                        }
                    ],
                )
                for index in range(size)
            ),
            limit=fleet.CREATE_IN_FLIGHT,
        )
        handled_at = await hrs.until(
            lambda objs: _handled(objs, token, size),
            within=PASS_TIMEOUT,
            what=f"{size} HelmReleases handled requestedAt {token}",
        )
        await reconciles_reach(engine, reconciles_before + size)
        usage = await meter.stop()
        statuses_after = _statuses(hrs.objects)
    apiserver = (await ground.apiserver_metrics()).since(apiserver_before)
    engine_writes = {
        verb: count for verb, count in usage.engine_requests.items() if verb in WRITE_VERBS
    }
    return {
        "seconds": round(handled_at - started, 2),
        "reconciles": usage.reconciles.get(CONTROLLER, 0),
        "engine_requests": usage.engine_requests,
        "engine_requests_per_release": round(usage.engine_requests_total / size, 2),
        "engine_writes": engine_writes,
        "engine_writes_total": sum(engine_writes.values()),
        "status_fields_changed": changed_fields(statuses_before, statuses_after),
        "apiserver_writes_by_resource": requests_by_resource(apiserver, WRITE_VERBS),
        "release_revisions_before": revisions_before,
        "release_revisions_after": await release_revisions(ground, namespace),
        "helm_service_cpu_seconds": _since(engine.helm_service_cpu_seconds(), helm_service_before),
        "engine_cpu_seconds": usage.engine_cpu_seconds,
        "usage": usage.as_dict(),
    }


def _statuses(objects: Objects) -> dict[str, dict[str, Any]]:
    return {name: dict(obj.get("status") or {}) for name, obj in objects.items()}


def changed_fields(
    before: dict[str, dict[str, Any]],
    after: dict[str, dict[str, Any]],
    left_out: tuple[str, ...] = ("lastHandledReconcileAt",),
) -> dict[str, int]:
    """How many objects each status field changed in, the fields ``left_out`` aside
    (by default ``lastHandledReconcileAt``, the request's own acknowledgement)."""
    changed: dict[str, int] = {}
    for name, status in after.items():
        previous = before.get(name, {})
        for field in sorted(set(status) | set(previous)):
            if field not in left_out and status.get(field) != previous.get(field):
                changed[field] = changed.get(field, 0) + 1
    return changed


def _handled(objects: Objects, token: str, size: int) -> bool:
    handled = [
        obj
        for obj in objects.values()
        if (obj.get("status") or {}).get("lastHandledReconcileAt") == token
    ]
    return len(handled) >= size


def _since(now: float | None, before: float | None) -> float | None:
    return None if now is None or before is None else round(now - before, 3)


def reconciles_of(engine: MeteredEngine, controller: str = CONTROLLER) -> float:
    """The reconciles ``controller`` of the engine has finished so far."""
    return engine.reconciles(engine.metrics()).get(controller, 0)


async def reconciles_reach(
    engine: MeteredEngine, target: float, controller: str = CONTROLLER
) -> None:
    """Wait until the engine's ``controller`` has finished ``target`` reconciles in all: a
    reconcile is counted once it is over, after its status write."""
    deadline = time.monotonic() + PASS_TIMEOUT
    while await asyncio.to_thread(reconciles_of, engine, controller) < target:
        if time.monotonic() > deadline:
            raise RuntimeError(f"fewer than {target:.0f} {controller} reconciles in all")
        await asyncio.sleep(0.2)


async def release_revisions(ground: Ground, namespace: str) -> int:
    """The Helm release revisions stored in ``namespace``: Helm's Secrets (``owner=helm``)."""
    return len(
        await ground.kube.list("v1", "Secret", namespace=namespace, labels={"owner": "helm"})
    )


def requests_by_resource(samples: Samples, verbs: tuple[str, ...] = ()) -> dict[str, int]:
    """Requests the API server served in ``samples`` (of ``verbs``, or all), by
    ``VERB resource[/subresource]``, dry-runs apart."""
    counts: dict[str, int] = {}
    for (metric, labels), value in samples.values.items():
        found = dict(labels)
        if metric != APISERVER_REQUESTS or not round(value):
            continue
        if verbs and (found.get("verb") not in verbs or found.get("dry_run")):
            continue
        resource = found.get("resource", "")
        if found.get("subresource"):
            resource += f"/{found['subresource']}"
        dry_run = " (dry-run)" if found.get("dry_run") else ""
        key = f"{found.get('verb', '')}{dry_run} {resource}"
        counts[key] = counts.get(key, 0) + round(value)
    return dict(sorted(counts.items()))


def table(result: dict[str, Any]) -> str:
    lines = [
        f"W6 Helm releases: N HelmReleases of one chart ({result['chart']}: ServiceAccount,",
        "Service, Deployment scaled to 0; wait enabled) from one HelmRepository on 127.0.0.1,",
        "created at once, until all Ready; each generates its HelmChart, is rendered by the",
        f"Helm service, applied and stored as Helm's Secret. lockstep run --concurrent "
        f"{result['concurrent']}.",
        "",
        "| N | all Ready | p50 / p95 per release | releases/s | engine CPU (+ Helm service) | "
        "peak RSS engine (+ Helm service) | engine requests (per release) | API server requests "
        "| control plane CPU |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in result["runs"]:
        install = run["install"]
        usage, ready = install["usage"], install["time_to_ready"]
        lines.append(
            f"| {run['releases']} | {install['seconds_to_all_ready']} s"
            f" | {ready['p50_ms'] / 1000:.1f} s / {ready['p95_ms'] / 1000:.1f} s"
            f" | {install['releases_per_second']}"
            f" | {usage['engine_cpu_seconds']:.1f} s"
            f" | {usage['engine_peak_rss_mib']:.0f} MiB ({usage['engine_tree_peak_rss_mib']:.0f} MiB)"
            f" | {usage['engine_requests_total']} ({install['engine_requests_per_release']})"
            f" | {usage['apiserver_requests_total']}"
            f" | {_control_plane(usage.get('control_plane_cpu_seconds') or {})} |"
        )
    lines += [
        "",
        "No-op pass: every HelmRelease asked to reconcile (reconcile.fluxcd.io/requestedAt) once",
        "all were Ready; same chart version and values, so nothing is rendered or written but",
        "the request's acknowledgement, status.lastHandledReconcileAt (a status apply, as Flux",
        "writes it; `flux reconcile` waits for it). Writes: non-dry-run POST, PUT, PATCH, APPLY,",
        "DELETE; the API server's include the harness's N PATCHes (the annotations) and the",
        "control plane's leases. Release revisions: Helm's Secrets before → after (a render",
        "stores a new revision).",
        "",
        "| N | pass | reconciles | engine requests (per release) | engine writes "
        "| API server writes, every client | status fields changed besides "
        "lastHandledReconcileAt | release revisions | Helm service CPU |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in result["runs"]:
        noop = run["noop"]
        requests = ", ".join(f"{verb} {n}" for verb, n in noop["engine_requests"].items())
        writes = ", ".join(f"{verb} {n}" for verb, n in noop["engine_writes"].items()) or "none"
        served = ", ".join(f"{key} {n}" for key, n in noop["apiserver_writes_by_resource"].items())
        fields = ", ".join(f"{key} ({n})" for key, n in noop["status_fields_changed"].items())
        lines.append(
            f"| {run['releases']} | {noop['seconds']} s | {noop['reconciles']}"
            f" | {requests or 'none'} ({noop['engine_requests_per_release']})"
            f" | {noop['engine_writes_total']}: {writes}"
            f" | {served or 'none'}"
            f" | {fields or 'none'}"
            f" | {noop['release_revisions_before']} → {noop['release_revisions_after']}"
            f" | {noop['helm_service_cpu_seconds'] * 1000:.0f} ms |"
        )
    return "\n".join(lines) + "\n"
