"""W7, Argo CD Applications: N Applications of Flux's benchmark application from one
repository, created at once, until every one is Synced and Healthy; then a no-op
refresh of all of them.

For each N a fresh engine and namespace. The repository holds the application of
:mod:`benchmarks.fluxapp` (a ServiceAccount, a Service, a Deployment scaled to 0 and
an Ingress) once, as a Kustomize folder; each Application reads that folder at
``main`` and names its copy with ``kustomize.namePrefix`` (``a<index>-``), the way
Argo CD users stamp out one folder many times. Every Application has automated sync
with prune and self-heal, so creating it is all it takes. They live in the workload's
namespace, which an AppProject in ``argocd`` lists in ``sourceNamespaces`` (Argo CD's
rule for Applications outside its own namespace).

Argo CD judges an Ingress Healthy once an ingress controller has published its address;
the control plane runs none, so the harness plays that part: it watches the namespace's
Ingresses and writes ``status.loadBalancer.ingress`` on each new one (requests of the
harness, not of the engine, as an ingress controller's would be).

- **Sync**: the clock runs from the first creation until the last Application reports
  ``Synced`` and ``Healthy`` at the repository's commit. One fetch serves every
  Application (same repository and revision). Measured as W1 (:mod:`benchmarks.measure`):
  the engine's CPU with its children, peak memory, requests by its client and by the API
  server.
- **No-op refresh**: once the engine has settled, each Application is annotated
  ``argocd.argoproj.io/refresh: normal`` (what ``argocd app get --refresh`` writes); the
  pass ends when every annotation has been taken away again and the engine has finished
  N more Application reconciles. Nothing changed in Git or the cluster, so nothing
  should be applied: the pass counts the engine's writes by resource (the annotation's
  removal is the acknowledgement, one PATCH an Application, as Argo CD makes it), the
  status fields that changed, and the objects' resourceVersions before and after.

Anchor: Argo CD compares every Application every 120 s (+ jitter) and its users report
reconciles of minutes at thousands of Applications; lockstep reacts to the creation
itself. A quick run takes N = 5, the runner's ``--sizes`` others. Run by
``benchmarks/run.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from benchmarks import fleet
from benchmarks.engine import Engine
from benchmarks.fluxapp import APP, OBJECTS_PER_APP
from benchmarks.ground import CONCURRENT, Ground, gather_limited
from benchmarks.measure import Meter, percentiles
from benchmarks.observe import WaitTimeout, Watched
from benchmarks.w1_time_to_production import _control_plane
from benchmarks.w6_helm_releases import (
    WRITE_VERBS,
    changed_fields,
    reconciles_of,
    reconciles_reach,
    requests_by_resource,
    settled,
)
from lockstep.kube import KubeObject, NotFound, ObjectRef

NAME = "w7_argo_applications"
SIZES = (100, 1000)
QUICK_SIZES = (5,)
ARGO_API = "argoproj.io/v1alpha1"
ARGOCD = "argocd"
IN_CLUSTER = "https://kubernetes.default.svc"
REFRESH_ANNOTATION = "argocd.argoproj.io/refresh"
CONTROLLER = "application"
APP_PATH = "argo-app"
PASS_TIMEOUT = 300.0
PREPARE_TIMEOUT = 60.0


class ApplicationsNotSynced(RuntimeError):
    """Not every Application was Synced and Healthy in time; :attr:`sync` holds what was
    measured until then."""

    def __init__(self, sync: dict[str, Any], folder: str) -> None:
        super().__init__(
            f"w7: {sync['done']} of {sync['applications']} Applications Synced and Healthy "
            f"within {sync['timeout_seconds']}s; see the engine's log under {folder}"
        )
        self.sync = sync


async def run(ground: Ground, quick: bool) -> dict[str, Any]:
    sizes = ground.sizes or (QUICK_SIZES if quick else SIZES)
    repo, work = ground.repository("w7")
    # The application once, with plain names: each Application prefixes its copy.
    work.write(f"{APP_PATH}/app.yaml", APP.replace("-${INDEX}", ""))
    work.write(f"{APP_PATH}/kustomization.yaml", "resources:\n  - app.yaml\n")
    work.commit("the benchmark application, as a Kustomize folder")
    work.push()
    runs = [
        await application_fleet(ground, repo.git_url, size, within=fleet.timeout_for(size))
        for size in sizes
    ]
    return {"concurrent": CONCURRENT, "objects_per_app": OBJECTS_PER_APP, "runs": runs}


async def application_fleet(
    ground: Ground, url: str, size: int, *, within: float
) -> dict[str, Any]:
    """Create ``size`` Applications at once, then refresh each once more."""
    await _argocd_namespace(ground)
    async with ground.namespace("bench-w7") as namespace:
        await ground.kube.apply(_project(namespace))
        try:
            async with (
                ground.engine(f"w7-{size}", "--argocd-namespace", ARGOCD) as engine,
                _IngressController(ground, namespace),
            ):
                synced = await sync_and_time(ground, engine, namespace, url, size, within)
                if not synced["complete"]:
                    raise ApplicationsNotSynced(synced, str(ground.folder))
                await settled(engine)
                refresh = await noop_refresh(ground, engine, namespace, size)
        finally:
            await _delete_project(ground, namespace)
    return {"applications": size, "sync": synced, "refresh": refresh}


def application(index: int, namespace: str, url: str) -> KubeObject:
    """Application ``app-<index>``: the folder at ``main``, prefixed, synced automatically."""
    return {
        "apiVersion": ARGO_API,
        "kind": "Application",
        "metadata": {"name": f"app-{index}", "namespace": namespace},
        "spec": {
            "project": namespace,
            "source": {
                "repoURL": url,
                "targetRevision": "main",
                "path": APP_PATH,
                "kustomize": {"namePrefix": f"a{index}-"},
            },
            "destination": {"server": IN_CLUSTER, "namespace": namespace},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        },
    }


def synced_and_healthy(app: KubeObject) -> bool:
    status = app.get("status") or {}
    return (status.get("sync") or {}).get("status") == "Synced" and (
        status.get("health") or {}
    ).get("status") == "Healthy"


async def sync_and_time(
    ground: Ground, engine: Engine, namespace: str, url: str, size: int, within: float
) -> dict[str, Any]:
    """Create ``size`` Applications at once and wait until every one is Synced and
    Healthy, or ``within`` seconds."""
    done_at: dict[str, float] = {}

    def note_done(obj: KubeObject, at: float) -> None:
        if synced_and_healthy(obj):
            done_at.setdefault(str(obj["metadata"]["name"]), at)

    async with Watched(ground.kube, ARGO_API, "Application", namespace, changed=note_done) as apps:
        apiserver_before = await ground.apiserver_metrics()
        meter = await Meter.start(ground, engine)
        started = time.monotonic()
        await gather_limited(
            (ground.kube.apply(application(index, namespace, url)) for index in range(size)),
            limit=fleet.CREATE_IN_FLIGHT,
        )
        created = time.monotonic()
        try:
            await apps.until(
                lambda _: len(done_at) >= size,
                within=within,
                what=f"{size} Applications Synced and Healthy",
            )
            complete = True
        except WaitTimeout:
            complete = False
        waited = time.monotonic() - started
        usage = await meter.stop()
    apiserver = (await ground.apiserver_metrics()).since(apiserver_before)
    seconds = max(done_at.values()) - started if complete else waited
    return {
        "applications": size,
        "objects": size * OBJECTS_PER_APP,
        "complete": complete,
        "done": len(done_at),
        "timeout_seconds": round(within),
        "seconds_to_all_synced": round(seconds, 2) if complete else None,
        "seconds_waited": round(waited, 2),
        "seconds_to_create": round(created - started, 2),
        "applications_per_second": round(size / seconds, 2) if complete else None,
        "time_to_synced": percentiles([at - started for at in done_at.values()]),
        "engine_requests_per_app": round(usage.engine_requests_total / size, 1),
        "apiserver_requests_per_app": round(usage.apiserver_requests_total / size, 1),
        "apiserver_requests_by_resource": requests_by_resource(apiserver),
        "usage": usage.as_dict(),
    }


async def noop_refresh(ground: Ground, engine: Engine, namespace: str, size: int) -> dict[str, Any]:
    """Ask every Application to refresh once more; what that wrote."""
    versions_before = await _resource_versions(ground, namespace)
    apiserver_before = await ground.apiserver_metrics()
    reconciles_before = await asyncio.to_thread(reconciles_of, engine, CONTROLLER)
    async with Watched(ground.kube, ARGO_API, "Application", namespace) as apps:
        statuses_before = {name: dict(o.get("status") or {}) for name, o in apps.objects.items()}
        meter = await Meter.start(ground, engine)
        started = time.monotonic()
        await gather_limited(
            (
                ground.kube.json_patch(
                    ObjectRef(ARGO_API, "Application", f"app-{index}", namespace),
                    [
                        {
                            "op": "add",
                            "path": "/metadata/annotations",
                            "value": {REFRESH_ANNOTATION: "normal"},
                        }
                    ],
                )
                for index in range(size)
            ),
            limit=fleet.CREATE_IN_FLIGHT,
        )
        # Every annotation is written before any is looked for, so none is missed.
        handled_at = await apps.until(
            lambda objs: len(objs) >= size and not any(_refreshing(o) for o in objs.values()),
            within=PASS_TIMEOUT,
            what=f"{size} Applications refreshed",
        )
        await reconciles_reach(engine, reconciles_before + size, CONTROLLER)
        usage = await meter.stop()
        statuses_after = {name: dict(o.get("status") or {}) for name, o in apps.objects.items()}
    apiserver = (await ground.apiserver_metrics()).since(apiserver_before)
    versions_after = await _resource_versions(ground, namespace)
    engine_writes = {
        verb: count for verb, count in usage.engine_requests.items() if verb in WRITE_VERBS
    }
    return {
        "seconds": round(handled_at - started, 2),
        "reconciles": usage.reconciles.get(CONTROLLER, 0),
        "engine_requests": usage.engine_requests,
        "engine_requests_per_app": round(usage.engine_requests_total / size, 2),
        "engine_writes": engine_writes,
        "engine_writes_total": sum(engine_writes.values()),
        "apiserver_writes_by_resource": requests_by_resource(apiserver, WRITE_VERBS),
        "status_fields_changed": dict(
            sorted(changed_fields(statuses_before, statuses_after, left_out=()).items())
        ),
        "objects_changed": sum(
            1 for key, version in versions_after.items() if versions_before.get(key) != version
        ),
        "objects": len(versions_after),
        "engine_cpu_seconds": usage.engine_cpu_seconds,
        "usage": usage.as_dict(),
    }


def _refreshing(app: KubeObject) -> bool:
    return REFRESH_ANNOTATION in ((app.get("metadata") or {}).get("annotations") or {})


async def _resource_versions(ground: Ground, namespace: str) -> dict[str, str]:
    """The resourceVersion of every object the Applications deliver, by kind and name."""
    versions: dict[str, str] = {}
    for api_version, kind in (
        ("v1", "ServiceAccount"),
        ("v1", "Service"),
        ("apps/v1", "Deployment"),
        ("networking.k8s.io/v1", "Ingress"),
    ):
        for obj in await ground.kube.list(api_version, kind, namespace=namespace):
            name = str(obj["metadata"]["name"])
            if name.startswith("a") and name[1:2].isdigit():
                versions[f"{kind}/{name}"] = str(obj["metadata"].get("resourceVersion"))
    return versions


async def _argocd_namespace(ground: Ground) -> None:
    try:
        await ground.kube.get(ObjectRef("v1", "Namespace", ARGOCD))
    except NotFound:
        await ground.kube.apply(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ARGOCD}}
        )


def _project(namespace: str) -> KubeObject:
    """The AppProject that lets the workload's namespace hold Applications deployed there."""
    return {
        "apiVersion": ARGO_API,
        "kind": "AppProject",
        "metadata": {"name": namespace, "namespace": ARGOCD},
        "spec": {
            "sourceRepos": ["*"],
            "destinations": [{"server": IN_CLUSTER, "namespace": namespace}],
            "sourceNamespaces": [namespace],
            "namespaceResourceWhitelist": [{"group": "*", "kind": "*"}],
        },
    }


async def _delete_project(ground: Ground, namespace: str) -> None:
    with contextlib.suppress(NotFound):
        await ground.kube.delete(ObjectRef(ARGO_API, "AppProject", namespace, ARGOCD))


class _IngressController:
    """Publishes an address on every Ingress of a namespace, as an ingress controller
    would, so that Argo CD's health rules can call them Healthy."""

    def __init__(self, ground: Ground, namespace: str) -> None:
        self._ground = ground
        self._namespace = namespace
        self._pending: set[asyncio.Task[Any]] = set()
        self._published: set[str] = set()
        self._watched = Watched(
            ground.kube, "networking.k8s.io/v1", "Ingress", namespace, changed=self._seen
        )

    async def __aenter__(self) -> _IngressController:
        await self._watched.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._watched.__aexit__(None, None, None)
        for task in self._pending:
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)

    def _seen(self, obj: KubeObject, _at: float) -> None:
        name = str(obj["metadata"]["name"])
        if name in self._published or ((obj.get("status") or {}).get("loadBalancer") or {}).get(
            "ingress"
        ):
            return
        self._published.add(name)
        task = asyncio.create_task(self._publish(name))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _publish(self, name: str) -> None:
        await self._ground.kube.apply_status(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {"name": name, "namespace": self._namespace},
                "status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}},
            }
        )


def table(result: dict[str, Any]) -> str:
    lines = [
        "W7 Argo CD Applications: N Applications of one Kustomize folder (ServiceAccount,",
        "Service, Deployment scaled to 0, Ingress; each prefixed by kustomize.namePrefix) from",
        "one Git repository on 127.0.0.1, automated sync, created at once, until all Synced and",
        "Healthy (the harness publishes each Ingress's address as an ingress controller would).",
        f"lockstep run --concurrent {result['concurrent']}.",
        "",
        "| N | all Synced + Healthy | p50 / p95 per app | apps/s | engine CPU (+ children) | "
        "peak RSS engine (+ children) | engine requests (per app) | API server requests "
        "| control plane CPU |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in result["runs"]:
        sync = run["sync"]
        usage, done = sync["usage"], sync["time_to_synced"]
        lines.append(
            f"| {run['applications']} | {sync['seconds_to_all_synced']} s"
            f" | {done['p50_ms'] / 1000:.1f} s / {done['p95_ms'] / 1000:.1f} s"
            f" | {sync['applications_per_second']}"
            f" | {usage['engine_cpu_seconds']:.1f} s"
            f" | {usage['engine_peak_rss_mib']:.0f} MiB ({usage['engine_tree_peak_rss_mib']:.0f} MiB)"
            f" | {usage['engine_requests_total']} ({sync['engine_requests_per_app']})"
            f" | {usage['apiserver_requests_total']}"
            f" | {_control_plane(usage.get('control_plane_cpu_seconds') or {})} |"
        )
    lines += [
        "",
        "No-op refresh: every Application annotated argocd.argoproj.io/refresh=normal once all",
        "were Synced; nothing changed, so nothing is applied. The engine's writes include the",
        "annotation's removal (one PATCH an Application, as Argo CD acknowledges a refresh).",
        "Objects changed: resourceVersions of the delivered objects before and after.",
        "",
        "| N | pass | reconciles | engine requests (per app) | engine writes "
        "| API server writes, every client | status fields changed | objects changed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in result["runs"]:
        refresh = run["refresh"]
        requests = ", ".join(f"{verb} {n}" for verb, n in refresh["engine_requests"].items())
        writes = ", ".join(f"{verb} {n}" for verb, n in refresh["engine_writes"].items()) or "none"
        served = ", ".join(
            f"{key} {n}" for key, n in refresh["apiserver_writes_by_resource"].items()
        )
        fields = ", ".join(f"{key} ({n})" for key, n in refresh["status_fields_changed"].items())
        lines.append(
            f"| {run['applications']} | {refresh['seconds']} s | {refresh['reconciles']}"
            f" | {requests or 'none'} ({refresh['engine_requests_per_app']})"
            f" | {refresh['engine_writes_total']}: {writes}"
            f" | {served or 'none'}"
            f" | {fields or 'none'}"
            f" | {refresh['objects_changed']} of {refresh['objects']} |"
        )
    return "\n".join(lines) + "\n"
