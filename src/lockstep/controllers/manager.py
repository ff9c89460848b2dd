"""The controller manager behind ``lockstep run``: informers, queues, workers, servers.

For each reconciler it starts an informer on the reconciler's kind, feeds the
keys of objects that need work into a :class:`~lockstep.runtime.queue.WorkQueue`
(a new object, a spec change — ``metadata.generation`` — or a new
``reconcile.fluxcd.io/requestedAt``; never lockstep's own status writes), and
runs workers that call the reconciler, recording metrics and readiness that
``lockstep run`` serves over HTTP (:mod:`lockstep.web.server`). Kustomizations are
also enqueued when their source has a new artifact and, through the
:class:`~lockstep.controllers.drift.DriftWatcher`, when someone changes an object
they applied. ImageRepository scans fill an in-memory tag store, and each change
of a repository's tags enqueues the ImagePolicies that elect from it; each image a
policy newly elects enqueues the ImageUpdateAutomations of its namespace. The Receiver
controller runs beside them; once its cache is synced the webhook server answers
from it (:attr:`ControllerManager.webhooks`), and stops answering when the
controllers stop. On stop it lets in-flight reconciles finish
within the grace period, then cancels what is left: status and artifacts are
written atomically, so a cancelled reconcile leaves nothing half-written.

A cluster may serve any subset of the kinds (Flux's image automation and
notification CRDs are optional). The manager watches the CustomResourceDefinitions
(:class:`~lockstep.runtime.served.ServedKinds`) and runs a kind's controller only
while its kind is served: it is started when its CRD is installed, also later,
without a restart, and stops watching when the CRD is deleted. Readiness waits for
the caches of the kinds that are served and reports the others as absent; a
Kustomization whose source kind is absent finds no source, as for a missing object.

Started by ``lockstep run`` (:mod:`lockstep.cli.run`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Protocol

from lockstep.api.meta import RECONCILE_REQUEST_ANNOTATION
from lockstep.controllers.argo import (
    ARGO_API,
    CONTROL_PLANE_NAMESPACE,
    RESYNC_SECONDS,
    ApplicationReconciler,
    application_changed,
)
from lockstep.controllers.argo.clusters import CLUSTER_SECRET_TYPE, SECRET_TYPE_LABEL, sends_to
from lockstep.controllers.argo.owner import application_marks
from lockstep.controllers.argo.repositories import KNOWN_HOSTS_CONFIGMAP, concerned_applications
from lockstep.controllers.drift import HELM_RELEASE_MARKS, DriftWatcher
from lockstep.controllers.helm import HelmReleaseReconciler, drift_ignored_pointers
from lockstep.controllers.image import (
    AutomationOptions,
    ImagePolicyOptions,
    ImagePolicyReconciler,
    ImageRepositoryReconciler,
    ImageTagStore,
    ImageUpdateAutomationReconciler,
    policies_for_repository,
)
from lockstep.controllers.kustomize import (
    KustomizationMemory,
    KustomizationOptions,
    KustomizationReconciler,
    ignored_pointers_of,
)
from lockstep.controllers.notification import ReceiverReconciler, Webhooks
from lockstep.controllers.source import (
    GitRepositoryReconciler,
    HelmChartReconciler,
    HelmRepositoryReconciler,
    OCIRepositoryReconciler,
)
from lockstep.controllers.source.base import SourceReconciler
from lockstep.egress import OPEN, Egress
from lockstep.kube import KubeClient, KubeObject
from lockstep.runtime.informer import Change, Informer, ObjectCache, ObjectKey
from lockstep.runtime.logcontext import logging_about
from lockstep.runtime.metrics import ControllerMetrics, Health
from lockstep.runtime.queue import Outcome, Success, TerminalFailure, WorkQueue
from lockstep.runtime.served import ServedKinds, Watch, run_served
from lockstep.sources.store import DEFAULT_MAX_CONTENT_BYTES, ArtifactStore

_log = logging.getLogger(__name__)

SCRATCH_FOLDER = ".scratch"
"""Under the storage path: work folders of checkouts in progress."""


@dataclass(frozen=True)
class ManagerOptions:
    """How ``lockstep run`` runs the controllers."""

    storage_path: Path
    """Folder of the artifact store."""

    watch_namespace: str | None = None
    """Watch one namespace only; ``None`` watches all."""

    concurrent: int = 4
    """Reconciles in parallel per controller."""

    storage_addr: str = "127.0.0.1:9090"
    """Address the artifact server listens on; artifact URLs point at it."""

    max_artifact_bytes: int = DEFAULT_MAX_CONTENT_BYTES
    """Largest source content packed into an artifact; larger sources fail."""

    shutdown_grace_seconds: float = 30.0
    """How long in-flight reconciles may finish after a stop is requested."""

    no_cross_namespace_refs: bool = False
    """Refuse Kustomizations whose source or dependencies are in another namespace."""

    strict_substitution: bool = True
    """An undefined postBuild variable without default fails the build (Flux's default)."""

    default_service_account: str = ""
    """Apply Kustomizations without ``spec.serviceAccountName`` as this service account of
    their namespace; empty: with the engine's own rights."""

    egress: Egress = OPEN
    """Which hosts sources, registries and remote clusters may be on."""

    argocd_namespace: str = CONTROL_PLANE_NAMESPACE
    """Argo CD's control-plane namespace: its AppProjects, and the Applications whose
    tracking name is their name alone."""

    argocd_resync_seconds: float = RESYNC_SECONDS
    """How often Applications are compared again and their sources checked without a
    change to tell (Argo CD's ``timeout.reconciliation``)."""


def needs_reconcile(change: Change) -> bool:
    """Whether a change asks for work: not for status-only updates (our own writes)."""
    if change.type != "MODIFIED" or change.previous is None:
        return True
    before, after = change.previous.get("metadata") or {}, change.object.get("metadata") or {}
    return (
        before.get("generation") != after.get("generation")
        or _requested_at(before) != _requested_at(after)
        or before.get("deletionTimestamp") != after.get("deletionTimestamp")
    )


def artifact_changed(change: Change) -> bool:
    """Whether the object's artifact is new: objects that include it must rebuild theirs."""
    before = ((change.previous or {}).get("status") or {}).get("artifact") or {}
    after = (change.object.get("status") or {}).get("artifact") or {}
    return bool(after) and before.get("digest") != after.get("digest")


def readiness_changed(change: Change) -> bool:
    """Whether the object became ready or applied another revision: dependents may go on."""
    before = (change.previous or {}).get("status") or {}
    after = change.object.get("status") or {}
    return _ready_status(before) != _ready_status(after) or before.get(
        "lastAppliedRevision"
    ) != after.get("lastAppliedRevision")


def _ready_status(status: KubeObject) -> str | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready":
            return str(condition.get("status"))
    return None


def _requested_at(metadata: KubeObject) -> str | None:
    annotations = metadata.get("annotations") or {}
    value = annotations.get(RECONCILE_REQUEST_ANNOTATION)
    return str(value) if value is not None else None


class Reconciler(Protocol):
    """What the manager needs of a reconciler."""

    kind: ClassVar[str]
    api_version: ClassVar[str]
    name: ClassVar[str]

    def __init__(
        self, kube: KubeClient, store: ArtifactStore, cache: ObjectCache, scratch: Path
    ) -> None: ...

    async def reconcile(self, key: ObjectKey) -> Outcome: ...

    def dependents(self, key: ObjectKey) -> list[ObjectKey]: ...


SOURCE_RECONCILERS: tuple[type[SourceReconciler[Any, Any]], ...] = (
    GitRepositoryReconciler,
    OCIRepositoryReconciler,
    HelmRepositoryReconciler,
)
"""The source reconcilers ``lockstep run`` runs, one controller each; the HelmChart and
Kustomization controllers run beside them and follow their artifacts."""

RECONCILERS: tuple[type[Any], ...] = (
    *SOURCE_RECONCILERS,
    HelmChartReconciler,
    HelmReleaseReconciler,
    KustomizationReconciler,
    ReceiverReconciler,
    ImageRepositoryReconciler,
    ImagePolicyReconciler,
    ImageUpdateAutomationReconciler,
    ApplicationReconciler,
)
"""Every reconciler the manager runs: their kinds are the kind table's reconciled kinds."""


class Controller:
    """One reconciler with its informer and work queue."""

    def __init__(
        self,
        informer: Informer,
        reconciler: Reconciler,
        metrics: ControllerMetrics,
        queue: WorkQueue[ObjectKey] | None = None,
        *,
        companions: Sequence[Informer] = (),
        wants: Callable[[Change], bool] = needs_reconcile,
    ) -> None:
        """``companions``: informers of other kinds the reconciler reads, run and synced
        with its own (Argo CD's AppProjects); ``wants``: which changes of its kind ask
        for a reconcile."""
        self.informer = informer
        self.reconciler = reconciler
        self.queue: WorkQueue[ObjectKey] = queue if queue is not None else WorkQueue()
        self._metrics = metrics
        self._companions = tuple(companions)
        self._wants = wants
        self.informer.subscribe(self._enqueue)
        self._watching: asyncio.Task[None] | None = None
        self._working: asyncio.Task[None] | None = None
        self.synced = False
        """Whether the informer's first list filled the cache."""

    @classmethod
    def of(
        cls,
        reconciler_type: type[SourceReconciler[Any, Any]],
        kube: KubeClient,
        store: ArtifactStore,
        scratch: Path,
        options: ManagerOptions,
        metrics: ControllerMetrics,
    ) -> Controller:
        informer = _informer(kube, reconciler_type, options)
        reconciler = reconciler_type(kube, store, informer, scratch, egress=options.egress)
        return cls(informer, reconciler, metrics)

    @property
    def name(self) -> str:
        return self.reconciler.name

    @property
    def kind(self) -> str:
        return self.reconciler.kind

    @property
    def api_version(self) -> str:
        return self.reconciler.api_version

    @property
    def cached(self) -> int:
        """How many objects the informer holds."""
        return len(self.informer.items())

    @property
    def watching(self) -> bool:
        return self._watching is not None

    @property
    def working(self) -> bool:
        return self._working is not None

    def start_watching(self, synced: asyncio.Event) -> None:
        """Run the informer; set ``synced`` once its cache is filled."""
        self._watching = asyncio.create_task(self._watch(synced), name=f"informer-{self.name}")

    async def stop_watching(self) -> None:
        """Stop the informer (its kind is no longer served); the workers go on, idle."""
        task, self._watching = self._watching, None
        await _cancel(task)

    def start_working(self, concurrency: int) -> None:
        """Run the workers; the informer's changes are already queued."""
        self._working = asyncio.create_task(
            self.queue.run(self.work, concurrency=concurrency), name=f"workers-{self.name}"
        )

    async def stop(self) -> None:
        """Cancel the informer and the workers (shut the queue down first to let
        in-flight reconciles finish)."""
        await self.stop_watching()
        task, self._working = self._working, None
        await _cancel(task)

    async def _watch(self, synced: asyncio.Event) -> None:
        informers = (self.informer, *self._companions)
        running = [asyncio.create_task(informer.run()) for informer in informers]
        try:
            for informer in informers:
                await informer.wait_synced()
            self.synced = True
            synced.set()
            await asyncio.gather(*running)
        finally:
            for task in running:
                await _cancel(task)

    def _enqueue(self, change: Change) -> None:
        if self._wants(change):
            self.queue.add(change.key)
        if artifact_changed(change) or readiness_changed(change):
            for dependent in self.reconciler.dependents(change.key):
                self.queue.add(dependent)
        self._metrics.queue_depth.labels(controller=self.name).set(len(self.queue))

    async def work(self, key: ObjectKey) -> Outcome:
        started = time.monotonic()
        with logging_about(self.reconciler.kind, *key):
            outcome = await self.reconciler.reconcile(key)
        result = "success" if isinstance(outcome, Success) else "error"
        self._metrics.observe(self.name, result, time.monotonic() - started)
        self._metrics.queue_depth.labels(controller=self.name).set(len(self.queue))
        if isinstance(outcome, TerminalFailure):
            _log.warning("%s %s/%s stalled until its spec changes", self.reconciler.kind, *key)
        return outcome


class ControllerManager:
    """Runs every controller until stopped."""

    def __init__(self, kube: KubeClient, options: ManagerOptions) -> None:
        self._kube = kube
        self._options = options
        self.metrics = ControllerMetrics()
        self.metrics.count_kube_requests(kube.requests)
        self.health = Health()
        self.webhooks = Webhooks(kube, no_cross_namespace_refs=options.no_cross_namespace_refs)
        """What the webhook server asks of the Receivers; it answers 503 until the caches of
        the served kinds are synced (404 for every path while Receivers are not served)."""

    async def run(self, stop: asyncio.Event) -> None:
        options = self._options
        options.storage_path.mkdir(parents=True, exist_ok=True)
        store = ArtifactStore(
            options.storage_path, f"http://{options.storage_addr}", options.max_artifact_bytes
        )
        # Work folders of a process that was killed are left here; nothing else uses them.
        scratch = options.storage_path / SCRATCH_FOLDER
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir()
        sources = [
            Controller.of(kind, self._kube, store, scratch, options, self.metrics)
            for kind in SOURCE_RECONCILERS
        ]
        charts = _chart_controller(self._kube, store, scratch, sources, options, self.metrics)
        sources.append(charts)
        releases = _release_controller(self._kube, store, sources, options, self.metrics)
        informer = _informer(self._kube, KustomizationReconciler, options)
        queue: WorkQueue[ObjectKey] = WorkQueue()
        memory = KustomizationMemory()
        drift = DriftWatcher(
            self._kube, informer.get, ignored_pointers_of, partial(_repair_drift, queue, memory)
        )
        applier = KustomizationReconciler(
            self._kube,
            store,
            informer,
            scratch,
            KustomizationOptions(
                no_cross_namespace_refs=options.no_cross_namespace_refs,
                strict_substitution=options.strict_substitution,
                default_service_account=options.default_service_account,
                egress=options.egress,
            ),
            drift,
            sources={source.reconciler.kind: source.informer.get for source in sources},
            memory=memory,
        )
        kustomizations = Controller(informer, applier, self.metrics, queue)
        for source in sources:
            if source is not charts:
                source.informer.subscribe(
                    partial(
                        _follow_artifacts, source.reconciler.kind, applier, kustomizations.queue
                    )
                )
        receiver_informer = _informer(self._kube, ReceiverReconciler, options)
        receivers = Controller(
            receiver_informer, ReceiverReconciler(self._kube, receiver_informer), self.metrics
        )
        images = _image_controllers(self._kube, scratch, options, self.metrics)
        applications = _application_controller(
            self._kube, store, sources, scratch, options, self.metrics
        )
        controllers = [*sources, kustomizations, releases, receivers, *images.all, applications]
        watch = Watch(
            self.health,
            self.metrics,
            options.concurrent,
            on_started=partial(self.webhooks.serve_from, receiver_informer),
        )
        try:
            await run_served(controllers, ServedKinds(self._kube), watch, stop)
        finally:
            self.webhooks.serve_from(None)
            _log.info("stopping: letting in-flight reconciles finish")
            try:
                async with asyncio.timeout(options.shutdown_grace_seconds):
                    await asyncio.gather(*(c.queue.shutdown(drain=True) for c in controllers))
            except TimeoutError:
                await asyncio.gather(*(c.queue.shutdown(drain=False) for c in controllers))
            for controller in controllers:
                await controller.stop()
            await drift.stop()
            await applier.close()
            if isinstance(releases.reconciler, HelmReleaseReconciler):
                await releases.reconciler.close()
            if isinstance(applications.reconciler, ApplicationReconciler):
                await applications.reconciler.close()


def _chart_controller(
    kube: KubeClient,
    store: ArtifactStore,
    scratch: Path,
    sources: list[Controller],
    options: ManagerOptions,
    metrics: ControllerMetrics,
) -> Controller:
    """The HelmChart controller, reading HelmRepositories and GitRepositories from their
    caches; a new artifact of either enqueues the charts made from it."""
    informer = _informer(kube, HelmChartReconciler, options)
    informers = {
        source.kind: source.informer
        for source in sources
        if source.kind in (HelmRepositoryReconciler.kind, GitRepositoryReconciler.kind)
    }
    reconciler = HelmChartReconciler(
        kube, store, informer, scratch, informers, egress=options.egress
    )
    charts = Controller(informer, reconciler, metrics)
    for kind, source_informer in informers.items():
        source_informer.subscribe(partial(_follow_chart_sources, kind, reconciler, charts.queue))
    return charts


def _follow_chart_sources(
    kind: str, reconciler: HelmChartReconciler, queue: WorkQueue[ObjectKey], change: Change
) -> None:
    """A HelmRepository or GitRepository has a new artifact: its charts look again."""
    if artifact_changed(change):
        for key in reconciler.using_source(kind, change.key):
            queue.add(key)


def _release_controller(
    kube: KubeClient,
    store: ArtifactStore,
    sources: list[Controller],
    options: ManagerOptions,
    metrics: ControllerMetrics,
) -> Controller:
    """The HelmRelease controller, reading chart artifacts from the caches of HelmCharts
    and OCIRepositories; a new artifact or readiness of one enqueues its releases, and
    so does drift of one of their objects."""
    informers = {source.kind: source.informer for source in sources}
    charts = informers[HelmChartReconciler.kind]
    oci_repositories = informers[OCIRepositoryReconciler.kind]
    informer = _informer(kube, HelmReleaseReconciler, options)
    queue: WorkQueue[ObjectKey] = WorkQueue()
    drift = DriftWatcher(
        kube,
        informer.get,
        drift_ignored_pointers,
        partial(_repair_release_drift, queue),
        HELM_RELEASE_MARKS,
    )
    reconciler = HelmReleaseReconciler(
        kube,
        informer,
        store,
        charts,
        oci_repositories,
        default_service_account=options.default_service_account,
        egress=options.egress,
        drift=drift,
        no_cross_namespace_refs=options.no_cross_namespace_refs,
    )
    releases = Controller(informer, reconciler, metrics, queue)

    def follow(change: Change) -> None:
        if artifact_changed(change) or readiness_changed(change):
            for key in reconciler.using_chart(change.key):
                releases.queue.add(key)

    charts.subscribe(follow)
    oci_repositories.subscribe(follow)
    return releases


def _application_controller(
    kube: KubeClient,
    store: ArtifactStore,
    sources: list[Controller],
    scratch: Path,
    options: ManagerOptions,
    metrics: ControllerMetrics,
) -> Controller:
    """The Argo CD Application controller, with the AppProjects, ConfigMaps
    (``argocd-cm``) and cluster Secrets of Argo CD's namespace beside it; a new artifact
    of a source an Application renders enqueues it, a change of an AppProject enqueues
    every Application, and a change of a cluster Secret those sent to that cluster; a
    change of a repository Secret enqueues the Applications it may serve, and one of the
    SSH known hosts every Application."""
    informer = _informer(kube, ApplicationReconciler, options)
    queue: WorkQueue[ObjectKey] = WorkQueue()
    drift = DriftWatcher(
        kube,
        informer.get,
        lambda owner, obj: [],
        partial(_compare_application, queue),
        application_marks(options.argocd_namespace),
    )
    projects = Informer(kube, ARGO_API, "AppProject", namespace=options.argocd_namespace)
    settings = Informer(kube, "v1", "ConfigMap", namespace=options.argocd_namespace)
    clusters = Informer(
        kube,
        "v1",
        "Secret",
        namespace=options.argocd_namespace,
        labels={SECRET_TYPE_LABEL: CLUSTER_SECRET_TYPE},
    )
    repositories = Informer(
        kube, "v1", "Secret", namespace=options.argocd_namespace, labels={SECRET_TYPE_LABEL: None}
    )
    reconciler = ApplicationReconciler(
        kube,
        informer,
        store,
        {source.kind: source.informer.get for source in sources},
        projects,
        settings,
        scratch,
        control_plane_namespace=options.argocd_namespace,
        resync_seconds=options.argocd_resync_seconds,
        drift=drift,
        cluster_secrets=clusters,
        egress=options.egress,
        repository_secrets=repositories,
    )
    applications = Controller(
        informer,
        reconciler,
        metrics,
        queue,
        companions=(projects, settings, clusters, repositories),
        wants=application_changed,
    )

    def follow(kind: str, change: Change) -> None:
        if artifact_changed(change) or readiness_changed(change):
            for key in reconciler.using_source(kind, change.key):
                applications.queue.add(key)

    for source in sources:
        source.informer.subscribe(partial(follow, source.kind))

    def project_changed(change: Change) -> None:
        for application in informer.items():
            metadata = application.get("metadata") or {}
            applications.queue.add((metadata.get("namespace") or "", metadata.get("name") or ""))

    projects.subscribe(project_changed)

    def cluster_changed(change: Change) -> None:
        for application in informer.items():
            if sends_to(application, [change.object, change.previous]):
                metadata = application.get("metadata") or {}
                applications.queue.add((metadata.get("namespace") or "", metadata["name"]))

    clusters.subscribe(cluster_changed)

    def repository_changed(change: Change) -> None:
        items = informer.items()
        for key in concerned_applications(change.object, change.previous, items):
            applications.queue.add(key)

    repositories.subscribe(repository_changed)

    def known_hosts_changed(change: Change) -> None:
        if change.key == (options.argocd_namespace, KNOWN_HOSTS_CONFIGMAP):
            project_changed(change)

    settings.subscribe(known_hosts_changed)
    return applications


@dataclass(frozen=True)
class ImageControllers:
    """The image automation controllers, tied together by the scanned tags."""

    repositories: Controller
    policies: Controller
    """Its informer's changes show each policy's newly elected image (``status.latestRef``)."""

    automations: Controller
    """ImageUpdateAutomations, enqueued when a policy of their namespace elects another image."""

    @property
    def all(self) -> list[Controller]:
        return [self.repositories, self.policies, self.automations]


def _image_controllers(
    kube: KubeClient, scratch: Path, options: ManagerOptions, metrics: ControllerMetrics
) -> ImageControllers:
    """ImageRepository scans fill the tag store; a change of a repository's tags (its
    first scan after a start included) enqueues the ImagePolicies that name it."""
    tags = ImageTagStore()
    repository_informer = _informer(kube, ImageRepositoryReconciler, options)
    repositories = Controller(
        repository_informer,
        ImageRepositoryReconciler(kube, repository_informer, tags, egress=options.egress),
        metrics,
    )
    policy_informer = _informer(kube, ImagePolicyReconciler, options)
    policy_options = ImagePolicyOptions(no_cross_namespace_refs=options.no_cross_namespace_refs)
    policies = Controller(
        policy_informer,
        ImagePolicyReconciler(kube, policy_informer, repository_informer, tags, policy_options),
        metrics,
    )
    tags.subscribe(partial(_follow_tags, policies))
    automation_informer = _informer(kube, ImageUpdateAutomationReconciler, options)
    automation_options = AutomationOptions(
        no_cross_namespace_refs=options.no_cross_namespace_refs, egress=options.egress
    )
    updater = ImageUpdateAutomationReconciler(
        kube, automation_informer, scratch, automation_options
    )
    automations = Controller(automation_informer, updater, metrics)
    policy_informer.subscribe(partial(_follow_elections, updater, automations.queue))
    return ImageControllers(repositories, policies, automations)


def _follow_tags(policies: Controller, repository: ObjectKey) -> None:
    """A repository's tags changed: the policies that elect from it elect again."""
    for key in policies_for_repository(repository, policies.informer.items()):
        policies.queue.add(key)


def _follow_elections(
    updater: ImageUpdateAutomationReconciler, queue: WorkQueue[ObjectKey], change: Change
) -> None:
    """A policy elected another image: the automations of its namespace apply it now."""
    before = ((change.previous or {}).get("status") or {}).get("latestRef")
    after = (change.object.get("status") or {}).get("latestRef")
    if after != before:
        for key in updater.in_namespace(change.key[0]):
            queue.add(key)


def _follow_artifacts(
    kind: str, applier: KustomizationReconciler, queue: WorkQueue[ObjectKey], change: Change
) -> None:
    """A source has a new artifact: the Kustomizations that use it apply it now, even
    those waiting for the health of the previous one."""
    if artifact_changed(change):
        for key in applier.using_source(kind, change.key):
            applier.new_artifact(key)
            queue.add(key)


def _repair_drift(
    queue: WorkQueue[ObjectKey], memory: KustomizationMemory, key: ObjectKey, what: str
) -> None:
    """Someone changed an object of the Kustomization at ``key``: apply it in full now."""
    _log.info("Kustomization %s/%s: %s; reconciling", key[0], key[1], what)
    memory.mark_dirty(key)
    queue.add(key)


def _compare_application(queue: WorkQueue[ObjectKey], key: ObjectKey, what: str) -> None:
    """Someone changed an object of the Application at ``key``: compare it now, which
    reverts the change with ``selfHeal`` and shows it OutOfSync without."""
    _log.info("Application %s/%s: %s; comparing", key[0], key[1], what)
    queue.add(key)


def _repair_release_drift(queue: WorkQueue[ObjectKey], key: ObjectKey, what: str) -> None:
    """Someone changed an object of the HelmRelease at ``key``: reconcile it now, which
    corrects the drift (``driftDetection.mode: enabled``) or reports it (``warn``)."""
    _log.info("HelmRelease %s/%s: %s; reconciling", key[0], key[1], what)
    queue.add(key)


def _informer(kube: KubeClient, reconciler_type: type[Any], options: ManagerOptions) -> Informer:
    return Informer(
        kube, reconciler_type.api_version, reconciler_type.kind, namespace=options.watch_namespace
    )


async def _cancel(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` (if any) and wait until it has stopped."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
