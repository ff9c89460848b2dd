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
   (:mod:`lockstep.controllers.argo.sources`); while one has no artifact yet the
   Application waits, sync ``Unknown``; a source that fails gives ``ComparisonError``
   with its message;
3. render: every source rendered (:mod:`lockstep.controllers.argo.render`),
   ``ComparisonError`` naming the source and the file when it fails;
4. compare: the rendered objects, put in the destination namespace and marked with the
   tracking id (:mod:`lockstep.controllers.argo.owner`), planned by the apply engine's
   server-side dry run: an object to create or change is ``OutOfSync``, so defaulted
   fields never show as differences; objects the last status listed that are no longer
   rendered, and still carry the Application's tracking id, require pruning. Hooks are
   not part of the comparison;
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

A failed automated sync is tried again at the same revision only as
``syncPolicy.retry`` says: up to ``limit`` times (forever when negative), after its
``backoff`` (5s, doubled, at most 3m by default), counted in ``operationState.retryCount``.

Not yet: destinations other than the local cluster, repository credentials.

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
from pathlib import Path
from typing import Any, ClassVar

from lockstep.api.argo import (
    Application,
    ApplicationSource,
    ApplicationStatus,
    Backoff,
    Operation,
    OperationInitiator,
    OperationPhase,
    OperationState,
    ResourceStatus,
    RetryStrategy,
    SyncOperation,
    SyncOperationResource,
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
from lockstep.controllers.argo.ignore import (
    IgnoreDifferencesError,
    IgnoreDifferencesRule,
    application_rules,
    covering_rules,
    ignore_rule_for,
    parse_system_rules,
    pointers_to_ignore,
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
from lockstep.controllers.argo.sources import SourceObjects, commit_of, source_objects
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
    with_condition,
)
from lockstep.controllers.argo.steps import (
    POLL_SECONDS,
    StepRunner,
    SyncFailed,
    resource_result,
)
from lockstep.controllers.argo.syncplan import (
    Removal,
    SyncOptions,
    SyncPlanError,
    hook_of,
    object_sync_options,
    parse_sync_options,
    plan_sync,
)
from lockstep.controllers.argo.syncwindows import (
    SyncWindow,
    can_sync,
    parse_go_duration,
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
from lockstep.health.argo import argo_health
from lockstep.health.lua import LuaHealthChecks, LuaHealthConfigError
from lockstep.kube import Invalid, KubeClient, KubeError, KubeObject, NotFound, ObjectRef
from lockstep.render.errors import RenderError
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
IN_CLUSTER_SERVER = "https://kubernetes.default.svc"
IN_CLUSTER_NAME = "in-cluster"

RESYNC_SECONDS = 180.0
"""How often an Application is compared again without a change to tell: Argo CD's 120 s
plus its jitter's mean."""
CAPABILITIES_SECONDS = 30.0
"""How long the cluster's versions read for Helm's ``.Capabilities`` are used: a CRD
installed meanwhile shows in the next render at the latest that much later."""
DEFAULT_RETRY_SECONDS = 5.0
RETRY_FACTOR = 2
MAX_RETRY_SECONDS = 180.0
"""syncPolicy.retry.backoff's defaults, Argo CD's: 5s, doubled, at most 3m."""


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
    ) -> None:
        """``drift``: the watcher that enqueues an Application when one of its objects is
        changed by someone else (:func:`~lockstep.controllers.argo.owner.application_marks`)."""
        super().__init__(kube, cache)
        self._drift = drift
        self._sources = sources
        self._projects = projects
        self._settings = settings
        self._lua: tuple[str, LuaHealthChecks | None] = ("", None)
        self._system_ignores: tuple[str, list[IgnoreDifferencesRule]] = ("", [])
        self._retry_after: dict[ObjectKey, float] = {}
        """Seconds until a failed automated sync is tried again, by Application."""
        self._read_capabilities: tuple[float, str, tuple[str, ...]] = (
            -CAPABILITIES_SECONDS,
            "",
            (),
        )
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
        if self._drift is not None:
            self._drift.forget(key)

    async def close(self) -> None:
        """Stop the drift watches."""
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
        project = self._check_project(obj)
        destination = self._destination(obj)
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
        operation = self._due_operation(obj, status, comparison, desired)
        blocked = self._blocked(obj, project, operation)
        if blocked:
            operation = None
        requested = _requested_sources(sources, desired, operation)
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
                objects = source_objects(source, obj.metadata.namespace or "", self._interval)
                for manifest in objects.manifests:
                    metadata = {
                        **manifest["metadata"],
                        "annotations": {RECONCILE_REQUEST_ANNOTATION: requested},
                    }
                    await self._kube.apply({**manifest, "metadata": metadata})
        escaped = REFRESH_ANNOTATION.replace("~", "~0").replace("/", "~1")
        with contextlib.suppress(NotFound, Invalid):
            await self._kube.json_patch(
                ObjectRef.of(obj.to_manifest()),
                [{"op": "remove", "path": f"/metadata/annotations/{escaped}"}],
            )

    def _check_project(self, obj: Application) -> Project:
        """Step 1: the AppProject permits the Application."""
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
        destination = obj.spec.destination
        resolved = Destination(
            server=destination.server
            or (IN_CLUSTER_SERVER if destination.name == IN_CLUSTER_NAME else ""),
            name=destination.name or (IN_CLUSTER_NAME if _in_cluster(destination.server) else ""),
            namespace=destination.namespace or "",
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
        return Project(rules, windows, resolved)

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
            )
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

    def _destination(self, obj: Application) -> str:
        """The destination namespace, once the destination is known to be this cluster."""
        destination = obj.spec.destination
        if (destination.name and destination.name != IN_CLUSTER_NAME) or (
            destination.server and not _in_cluster(destination.server)
        ):
            where = destination.name or destination.server
            raise Failure(
                COMPARISON_ERROR,
                f"{_name(obj)}: destination cluster {where} is not supported yet; lockstep "
                f"deploys Applications to its own cluster ({IN_CLUSTER_SERVER})",
                retry=False,
                requeue_after=self._resync,
            )
        return destination.namespace or obj.metadata.namespace or "default"

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
        namespace = key[0]
        artifacts: list[Artifact] = []
        if forget:
            for kept in self._users.values():
                kept.discard(key)
        for source in sources:
            objects = source_objects(source, namespace, self._interval)
            self._users.setdefault((objects.kind, (namespace, objects.name)), set()).add(key)
            raw = await self._ensure(objects, namespace)
            artifact = ((raw or {}).get("status") or {}).get("artifact")
            if not artifact:
                message = _failing_message(raw)
                if message:
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

    async def _ensure(self, objects: SourceObjects, namespace: str) -> KubeObject | None:
        """The cached source object whose artifact is the source's, after applying the
        source objects that differ from their cached copies."""
        for manifest in objects.manifests:
            cache = self._sources.get(manifest["kind"])
            cached = cache((namespace, manifest["metadata"]["name"])) if cache else None
            if cached is None or not _same_spec(cached, manifest):
                await self._kube.apply(manifest)
        cache = self._sources.get(objects.kind)
        return cache((namespace, objects.name)) if cache else None

    async def _render(
        self,
        obj: Application,
        sources: Sequence[ApplicationSource],
        artifacts: Sequence[Artifact],
        namespace: str,
    ) -> Desired:
        """Step 3, in a thread."""
        kube_version, api_versions = await self._capabilities(obj)

        def render() -> Desired:
            with contextlib.ExitStack() as stack:
                roots = [
                    stack.enter_context(self._artifacts.checkout(a.url, a.digest))
                    for a in artifacts
                ]
                context = RenderContext(
                    app_name=obj.metadata.name,
                    namespace=namespace,
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
        namespace: str,
        desired: Desired,
        status: ApplicationStatus,
        options: SyncOptions,
    ) -> Comparison:
        """Step 4."""
        objects = await with_default_namespace(
            self._kube, copy.deepcopy(desired.objects), namespace
        )
        hooks = [o for o in objects if hook_of(o) is not None]
        resources = [o for o in objects if hook_of(o) is None]
        ignored = await self._ignored(obj, resources)
        apply_options = ApplyOptions(
            owner=application_owner(app, namespace, options), ignore_rules=ignored
        )
        try:
            plan = await plan_all(self._kube, resources, apply_options)
        except KubeError as error:
            raise Failure(COMPARISON_ERROR, f"{_name(obj)}: comparing failed: {error}") from error
        entries = [InventoryEntry.of(ObjectRef.of(o)) for o in resources]
        if self._drift is not None:
            key = (obj.metadata.namespace or "", obj.metadata.name)
            self._drift.track(key, entries)
        wanted = {entry.id for entry in entries}
        prunable = []
        for previous in status.resources:
            ref = _ref_of(previous)
            if ref is None or previous.hook or InventoryEntry.of(ref).id in wanted:
                continue
            try:
                live = await self._kube.get(ref)
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
        self, obj: Application, resources: Sequence[KubeObject]
    ) -> tuple[IgnoreRule, ...]:
        """The apply engine's rules for the fields ``spec.ignoreDifferences`` and argocd-cm
        leave out of the comparison, one per object they cover (whose live copy is read
        for jq expressions and field managers)."""
        system = self._system_ignore_rules()
        entries = obj.spec.ignore_differences
        try:
            rules = [*system, *application_rules(entries)]
        except IgnoreDifferencesError as error:
            raise Failure(INVALID_SPEC_ERROR, f"{_name(obj)}: {error}", retry=False) from error
        found: list[IgnoreRule] = []
        for desired in resources:
            if not covering_rules(desired, rules):
                continue
            try:
                live: KubeObject | None = await self._kube.get(ObjectRef.of(desired))
            except NotFound:
                live = None
            except KubeError as error:
                raise Failure(
                    COMPARISON_ERROR, f"{_name(obj)}: reading {ObjectRef.of(desired)}: {error}"
                ) from error
            rule = ignore_rule_for(desired, pointers_to_ignore(desired, live, entries, system))
            if rule is not None:
                found.append(rule)
        return tuple(found)

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

    def _due_operation(
        self,
        obj: Application,
        status: ApplicationStatus,
        comparison: Comparison,
        desired: Desired,
    ) -> Operation | None:
        """Step 5's question: the requested operation, or an automated sync now due."""
        if obj.operation is not None and obj.operation.sync is not None:
            return obj.operation
        policy = obj.spec.sync_policy
        if policy is None or not policy.automated_sync or not comparison.out_of_sync:
            return None
        automated = policy.automated
        assert automated is not None
        if not comparison.resources and not automated.allow_empty and comparison.prunable:
            return None
        last = status.operation_state
        synced_revisions = _synced_revisions(last)
        operation = Operation(
            sync=SyncOperation(prune=bool(automated.prune), revisions=desired.revisions),
            initiated_by=OperationInitiator(automated=True),
            retry=policy.retry,
        )
        if synced_revisions != desired.revisions:
            return operation
        if last is not None and last.phase == OperationPhase.FAILED:
            # As Argo CD: a failed sync is tried again at the same revision only as
            # syncPolicy.retry allows, after its backoff.
            return operation if self._retry_due(obj, policy.retry, last) else None
        # A revision is synced automatically once; only selfHeal syncs it again.
        return operation if automated.self_heal else None

    def _retry_due(
        self, obj: Application, retry: RetryStrategy | None, last: OperationState
    ) -> bool:
        """Whether the failed sync ``last`` is to be tried again now; when it is to be
        later, the Application is looked at again then (:meth:`interval`)."""
        tried = last.retry_count or 0
        if retry is None or ((retry.limit or 0) >= 0 and tried >= (retry.limit or 0)):
            return False
        backoff = retry.backoff or Backoff()
        first = _seconds(backoff.duration, DEFAULT_RETRY_SECONDS)
        longest = _seconds(backoff.max_duration, MAX_RETRY_SECONDS)
        delay = min(first * (backoff.factor or RETRY_FACTOR) ** tried, longest)
        finished = last.finished_at or now()
        wait = (finished - now()).total_seconds() + delay
        key = (obj.metadata.namespace or "", obj.metadata.name)
        if wait > 0:
            self._retry_after[key] = wait
            return False
        self._retry_after.pop(key, None)
        return True

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
        namespace: str,
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
            and _synced_revisions(last) == request.revisions
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
        chosen = _chosen(request.resources)
        if request.dry_run:
            return self._dry_run(obj, comparison, desired, state, chosen)
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
        owner = application_owner(app, namespace, options)
        # Without RespectIgnoreDifferences a sync writes the ignored fields too, as Argo CD's.
        kept = comparison.ignored if options.respect_ignore_differences else ()
        apply_options = ApplyOptions(owner=owner, ignore_rules=kept)
        runner = StepRunner(self._kube, self._drift, apply_options)
        try:
            if options.create_namespace:
                await self._create_namespace(obj, namespace)
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
        return await self._compare(obj, app, namespace, desired, status, options)

    async def _create_namespace(self, obj: Application, namespace: str) -> None:
        """``CreateNamespace=true``: the destination namespace, with the labels and
        annotations of ``managedNamespaceMetadata``, applied before the first step."""
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
            await self._kube.apply(
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

    async def _capabilities(self, obj: Application) -> tuple[str, tuple[str, ...]]:
        """The cluster's version and API versions for Helm's ``.Capabilities``, read at most
        every :data:`CAPABILITIES_SECONDS` for all Applications: three requests each time."""
        read_at, version, api_versions = self._read_capabilities
        if time.monotonic() - read_at > CAPABILITIES_SECONDS:
            try:
                version = await self._kube.server_version()
                api_versions = tuple(await self._kube.api_versions())
            except KubeError as error:
                raise Failure(
                    COMPARISON_ERROR,
                    f"{_name(obj)}: the cluster's versions cannot be read: {error}",
                ) from error
            self._read_capabilities = (time.monotonic(), version, api_versions)
        return version, api_versions

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
        """The cascade of ``resources-finalizer.argocd.argoproj.io``: every object the
        Application tracks, listed in its status, deleted (in the background with the
        ``/background`` variant), and the finalizer kept until they are gone. Objects
        whose sync options say ``Delete=false`` (or Helm's ``resource-policy: keep``), and
        CustomResourceDefinitions, are left, as Argo CD leaves them."""
        app = app_instance_name(
            obj.metadata.name, obj.metadata.namespace or "", self._control_plane
        )
        background = BACKGROUND_FINALIZER in obj.metadata.finalizers
        options = parse_sync_options(obj.spec.sync_options)
        remaining = 0
        for resource in obj.status.resources if obj.status else []:
            ref = _ref_of(resource)
            if ref is None or resource.hook:
                continue
            try:
                live = await self._kube.get(ref)
            except NotFound:
                continue
            if not belongs_to(live, app) or ref.kind == "CustomResourceDefinition":
                continue
            if object_sync_options(options, live).delete != Removal.ALLOWED:
                continue
            remaining += 1
            if not (live.get("metadata") or {}).get("deletionTimestamp"):
                await self._kube.delete(
                    ref, propagation="Background" if background else "Foreground"
                )
        return POLL_SECONDS if remaining and not background else None


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


def _in_cluster(server: str | None) -> bool:
    return (server or "").rstrip("/") == IN_CLUSTER_SERVER


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


def _requested_sources(
    sources: Sequence[ApplicationSource], desired: Desired, operation: Operation | None
) -> list[ApplicationSource] | None:
    """The sources at the revisions a requested sync names (``revision``, or
    ``revisions`` per source), when one differs from what the target revisions gave;
    None when the sync is of the target revisions."""
    request = operation.sync if operation is not None else None
    if request is None:
        return None
    wanted = request.revisions or ([request.revision] if request.revision else [])
    changed = False
    chosen = []
    for index, source in enumerate(sources):
        revision = wanted[index] if index < len(wanted) else ""
        resolved = desired.revisions[index] if index < len(desired.revisions) else ""
        if revision and revision not in (resolved, source.target_revision):
            chosen.append(source.model_copy(update={"target_revision": revision}))
            changed = True
        else:
            chosen.append(source)
    return chosen if changed else None


def _synced_revisions(state: OperationState | None) -> list[str]:
    """The revision of each source the operation ``state`` synced."""
    if state is None or state.sync_result is None:
        return []
    result = state.sync_result
    return list(result.revisions) or [result.revision or ""]


def _seconds(duration: str | None, default: float) -> float:
    """A backoff duration as Argo CD writes it: a Go duration (``5s``, ``3m``), or seconds."""
    if not duration:
        return default
    if duration.isdigit():
        return float(duration)
    try:
        return parse_go_duration(duration).total_seconds()
    except ValueError:
        return default


def _chosen(resources: Sequence[SyncOperationResource]) -> Callable[[Mapping[str, Any]], bool]:
    """Whether an object is among those a sync is limited to (all when none are named)."""
    named = {(r.group or "", r.kind, r.namespace or "", r.name) for r in resources}

    def chosen(obj: Mapping[str, Any]) -> bool:
        if not named:
            return True
        ref = ObjectRef.of(obj)
        group = ref.api_version.rpartition("/")[0]
        return (group, ref.kind, ref.namespace, ref.name) in named or (
            group,
            ref.kind,
            "",
            ref.name,
        ) in named

    return chosen
