"""The Argo CD Application reconciler: sources fetched by Flux source objects, rendered
as Argo CD renders them, compared with the cluster by a server-side dry run, synced wave
by wave with hooks, and reported in Argo CD's status.

It runs in the one reconciler shell (:mod:`lockstep.controllers.shell`) with Argo CD's
status vocabulary instead of Flux's: no Ready condition, but ``status.sync``,
``status.health``, ``status.resources``, ``status.operationState`` and
``status.history``, and Argo CD's condition types (``InvalidSpecError``,
``ComparisonError``, ``SyncError``) for what goes wrong; the status is written to the
object itself, since Argo CD's CRD has no status subresource. An Application is never
suspended; it is looked at again every :data:`RESYNC_SECONDS`, when an artifact of its
sources changes, and when it changes.

One reconcile is Argo CD's refresh, then a sync when one is due:

1. project: the AppProject named by ``spec.project`` (the ``default`` project allows
   everything when it does not exist) must permit the Application's namespace, its
   sources and its destination, else ``InvalidSpecError`` and nothing is applied
   (:mod:`lockstep.controllers.argo.project`);
2. sources: the Flux source objects of every source are applied when they differ
   (:mod:`lockstep.controllers.argo.sources`), with the credentials of Argo CD's
   repository Secrets (:mod:`lockstep.controllers.argo.repositories`); while one has no
   artifact yet the Application waits, sync ``Unknown``; a source that fails, or whose
   repository Secret cannot be used, gives ``ComparisonError`` with its message;
3. render: every source rendered (:mod:`lockstep.controllers.argo.render`),
   ``ComparisonError`` naming the source and the file when it fails;
4. compare: the rendered objects, put in the destination namespace and marked with the
   tracking id (:mod:`lockstep.controllers.argo.owner`), planned by the apply engine's
   server-side dry run: an object to create or change is ``OutOfSync``, so defaulted
   fields never show as differences; objects the last status listed that are no longer
   rendered, and still carry the Application's tracking id, require pruning. Hooks are
   not part of the comparison. An object that carries another Application's tracking id
   gives ``SharedResourceWarning`` naming both, and with ``FailOnSharedResource=true``
   a sync fails before anything is written;
5. sync, when ``operation.sync`` asks for one (written by ``argocd app sync`` or
   ``lockstep``), or automated sync is on and the Application is ``OutOfSync`` at a
   revision it has not synced yet (at any revision with ``selfHeal``): the steps of the
   sync plan (:mod:`lockstep.controllers.argo.syncplan`) in order, phase, wave, kind and
   name, run by :mod:`lockstep.controllers.argo.steps`: each step's prunes, then its
   objects applied and its hooks created, and the next step only once they are healthy
   and the hooks complete; ``SyncFail`` hooks when it fails. The project's
   ``syncWindows`` may hold a sync back (``SyncError`` naming the window; a requested
   one stays requested), and the kinds and namespaces of the objects must be ones the
   project permits (``InvalidSpecError``). With ``CreateNamespace=true`` the destination
   namespace is created first, with ``managedNamespaceMetadata``'s labels and annotations. The operation's request is removed, ``operationState`` records what each
   object became, and a sync that succeeds is added to ``status.history``;
6. health: each object's Argo CD health (:mod:`lockstep.health.argo`) from what the
   cluster answered, the worst for the Application.

Departures from Argo CD, by design: objects are always applied server-side (Argo CD
applies client-side unless ``ServerSideApply=true``; the objects are the same, but the
fields are owned by the ``argocd-controller`` manager in managedFields, not in a
``last-applied-configuration`` annotation); a sync runs within one reconcile, bounded by
:data:`~lockstep.controllers.argo.steps.STEP_TIMEOUT_SECONDS` per step.

Beyond Argo CD, a change someone else makes to an object of an Application (``kubectl
scale``, ``kubectl edit``, a deletion) is seen by the drift watches
(:mod:`lockstep.controllers.drift`) and compared at once: the Application shows
OutOfSync, and with ``selfHeal`` the change is reverted, without waiting for Argo CD's
next refresh.

A requested sync may name a ``revision`` (``revisions`` per source): the sources at that
revision are fetched and synced, and the Application then compares with its target
revisions again (a rollback); ``resources`` limits it to those objects; ``dryRun``
reports what it would do from the comparison and writes nothing.
``argocd.argoproj.io/refresh`` is removed once a comparison has started; ``hard`` also
fetches the sources again.

``ignoreDifferences`` and argocd-cm's system rules (:mod:`lockstep.controllers.argo.ignore`)
leave fields out of the comparison; a sync writes them anyway unless
``RespectIgnoreDifferences=true``, as in Argo CD.

Deleting an Application with ``resources-finalizer.argocd.argoproj.io`` runs its
PreDelete hooks, deletes its objects, then runs its PostDelete hooks
(:mod:`lockstep.controllers.argo.deletion`); a hook that fails keeps the finalizer, with
``DeletionError`` naming it. Without the finalizer no hook runs, as in Argo CD.

A failed automated sync is tried again at the same revision only as
``syncPolicy.retry`` says: up to ``limit`` times (forever when negative), after its
``backoff`` (5s, doubled, at most 3m by default), counted in ``operationState.retryCount``.

The destination is the local cluster (``https://kubernetes.default.svc``,
``in-cluster``) or one of Argo CD's cluster Secrets, by ``server`` or ``name``
(:mod:`lockstep.controllers.argo.clusters`): the whole pipeline, the drift watches and
the deletion cascade then run on that cluster, and a change of a cluster Secret has the
Applications sent to it looked at again. A name or server no Secret has is
``InvalidSpecError``; a cluster that cannot be reached, ``ComparisonError``, and a
deletion waits for it (``DeletionError``), its finalizer kept.

Not yet: Argo CD's custom TLS certificates (``argocd-tls-certs-cm``).

Run by the controller manager; rendering runs in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from lockstep.api.argo import (
    Application,
    ApplicationSource,
    ApplicationStatus,
    Operation,
    OperationPhase,
    OperationState,
    ResourceStatus,
    RetryStrategy,
    SyncOperation,
    SyncOperationResult,
    SyncStatus,
    SyncStatusCode,
)
from lockstep.api.meta import RECONCILE_REQUEST_ANNOTATION, Artifact
from lockstep.apply import (
    ApplyOptions,
    IgnoreRule,
    InventoryEntry,
    plan_all,
    with_default_namespace,
)
from lockstep.controllers.argo.clusters import ArgoCluster, DestinationClusters, Target
from lockstep.controllers.argo.deletion import DeletionHookFailed, delete_application
from lockstep.controllers.argo.ignore import (
    IgnoreDifferencesError,
    IgnoreDifferencesRule,
    ignore_rules_of,
    parse_system_rules,
)
from lockstep.controllers.argo.operations import (
    chosen_resources,
    due_operation,
    requested_sources,
    retry_wait,
    synced_revisions,
)
from lockstep.controllers.argo.owner import ARGO_FIELD_MANAGER, application_owner
from lockstep.controllers.argo.project import (
    DEFAULT_PROJECT_NAME,
    Destination,
    InvalidProjectError,
    ProjectRules,
    check_application,
    check_object,
    default_project_rules,
    parse_project,
)
from lockstep.controllers.argo.render import RenderContext, render_source
from lockstep.controllers.argo.repositories import (
    KNOWN_HOSTS_CONFIGMAP,
    RepositoryCredentialsError,
    access_advice,
)
from lockstep.controllers.argo.sources import (
    SourceObjects,
    application_source_objects,
    apply_source_object,
    commit_of,
)
from lockstep.controllers.argo.status import (
    COMPARISON_ERROR,
    CONDITION_TYPES,
    INVALID_SPEC_ERROR,
    SYNC_ERROR,
    Comparison,
    Desired,
    compared_to,
    now,
    record_history,
    report,
    shared_resources,
    with_condition,
)
from lockstep.controllers.argo.steps import (
    POLL_SECONDS,
    StepRunner,
    SyncFailed,
    resource_result,
)
from lockstep.controllers.argo.syncplan import (
    SyncOptions,
    SyncPlanError,
    hook_of,
    parse_sync_options,
    plan_deletion,
    plan_sync,
)
from lockstep.controllers.argo.syncwindows import (
    SyncWindow,
    can_sync,
    parse_sync_windows,
)
from lockstep.controllers.argo.tracking import app_instance_name, belongs_to
from lockstep.controllers.drift import DriftWatcher
from lockstep.controllers.shell import (
    WAITING,
    Failure,
    Ordering,
    Ready,
    ReconcilerShell,
    ShellSpec,
    Waiting,
)
from lockstep.egress import OPEN, Egress
from lockstep.health.argo import argo_health
from lockstep.health.lua import LuaHealthChecks, LuaHealthConfigError
from lockstep.kube import Invalid, KubeClient, KubeError, KubeObject, NotFound, ObjectRef
from lockstep.render.errors import RenderError
from lockstep.runtime.clusters import ClusterUnavailable
from lockstep.runtime.informer import Change, ObjectCache, ObjectKey
from lockstep.sources.errors import SourceError
from lockstep.sources.extracted import ExtractedArtifacts
from lockstep.sources.store import ArtifactStore

ARGO_API = "argoproj.io/v1alpha1"
REFRESH_ANNOTATION = "argocd.argoproj.io/refresh"
ARGOCD_CM = "argocd-cm"
"""Argo CD's settings ConfigMap, in its namespace: the custom health checks."""
CONTROL_PLANE_NAMESPACE = "argocd"
"""Argo CD's own namespace, where Applications live by default."""
RESOURCES_FINALIZER = "resources-finalizer.argocd.argoproj.io"
BACKGROUND_FINALIZER = f"{RESOURCES_FINALIZER}/background"
DELETION_ERROR = "DeletionError"
DELETION_RETRY_SECONDS = 30.0
"""How soon a deletion stopped by a failed hook is looked at again (deleting the hook
object there runs it again)."""

RESYNC_SECONDS = 180.0
"""How often an Application is compared again without a change to tell: Argo CD's 120 s
plus its jitter's mean."""


SourceCache = Callable[[ObjectKey], KubeObject | None]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _NeverSuspended:
    """What the shell reads of a spec: Argo CD's Application cannot be suspended, and
    its resync period is the reconciler's, not the spec's."""

    suspend: bool = False
    interval: str | None = None


@dataclass(frozen=True)
class Project:
    """The AppProject an Application belongs to, read, and its destination resolved."""

    rules: ProjectRules
    windows: tuple[SyncWindow, ...]
    destination: Destination
    cluster: ArgoCluster


class ApplicationReconciler(ReconcilerShell[Application, ApplicationStatus]):
    """Compares and syncs Argo CD Applications; see the module docstring."""

    kind: ClassVar[str] = "Application"
    api_version: ClassVar[str] = ARGO_API
    name: ClassVar[str] = "application"
    model = Application
    status_model = ApplicationStatus
    finalizer: ClassVar[str | None] = RESOURCES_FINALIZER
    other_finalizers: ClassVar[tuple[str, ...]] = (BACKGROUND_FINALIZER,)
    ordering: ClassVar[Ordering] = Ordering(adds_finalizer=False)
    status_subresource: ClassVar[bool] = False

    def __init__(
        self,
        kube: KubeClient,
        cache: ObjectCache,
        store: ArtifactStore,
        sources: Mapping[str, SourceCache],
        projects: ObjectCache,
        settings: ObjectCache,
        scratch: Path,
        *,
        control_plane_namespace: str = CONTROL_PLANE_NAMESPACE,
        resync_seconds: float = RESYNC_SECONDS,
        drift: DriftWatcher | None = None,
        cluster_secrets: ObjectCache | None = None,
        egress: Egress = OPEN,
        repository_secrets: ObjectCache | None = None,
    ) -> None:
        """``drift``: the watcher that enqueues an Application when one of its objects on
        the local cluster is changed by someone else
        (:func:`~lockstep.controllers.argo.owner.application_marks`), and makes those of
        the other clusters; ``cluster_secrets``: the cached cluster Secrets of Argo CD's
        namespace; ``egress``: which servers those clusters may be on;
        ``repository_secrets``: the cached repository Secrets of Argo CD's namespace."""
        super().__init__(kube, cache)
        self._drift = drift
        self._clusters = DestinationClusters(
            kube, cluster_secrets, drift, egress=egress, resync_seconds=resync_seconds
        )
        self._sources = sources
        self._projects = projects
        self._settings = settings
        self._repository_secrets = repository_secrets
        self._lua: tuple[str, LuaHealthChecks | None] = ("", None)
        self._system_ignores: tuple[str, list[IgnoreDifferencesRule]] = ("", [])
        self._retry_after: dict[ObjectKey, float] = {}
        """Seconds until a failed automated sync is tried again, by Application."""
        self._artifacts = ExtractedArtifacts(
            scratch / "argo-artifacts", max_bytes=store.max_content_bytes
        )
        self._control_plane = control_plane_namespace
        self._resync = resync_seconds
        self._interval = f"{resync_seconds:.0f}s"
        """The resync period as the sources' interval."""
        self._users: dict[tuple[str, ObjectKey], set[ObjectKey]] = {}

    # --- the shell's hooks, in Argo CD's vocabulary --------------------------------

    @staticmethod
    def spec_of(obj: Application) -> ShellSpec:
        return _NeverSuspended()

    def interval(self, obj: Application) -> float | None:
        key = (obj.metadata.namespace or "", obj.metadata.name)
        return min(self._resync, self._retry_after.pop(key, self._resync))

    def using_source(self, kind: str, key: ObjectKey) -> list[ObjectKey]:
        """The Applications that render the artifact of the source ``kind`` at ``key``."""
        return sorted(self._users.get((kind, key), ()))

    async def forget(self, key: ObjectKey) -> None:
        for users in self._users.values():
            users.discard(key)
        await self._clusters.release(key)

    async def close(self) -> None:
        """Close the other clusters and stop the drift watches."""
        await self._clusters.close()
        if self._drift is not None:
            await self._drift.stop()

    def prepared_status(self, obj: Application) -> ApplicationStatus:
        status = obj.status.model_copy(deep=True) if obj.status else ApplicationStatus()
        status.controller_namespace = self._control_plane
        return status

    def succeeded_status(
        self, obj: Application, status: ApplicationStatus, ready: Ready
    ) -> ApplicationStatus:
        """The status as the pipeline wrote it, conditions included (:meth:`_report`)."""
        return status

    def failed_status(
        self, obj: Application, status: ApplicationStatus, failure: Failure
    ) -> ApplicationStatus:
        kind = failure.reason if failure.reason in CONDITION_TYPES else COMPARISON_ERROR
        status.conditions = with_condition(status.conditions, kind, str(failure))
        if kind != SYNC_ERROR:
            status.sync = SyncStatus(
                status=SyncStatusCode.UNKNOWN,
                compared_to=compared_to(obj),
                revision=status.sync.revision if status.sync else None,
            )
            status.reconciled_at = now()
        return status

    def invalid_status(self, raw: KubeObject, message: str) -> dict[str, Any]:
        previous = dict(raw.get("status") or {})
        conditions = [
            c
            for c in previous.get("conditions") or []
            if isinstance(c, Mapping) and c.get("type") != INVALID_SPEC_ERROR
        ]
        condition = {
            "type": INVALID_SPEC_ERROR,
            "message": message,
            "lastTransitionTime": now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        return {**previous, "conditions": [*conditions, condition]}

    # --- the pipeline ----------------------------------------------------------------

    async def pipeline(self, obj: Application, status: ApplicationStatus) -> Ready | Waiting:
        key = (obj.metadata.namespace or "", obj.metadata.name)
        refresh = obj.metadata.annotations.get(REFRESH_ANNOTATION)
        if refresh is not None:
            await self._refreshed(obj, hard=refresh == "hard")
        cluster = self._clusters.resolve(_name(obj), obj.spec.destination)
        project = self._check_project(obj, cluster)
        destination = await self._clusters.target(_name(obj), key, cluster, obj)
        sources = obj.spec.effective_sources()
        if not sources:
            raise Failure(
                INVALID_SPEC_ERROR,
                f"{_name(obj)}: spec.source or spec.sources is required",
                retry=False,
            )
        for source in sources:
            if source.repo_url.startswith("oci://") and not source.chart:
                raise Failure(
                    COMPARISON_ERROR,
                    f"{_name(obj)}: source {source.repo_url}: OCI sources of manifests are not "
                    "supported yet; use a Git repository, or a Helm chart with chart set",
                    retry=False,
                )
        artifacts = await self._artifacts_of(obj, key, sources)
        if artifacts is None:
            status.sync = SyncStatus(status=SyncStatusCode.UNKNOWN, compared_to=compared_to(obj))
            return WAITING
        desired = await self._render(obj, sources, artifacts, destination)
        app = app_instance_name(obj.metadata.name, key[0], self._control_plane)
        options = parse_sync_options(obj.spec.sync_options)
        comparison = await self._compare(obj, app, destination, desired, status, options)
        self._check_objects(obj, project, [*comparison.resources, *comparison.hooks])
        revision = desired.revisions[0] if len(desired.revisions) == 1 else None
        operation = due_operation(obj, status, comparison, desired, partial(self._retry_due, obj))
        blocked = self._blocked(obj, project, operation)
        if blocked:
            operation = None
        requested = requested_sources(sources, desired, operation)
        if operation is not None and requested is not None:
            # A sync of another revision (a rollback): rendered from its own fetch, then
            # compared again with the target revision.
            chosen = await self._artifacts_of(obj, key, requested, forget=False)
            if chosen is None:
                return WAITING
            wanted = await self._render(obj, requested, chosen, destination)
            await self._sync(
                obj,
                app,
                destination,
                wanted,
                await self._compare(obj, app, destination, wanted, status, options),
                status,
                options,
                operation,
            )
            comparison = await self._compare(obj, app, destination, desired, status, options)
        elif operation is not None:
            comparison = await self._sync(
                obj, app, destination, desired, comparison, status, options, operation
            )
        report(obj, status, comparison, desired, revision)
        if blocked:
            status.conditions = with_condition(status.conditions, SYNC_ERROR, blocked)
        return Ready(f"{_name(obj)}: {status.sync.status if status.sync else ''}")

    async def _refreshed(self, obj: Application, *, hard: bool) -> None:
        """``argocd.argoproj.io/refresh`` asked for this comparison: the annotation is
        removed, as Argo CD does; ``hard`` also has every source fetched again now."""
        if hard:
            requested = now().strftime("%Y-%m-%dT%H:%M:%SZ")
            for source in obj.spec.effective_sources():
                objects = self._source_objects(obj, source)
                for manifest in objects.manifests:
                    metadata = {
                        **manifest["metadata"],
                        "annotations": {RECONCILE_REQUEST_ANNOTATION: requested},
                    }
                    requesting = {**manifest, "metadata": metadata}
                    await apply_source_object(self._kube, objects, requesting)
        escaped = REFRESH_ANNOTATION.replace("~", "~0").replace("/", "~1")
        with contextlib.suppress(NotFound, Invalid):
            await self._kube.json_patch(
                ObjectRef.of(obj.to_manifest()),
                [{"op": "remove", "path": f"/metadata/annotations/{escaped}"}],
            )

    def _check_project(self, obj: Application, cluster: ArgoCluster) -> Project:
        """Step 1: the AppProject permits the Application on ``cluster``, its destination
        as resolved (by name and server, as Argo CD checks it)."""
        name = obj.spec.project or DEFAULT_PROJECT_NAME
        raw = self._projects.get((self._control_plane, name))
        windows: tuple[SyncWindow, ...] = ()
        try:
            if raw is None:
                if name != DEFAULT_PROJECT_NAME:
                    raise Failure(
                        INVALID_SPEC_ERROR,
                        f"{_name(obj)}: AppProject '{name}' does not exist in namespace "
                        f"{self._control_plane}; create it or set spec.project",
                        retry=False,
                        requeue_after=self._resync,
                    )
                rules = default_project_rules()
            else:
                rules, windows = parse_project(raw), parse_sync_windows(raw)
        except InvalidProjectError as error:
            raise Failure(
                INVALID_SPEC_ERROR,
                f"{_name(obj)}: {error}",
                retry=False,
                requeue_after=self._resync,
            ) from error
        resolved = Destination(
            server=cluster.server,
            name=cluster.name,
            namespace=obj.spec.destination.namespace or "",
        )
        violations = check_application(
            rules,
            app_name=obj.metadata.name,
            app_namespace=obj.metadata.namespace or "",
            control_plane_namespace=self._control_plane,
            repo_urls=[source.repo_url for source in obj.spec.effective_sources()],
            destination=resolved,
        )
        if violations:
            raise Failure(
                INVALID_SPEC_ERROR,
                f"{_name(obj)}: {'; '.join(violations)}",
                retry=False,
                requeue_after=self._resync,
            )
        return Project(rules, windows, resolved, cluster)

    def _check_objects(
        self, obj: Application, project: Project, objects: Iterable[KubeObject]
    ) -> None:
        """Step 4's guard: every object of a kind and in a namespace the project permits."""
        refused = []
        for manifest in objects:
            namespace = (manifest.get("metadata") or {}).get("namespace")
            problem = check_object(
                project.rules,
                group=str(manifest.get("apiVersion", "")).rpartition("/")[0],
                kind=str(manifest.get("kind", "")),
                namespace=str(namespace) if namespace else None,
                destination=project.destination,
            ) or project.cluster.refuses(str(namespace) if namespace else None)
            if problem is not None:
                refused.append(f"{ObjectRef.of(manifest)}: {problem}")
        if refused:
            more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
            raise Failure(
                INVALID_SPEC_ERROR,
                f"{_name(obj)}: {refused[0]}{more}",
                retry=False,
                requeue_after=self._resync,
            )

    async def _artifacts_of(
        self,
        obj: Application,
        key: ObjectKey,
        sources: Sequence[ApplicationSource],
        *,
        forget: bool = True,
    ) -> list[Artifact] | None:
        """Step 2: each source's artifact; None while one has none yet. The Application is
        enqueued when one of them changes (with ``forget``, only by these sources)."""
        artifacts: list[Artifact] = []
        if forget:
            for kept in self._users.values():
                kept.discard(key)
        for source in sources:
            objects = self._source_objects(obj, source)
            namespace = objects.namespace
            self._users.setdefault((objects.kind, (namespace, objects.name)), set()).add(key)
            raw = await self._ensure(objects)
            artifact = ((raw or {}).get("status") or {}).get("artifact")
            if not artifact:
                message = _failing_message(raw)
                if message:
                    origin, where = objects.origin, self._control_plane
                    message = access_advice(message, source.repo_url, origin, where)
                    raise Failure(
                        COMPARISON_ERROR,
                        f"{_name(obj)}: source {source.repo_url} "
                        f"({objects.kind} {namespace}/{objects.name}): {message}",
                        retry=False,
                        requeue_after=self._resync,
                    )
                return None
            artifacts.append(Artifact.model_validate(artifact))
        return artifacts

    def _source_objects(self, obj: Application, source: ApplicationSource) -> SourceObjects:
        """The source objects of ``source``, with the credentials Argo CD's repository
        Secrets give an Application of its project."""
        secrets = self._repository_secrets
        try:
            return application_source_objects(
                source,
                obj.metadata.namespace or "",
                self._interval,
                project=obj.spec.project or DEFAULT_PROJECT_NAME,
                secrets=secrets.items() if secrets is not None else (),
                known_hosts=self._settings.get((self._control_plane, KNOWN_HOSTS_CONFIGMAP)),
            )
        except RepositoryCredentialsError as error:
            raise Failure(
                COMPARISON_ERROR,
                f"{_name(obj)}: source {source.repo_url}: {error}",
                retry=False,
                requeue_after=self._resync,
            ) from error

    async def _ensure(self, objects: SourceObjects) -> KubeObject | None:
        """The cached source object whose artifact is the source's, after applying the
        source objects that differ from their cached copies."""
        namespace = objects.namespace
        for manifest in objects.manifests:
            cache = self._sources.get(manifest["kind"])
            cached = cache((namespace, manifest["metadata"]["name"])) if cache else None
            if cached is None or not _same_spec(cached, manifest):
                await apply_source_object(self._kube, objects, manifest)
        cache = self._sources.get(objects.kind)
        return cache((namespace, objects.name)) if cache else None

    async def _render(
        self,
        obj: Application,
        sources: Sequence[ApplicationSource],
        artifacts: Sequence[Artifact],
        target: Target,
    ) -> Desired:
        """Step 3, in a thread."""
        kube_version, api_versions = await self._clusters.capabilities(_name(obj), target)

        def render() -> Desired:
            with contextlib.ExitStack() as stack:
                roots = [
                    stack.enter_context(self._artifacts.checkout(a.url, a.digest))
                    for a in artifacts
                ]
                context = RenderContext(
                    app_name=obj.metadata.name,
                    namespace=target.namespace,
                    kube_version=kube_version or None,
                    api_versions=api_versions,
                    refs={s.ref: root for s, root in zip(sources, roots, strict=True) if s.ref},
                )
                objects: list[KubeObject] = []
                types: list[str] = []
                for source, root in zip(sources, roots, strict=True):
                    if source.ref and not source.path and not source.chart:
                        continue  # a source of values files only
                    rendered = render_source(source, root, context)
                    objects.extend(rendered.objects)
                    types.append(rendered.source_type.value)
                return Desired(objects, [commit_of(a.revision or "") for a in artifacts], types)

        try:
            return await asyncio.to_thread(render)
        except (RenderError, SourceError, OSError) as error:
            raise Failure(
                COMPARISON_ERROR,
                f"{_name(obj)}: rendering failed: {' '.join(str(error).split())}",
                retry=False,
                requeue_after=self._resync,
            ) from error

    async def _compare(
        self,
        obj: Application,
        app: str,
        target: Target,
        desired: Desired,
        status: ApplicationStatus,
        options: SyncOptions,
    ) -> Comparison:
        """Step 4, on the destination cluster."""
        kube = target.kube
        objects = await with_default_namespace(
            kube, copy.deepcopy(desired.objects), target.namespace
        )
        hooks = [o for o in objects if hook_of(o) is not None]
        resources = [o for o in objects if hook_of(o) is None]
        ignored = await self._ignored(obj, kube, resources)
        apply_options = ApplyOptions(
            owner=application_owner(app, target.namespace, options),
            ignore_rules=ignored,
            # Objects watched at the version their dry-run answers are not read again.
            live_copies=target.drift.live_copy if target.drift is not None else None,
        )
        try:
            plan = await plan_all(kube, resources, apply_options)
        except KubeError as error:
            raise Failure(COMPARISON_ERROR, f"{_name(obj)}: comparing failed: {error}") from error
        entries = [InventoryEntry.of(ObjectRef.of(o)) for o in resources]
        if target.drift is not None:
            key = (obj.metadata.namespace or "", obj.metadata.name)
            target.drift.track(key, entries)
        wanted = {entry.id for entry in entries}
        prunable = []
        for previous in status.resources:
            ref = _ref_of(previous)
            if ref is None or previous.hook or InventoryEntry.of(ref).id in wanted:
                continue
            try:
                live = await kube.get(ref)
            except NotFound:
                continue
            except KubeError as error:
                raise Failure(COMPARISON_ERROR, f"{_name(obj)}: reading {ref}: {error}") from error
            # One being deleted already (a foreground prune waits for its dependents) is
            # not pruned again.
            if belongs_to(live, app) and not (live.get("metadata") or {}).get("deletionTimestamp"):
                prunable.append(live)
        checks = self._health_checks()
        lives = [planned.live for planned in plan.objects]
        if checks is None:
            healths = [argo_health(live) for live in lives]
        else:
            # A script may run for up to its time limit: not on the event loop.
            healths = await asyncio.to_thread(lambda: [argo_health(live, checks) for live in lives])
        return Comparison(plan, resources, hooks, prunable, healths, ignored)

    async def _ignored(
        self, obj: Application, kube: KubeClient, resources: Sequence[KubeObject]
    ) -> tuple[IgnoreRule, ...]:
        """The apply engine's rules for the fields ``spec.ignoreDifferences`` and argocd-cm
        leave out of the comparison, one per object they cover (whose live copy is read
        for jq expressions and field managers)."""
        try:
            return await ignore_rules_of(
                kube, resources, obj.spec.ignore_differences, self._system_ignore_rules()
            )
        except IgnoreDifferencesError as error:
            raise Failure(INVALID_SPEC_ERROR, f"{_name(obj)}: {error}", retry=False) from error
        except KubeError as error:
            raise Failure(
                COMPARISON_ERROR, f"{_name(obj)}: reading live objects: {error}"
            ) from error

    def _system_ignore_rules(self) -> list[IgnoreDifferencesRule]:
        """The ignoreDifferences of ``argocd-cm``, parsed once per version of it; rules
        that cannot be read are logged and left out."""
        raw = self._settings.get((self._control_plane, ARGOCD_CM))
        version = str(((raw or {}).get("metadata") or {}).get("resourceVersion") or "")
        if version != self._system_ignores[0]:
            rules: list[IgnoreDifferencesRule] = []
            if raw is not None:
                try:
                    rules = parse_system_rules(raw.get("data") or {})
                except IgnoreDifferencesError as error:
                    _log.warning("%s/%s: %s", self._control_plane, ARGOCD_CM, error)
            self._system_ignores = (version, rules)
        return self._system_ignores[1]

    def _retry_due(
        self, obj: Application, retry: RetryStrategy | None, last: OperationState
    ) -> bool:
        """Whether the failed sync ``last`` is to be tried again now; when it is to be
        later, the Application is looked at again then (:meth:`interval`)."""
        key = (obj.metadata.namespace or "", obj.metadata.name)
        wait = retry_wait(retry, last, now())
        if wait is not None and wait > 0:
            self._retry_after[key] = wait
            return False
        self._retry_after.pop(key, None)
        return wait is not None

    def _blocked(self, obj: Application, project: Project, operation: Operation | None) -> str:
        """Why the project's sync windows hold ``operation`` back now; empty when they do
        not. A held manual sync stays requested and starts once a window allows it."""
        if operation is None or not project.windows:
            return ""
        permission = can_sync(
            project.windows,
            project=project.rules.name,
            app_name=obj.metadata.name,
            destination=project.destination,
            at=datetime.now(UTC),
            manual=obj.operation is not None,
        )
        return "" if permission.allowed else f"{_name(obj)}: {permission.message}"

    async def _sync(
        self,
        obj: Application,
        app: str,
        target: Target,
        desired: Desired,
        comparison: Comparison,
        status: ApplicationStatus,
        options: SyncOptions,
        operation: Operation,
    ) -> Comparison:
        """Step 5: run the sync, record it, and compare again."""
        request = operation.sync or SyncOperation()
        options = parse_sync_options([*obj.spec.sync_options, *request.sync_options])
        started = now()
        last = status.operation_state
        retrying = (
            operation.initiated_by is not None
            and operation.initiated_by.automated
            and last is not None
            and last.phase == OperationPhase.FAILED
            and synced_revisions(last) == request.revisions
        )
        state = OperationState(
            operation=operation,
            phase=OperationPhase.RUNNING,
            started_at=started,
            retry_count=((last.retry_count or 0) + 1) if retrying and last else None,
        )
        status.operation_state = state
        if obj.operation is not None:
            await self._kube.json_patch(
                ObjectRef.of(obj.to_manifest()), [{"op": "remove", "path": "/operation"}]
            )
        chosen = chosen_resources(request.resources)
        if request.dry_run:
            return self._dry_run(obj, comparison, desired, state, chosen)
        shared = shared_resources(comparison, app) if options.fail_on_shared_resource else []
        if shared:
            # Refused before anything is written, SyncFail hooks included, as Argo CD does.
            state.phase, state.finished_at = OperationPhase.FAILED, now()
            more = f" (and {len(shared) - 1} more)" if len(shared) > 1 else ""
            state.message = (
                f"shared resource found, and FailOnSharedResource=true: {shared[0]}{more}; "
                "remove it from one of the Applications"
            )
            return comparison
        try:
            plan = plan_sync(
                [o for o in [*comparison.resources, *comparison.hooks] if chosen(o)],
                [o for o in comparison.prunable if chosen(o)],
                options=options,
                prune_enabled=bool(request.prune),
                revision=desired.revisions[0] if desired.revisions else "",
                started_at=int(time.time()),
            )
        except SyncPlanError as error:
            raise Failure(
                SYNC_ERROR, f"{_name(obj)}: {error}", retry=False, requeue_after=self._resync
            ) from error
        owner = application_owner(app, target.namespace, options)
        # Without RespectIgnoreDifferences a sync writes the ignored fields too, as Argo CD's.
        kept = comparison.ignored if options.respect_ignore_differences else ()
        apply_options = ApplyOptions(
            owner=owner,
            ignore_rules=kept,
            live_copies=target.drift.live_copy if target.drift is not None else None,
        )
        runner = StepRunner(target.kube, target.drift, apply_options)
        try:
            if options.create_namespace:
                await self._create_namespace(obj, target)
            for step in plan.steps:
                await runner.run_step(step.prunes, step.applies)
            phase, message = OperationPhase.SUCCEEDED, "successfully synced (all tasks run)"
        except SyncFailed as failure:
            phase, message = OperationPhase.FAILED, str(failure)
            with contextlib.suppress(SyncFailed):
                await runner.run_step((), plan.sync_fail)
        results = runner.results
        state.phase, state.message, state.finished_at = phase, message, now()
        state.sync_result = SyncOperationResult(
            resources=results,
            revision=desired.revisions[0] if len(desired.revisions) == 1 else None,
            revisions=desired.revisions if len(desired.revisions) > 1 else [],
            source=obj.spec.source if not obj.spec.sources else None,
            sources=list(obj.spec.sources),
        )
        if phase is OperationPhase.SUCCEEDED:
            record_history(obj, status, desired, started, operation)
        return await self._compare(obj, app, target, desired, status, options)

    async def _create_namespace(self, obj: Application, target: Target) -> None:
        """``CreateNamespace=true``: the destination namespace, with the labels and
        annotations of ``managedNamespaceMetadata``, applied before the first step."""
        namespace = target.namespace
        metadata: dict[str, Any] = {"name": namespace}
        policy = obj.spec.sync_policy
        managed = policy.managed_namespace_metadata if policy else None
        if managed is not None:
            metadata.update(
                {
                    k: dict(v)
                    for k, v in (("labels", managed.labels), ("annotations", managed.annotations))
                    if v
                }
            )
        try:
            await target.kube.apply(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata},
                field_manager=ARGO_FIELD_MANAGER,
            )
        except KubeError as error:
            raise SyncFailed(f"Namespace/{namespace} cannot be created: {error}") from error

    def _dry_run(
        self,
        obj: Application,
        comparison: Comparison,
        desired: Desired,
        state: OperationState,
        chosen: Callable[[Mapping[str, Any]], bool],
    ) -> Comparison:
        """A sync with ``dryRun``: what it would do to each object, from the comparison's
        server-side dry run; nothing is written, nothing enters the history."""
        results = [
            resource_result(planned.desired, "Synced", f"{planned.action.value} (dry run)")
            for planned in comparison.plan.objects
            if chosen(planned.desired)
        ]
        results += [
            resource_result(live, "Pruned", "pruned (dry run)")
            for live in comparison.prunable
            if chosen(live)
        ]
        state.phase, state.message, state.finished_at = (
            OperationPhase.SUCCEEDED,
            "successfully synced (dry run)",
            now(),
        )
        state.sync_result = SyncOperationResult(
            resources=results,
            revision=desired.revisions[0] if len(desired.revisions) == 1 else None,
            revisions=desired.revisions if len(desired.revisions) > 1 else [],
        )
        return comparison

    def _health_checks(self) -> LuaHealthChecks | None:
        """The custom health checks of ``argocd-cm``, parsed once per version of it."""
        raw = self._settings.get((self._control_plane, ARGOCD_CM))
        version = str(((raw or {}).get("metadata") or {}).get("resourceVersion") or "")
        if version != self._lua[0]:
            checks = None
            if raw is not None:
                try:
                    checks = LuaHealthChecks.from_argocd_cm(raw.get("data") or {})
                except LuaHealthConfigError as error:
                    _log.warning("%s/%s: %s", self._control_plane, ARGOCD_CM, error)
            self._lua = (version, checks if checks and checks.scripts else None)
        return self._lua[1]

    async def finalize(self, obj: Application) -> float | None:
        """The cascade of ``resources-finalizer.argocd.argoproj.io``
        (:mod:`lockstep.controllers.argo.deletion`): the PreDelete hooks the sources
        render, then every object the Application tracks, listed in its status, deleted
        (in the background with the ``/background`` variant), then the PostDelete hooks;
        the finalizer is kept until all that is done. Objects whose sync options say
        ``Delete=false`` (or Helm's ``resource-policy: keep``) or ``Delete=confirm``, and
        CustomResourceDefinitions, are left, as Argo CD leaves them. They are deleted from
        the destination cluster only (:meth:`_deletion_client`). A hook that fails, or
        sources that cannot be rendered while objects are deployed, keep the finalizer
        with ``DeletionError`` saying why."""
        app = app_instance_name(
            obj.metadata.name, obj.metadata.namespace or "", self._control_plane
        )
        background = BACKGROUND_FINALIZER in obj.metadata.finalizers
        options = parse_sync_options(obj.spec.sync_options)
        resources = [r for r in (obj.status.resources if obj.status else []) if not r.hook]
        hooks = await self._delete_hooks(obj, deployed=bool(resources))
        if hooks is None:
            return POLL_SECONDS
        kube = await self._deletion_client(obj) if resources or hooks else self._kube
        live: list[KubeObject] = []
        for resource in resources:
            ref = _ref_of(resource)
            if ref is None:
                continue
            try:
                found = await kube.get(ref)
            except NotFound:
                continue
            if belongs_to(found, app):
                live.append(found)
        plan = plan_deletion(hooks, live, options=options)
        namespace = obj.spec.destination.namespace or obj.metadata.namespace or "default"
        owner = application_owner(app, namespace, options)
        try:
            return await delete_application(kube, plan, owner=owner, background=background)
        except DeletionHookFailed as error:
            raise await self._deletion_failure(obj, f"{_name(obj)}: {error}") from error

    async def _delete_hooks(self, obj: Application, *, deployed: bool) -> list[KubeObject] | None:
        """The objects the sources render now, in the destination namespace, where the
        deletion plan finds the PreDelete and PostDelete hooks; None while a source has no
        artifact yet. Sources that cannot be rendered are ``DeletionError`` while
        objects are ``deployed``; with nothing deployed there is nothing for a hook to
        act on, and the Application goes without them, as it does when its destination
        cluster cannot be used."""
        key = (obj.metadata.namespace or "", obj.metadata.name)
        sources = obj.spec.effective_sources()
        try:
            cluster = self._clusters.resolve(_name(obj), obj.spec.destination)
            target = await self._clusters.deletion_target(key, cluster, obj)
        except (Failure, ClusterUnavailable):
            return []  # no hook can run there; _deletion_client says what becomes of it
        try:
            artifacts = await self._artifacts_of(obj, key, sources)
            if artifacts is None:
                return None if deployed else []
            desired = await self._render(obj, sources, artifacts, target)
            return await with_default_namespace(target.kube, desired.objects, target.namespace)
        except (Failure, KubeError) as error:
            if not deployed:
                return []
            raise await self._deletion_failure(
                obj,
                f"{_name(obj)}: its PreDelete and PostDelete hooks cannot be read: {error}; "
                "the finalizer stays until its sources render (remove it to leave the "
                "objects in place)",
            ) from error

    async def _deletion_failure(self, obj: Application, message: str) -> Failure:
        """The failure that keeps the finalizer, once ``DeletionError`` says ``message``;
        the deletion is looked at again after :data:`DELETION_RETRY_SECONDS`."""
        status = self.prepared_status(obj)
        status.conditions = with_condition(status.conditions, DELETION_ERROR, message)
        await self.write_progress(obj, status)
        return Failure(DELETION_ERROR, message, retry=False, requeue_after=DELETION_RETRY_SECONDS)

    async def _deletion_client(self, obj: Application) -> KubeClient:
        """The client of the cluster to delete the Application's objects from: its
        destination, or the remote cluster it used last when the destination's Secret
        is gone. While neither can be used, ``DeletionError`` says so and the finalizer
        stays: nothing is deleted anywhere else."""
        key = (obj.metadata.namespace or "", obj.metadata.name)
        try:
            return await self._clusters.for_deletion(key, obj.spec.destination)
        except ClusterUnavailable as error:
            message = (
                f"{_name(obj)}: its objects cannot be deleted: {error}; the finalizer stays "
                "until the cluster can be used (remove it to leave the objects in place)"
            )
            raise await self._deletion_failure(obj, message) from error


def application_changed(change: Change) -> bool:
    """Whether a change of an Application asks for a reconcile: its spec, its operation,
    its labels, annotations, finalizers or deletion changed; not its status alone, whose
    writes also change its generation (Argo CD's CRD has no status subresource)."""
    if change.type != "MODIFIED" or change.previous is None:
        return True
    return _watched(change.previous) != _watched(change.object)


def _watched(obj: KubeObject) -> tuple[Any, ...]:
    metadata = obj.get("metadata") or {}
    return (
        obj.get("spec"),
        obj.get("operation"),
        metadata.get("labels"),
        metadata.get("annotations"),
        metadata.get("finalizers"),
        metadata.get("deletionTimestamp"),
    )


def _name(obj: Application) -> str:
    return f"Application {obj.metadata.namespace}/{obj.metadata.name}"


def _failing_message(raw: KubeObject | None) -> str:
    """The message of a source object whose Ready condition is False."""
    for condition in ((raw or {}).get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready" and condition.get("status") == "False":
            return str(condition.get("message") or "")
    return ""


def _same_spec(cached: KubeObject, manifest: Mapping[str, Any]) -> bool:
    """Whether the cached source object has the fields and labels of ``manifest`` (the
    API server adds defaults, such as a GitRepository's ``timeout``)."""
    spec = cached.get("spec") or {}
    labels = (cached.get("metadata") or {}).get("labels") or {}
    wanted = manifest["metadata"].get("labels") or {}
    return all(spec.get(k) == v for k, v in manifest["spec"].items()) and all(
        labels.get(k) == v for k, v in wanted.items()
    )


def _ref_of(resource: ResourceStatus) -> ObjectRef | None:
    if not resource.kind or not resource.name or not resource.version:
        return None
    api_version = f"{resource.group}/{resource.version}" if resource.group else resource.version
    return ObjectRef(api_version, resource.kind, resource.name, resource.namespace or "")
