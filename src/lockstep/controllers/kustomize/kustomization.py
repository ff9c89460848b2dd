"""The Kustomization reconciler: a source artifact → rendered objects → applied, pruned, healthy.

It runs in the one reconciler shell (:mod:`lockstep.controllers.shell`), which reads
the object from the informer's cache, stalls an invalid one (``InvalidSpec``), runs
:meth:`KustomizationReconciler.finalize` on deletion (the ``deletionPolicy``) before
releasing the finalizer, honours ``suspend`` (checked before the finalizer is added:
a suspended Kustomization keeps its objects when deleted, as in Flux), writes the
status only when it differs and tells a failure once as a Warning event. The
Kustomization's own: Ready reason ``ReconciliationSucceeded``; failures retried
within ``spec.retryInterval`` (else ``spec.interval``); one history snapshot per
apply or failure; the objects an apply changed told in one Normal event recorded
before the status, so that whoever waits for Ready (``lockstep reconcile``) finds it.

The pipeline (:meth:`KustomizationReconciler.pipeline`), each stage with the
failure reason Flux reports:

1. artifact: the source named by ``spec.sourceRef`` (same namespace only with
   ``--no-cross-namespace-refs``) and its current artifact, downloaded,
   checked against its digest and extracted safely once per digest for every
   Kustomization that builds it (:mod:`lockstep.sources.extracted`;
   ``ArtifactFailed``, ``AccessDenied``; no space left on the disk it is extracted
   to: ``ArtifactFailed`` naming the folder); a Bucket or ExternalArtifact source is not
   supported yet (``ArtifactFailed``, Stalled);
2. dependencies: every ``dependsOn`` entry ready, or its ``readyExpr`` true
   (``DependencyNotReady``; a ``readyExpr`` that does not compile:
   ``InvalidCELExpression``, Stalled);
3. build: ``postBuild`` variables and decryption keys read from the cluster,
   ``spec.path`` rendered with Kustomize, decrypted, substituted (``BuildFailed``,
   for any error of the build, foreseen or not: the message names the file where
   one is known, else the path);
4. apply: staged server-side apply, dry-run first, only drifted objects
   written, as ``spec.serviceAccountName`` when set, else as the engine's
   ``--default-service-account`` of the namespace when it has one
   (``ReconciliationFailed``);
   an apply that may create objects the recorded inventory does not list first
   records them in it, so that a crash leaves none unlisted: one status write,
   or, when health checks follow, the one made before them anyway, made before
   the apply instead;
5. prune: with ``spec.prune``, objects of the previous inventory that are no
   longer rendered (``PruneFailed``); never when an earlier stage failed, and an
   empty render prunes nothing unless the object carries
   ``lockstep.io/allow-empty-prune: "true"``;
6. health: with ``spec.wait`` every applied object, else ``spec.healthChecks``,
   until healthy, failed or ``spec.timeout`` (``HealthCheckFailed``); a new
   source artifact cancels the wait and the new revision is applied at once.
   After an apply, the status Flux shows during the wait (Ready Unknown,
   Reconciling, Healthy Unknown) is written before it starts (before the apply
   when that write also records the inventory, see 4).

With ``spec.kubeConfig`` the objects go to another cluster: the one whose
kubeconfig the named Secret holds (key ``value`` or ``value.yaml`` unless the
reference names one), read at every reconcile from the Kustomization's
namespace. Apply, prune, health checks, deletion, impersonation of
``spec.serviceAccountName`` and the drift watches all happen there
(:mod:`lockstep.runtime.clusters`); the Kustomization, its source, its
dependencies, its postBuild and decryption Secrets and its status stay on the
local cluster. A Secret that is missing or unusable, or a cluster that cannot
be reached, fails the reconcile (``ReconciliationFailed``, naming the Secret)
before anything is applied, and never falls back to the local cluster. Flux's
``kubeConfig.configMapRef`` (a cloud provider's cluster) needs cloud identity:
it is refused (``ReconciliationFailed``, Stalled).

When nothing changed, a reconcile is a check that costs no build and no API
request but the reads of ``postBuild.substituteFrom``, decryption and
kubeconfig Secrets, whose changes must be seen (:mod:`lockstep.controllers.kustomize.cache`):
the source is read from the source controllers' cache, the build from the
previous one when its inputs are the same, and when the objects, revision, generation, inventory and
``requestedAt`` are those of the last successful apply and the drift watches
reported nothing since, apply and prune are skipped (every object
``unchanged``) and health is judged from the watched copies. Unlike Flux, which
dry-runs every object at every interval, lockstep relies on its drift watches
(:mod:`lockstep.controllers.drift`) to know the cluster still holds what it
applied. Such a check writes no status unless something in it changed:
``status.history`` records applies and failures, not clean checks. A new
revision, a spec change, a ``requestedAt`` request, reported drift, a drift
watch that had to list again, a failed reconcile and a restart of lockstep each
lead to a full apply.

Run by the controller manager; downloading, extracting and rendering run in a thread.
"""

from __future__ import annotations

import asyncio
import errno
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import ClassVar, Protocol

from pydantic import ValidationError

from lockstep.api import kinds
from lockstep.api.conditions import find_condition, remove_condition, set_condition
from lockstep.api.kustomize import InventoryEntry as InventoryEntryModel
from lockstep.api.kustomize import Kustomization, KustomizationStatus, ResourceInventory
from lockstep.api.meta import (
    RECONCILE_REQUEST_ANNOTATION,
    Artifact,
    ConditionReason,
    ConditionType,
    duration_seconds,
)
from lockstep.apply import (
    Action,
    ApplyError,
    ApplyOptions,
    ChangeSet,
    ChangeSetEntry,
    HealthCheckFailed,
    HealthWaitCancelled,
    IgnoreRule,
    InventoryEntry,
    apply_all,
    cached_health,
    default_apply_options,
    default_prune_options,
    ignored_pointers,
    intended_inventory,
    kustomization_owner,
    prune,
    sort_for_apply,
    stale_entries,
    wait_healthy,
)
from lockstep.controllers.clusters import reconciled_cluster
from lockstep.controllers.drift import DriftWatcher
from lockstep.controllers.ignore import apply_ignore_rules
from lockstep.controllers.kustomize.build import Rendered, kept_objects, render_objects
from lockstep.controllers.kustomize.cache import (
    AppliedState,
    Build,
    BuildFingerprint,
    KustomizationMemory,
)
from lockstep.controllers.kustomize.dependencies import (
    DependencyNotReady,
    InvalidReadyExpr,
    check_dependencies,
    kustomization_dependencies,
)
from lockstep.controllers.kustomize.health import (
    health_check_passed,
    health_check_refs,
    running_health_checks,
)
from lockstep.controllers.kustomize.history import record_snapshot
from lockstep.controllers.kustomize.inputs import BuildInputs, InputUnavailable, build_inputs
from lockstep.controllers.shell import (
    RERUN,
    Event,
    Failure,
    Ordering,
    Ready,
    ReconcilerShell,
    Rerun,
    unexpected_error,
)
from lockstep.egress import OPEN, Egress
from lockstep.health import (
    GroupKind,
    HealthCheck,
    HealthCheckExpr,
    HealthCheckExprError,
    compile_health_check_exprs,
)
from lockstep.kube import KubeClient, KubeError, KubeObject, NotFound, ObjectRef
from lockstep.kube.impersonation import service_account_user
from lockstep.render.cache import BuildCaches, tree_digest
from lockstep.render.errors import RenderError
from lockstep.runtime.clusters import (
    Cluster,
    ClusterRegistry,
    ClusterTarget,
    ClusterUnavailable,
    kube_config_target,
)
from lockstep.runtime.informer import Change, ObjectCache, ObjectKey, Subscriber
from lockstep.sources.errors import SourceError
from lockstep.sources.extracted import ExtractedArtifacts
from lockstep.sources.store import ArtifactStore

KIND = "Kustomization"
API_VERSION = kinds.KUSTOMIZATION.api_version
SOURCE_API_VERSION = kinds.GIT_REPOSITORY.api_version
FINALIZER = "finalizers.fluxcd.io"
ALLOW_EMPTY_PRUNE = "lockstep.io/allow-empty-prune"
DEPENDENCY_RETRY_SECONDS = 10.0
HEALTHY_REASON = "Succeeded"
INVALID_CEL_REASON = "InvalidCELExpression"
ORIGIN_REVISION_ANNOTATION = "org.opencontainers.image.revision"
"""Artifact metadata key whose value becomes ``status.lastAppliedOriginRevision``."""
UNSUPPORTED_SOURCE_KINDS = ("Bucket", "ExternalArtifact")
TERMINATION_POLL_SECONDS = 2.0


@dataclass(frozen=True)
class KustomizationOptions:
    """Settings of ``lockstep run`` that change how Kustomizations are reconciled."""

    no_cross_namespace_refs: bool = False
    """Refuse a ``sourceRef`` or ``dependsOn`` in another namespace (multi-tenant clusters)."""

    strict_substitution: bool = True
    """A postBuild variable used without default and not defined fails the build, as with
    Flux's ``StrictPostBuildSubstitutions`` feature gate (on by default)."""

    default_service_account: str = ""
    """The service account of its own namespace a Kustomization without
    ``spec.serviceAccountName`` is applied as (Flux's ``--default-service-account``);
    empty: such a Kustomization is applied with the engine's own rights."""

    egress: Egress = OPEN
    """Which servers a remote cluster's kubeconfig may name (``--block-internal-addresses``)."""

    caches: BuildCaches = field(default_factory=BuildCaches, compare=False, repr=False)
    """The builds and artifact trees kept for the next same build: one set per engine,
    shared by all its Kustomizations."""


SourceLookup = Callable[[ObjectKey], KubeObject | None]
"""Reads a source object of one kind from a source controller's cache."""


class KustomizationCache(ObjectCache, Protocol):
    """The Kustomization informer as the reconciler uses it: the cached objects, and
    their changes, which keep the index of dependencies."""

    def subscribe(self, subscriber: Subscriber) -> None: ...


@dataclass(frozen=True)
class _Applied:
    revision: str
    origin_revision: str
    changeset: ChangeSet
    digest: str
    state: AppliedState
    checked_only: bool
    """Nothing was applied: the cluster was found as the last apply left it."""


class KustomizationReconciler(ReconcilerShell[Kustomization, KustomizationStatus]):
    """Reconciles Kustomization objects."""

    kind: ClassVar[str] = KIND
    api_version: ClassVar[str] = API_VERSION
    name: ClassVar[str] = "kustomization"
    model = Kustomization
    status_model = KustomizationStatus
    ready_reason: ClassVar[str] = ConditionReason.RECONCILIATION_SUCCEEDED
    finalizer: ClassVar[str | None] = FINALIZER
    ordering: ClassVar[Ordering] = Ordering(
        finalizer_when_suspended=False, events_before_status=True
    )

    def __init__(
        self,
        kube: KubeClient,
        store: ArtifactStore,
        cache: KustomizationCache,
        scratch: Path,
        options: KustomizationOptions | None = None,
        drift: DriftWatcher | None = None,
        *,
        sources: Mapping[str, SourceLookup] | None = None,
        memory: KustomizationMemory | None = None,
    ) -> None:
        super().__init__(kube, cache)
        self._extracted = scratch / "artifacts"
        self._artifacts = ExtractedArtifacts(self._extracted, max_bytes=store.max_content_bytes)
        self._options = options or KustomizationOptions()
        self.drift = drift
        self._sources = sources or {}
        self._memory = memory or KustomizationMemory()
        self._clusters: ClusterRegistry[DriftWatcher] = ClusterRegistry(
            kube,
            drift,
            drift.for_cluster if drift is not None else None,
            egress=self._options.egress,
        )
        self._new_artifact: dict[ObjectKey, asyncio.Event] = {}
        # The dependencies of each cached Kustomization that has some, kept as the cache
        # changes (this subscriber runs before the controller's, which asks for
        # dependents): a change of readiness then costs no scan of every Kustomization.
        self._depends_on: dict[ObjectKey, tuple[ObjectKey, ...]] = {}
        cache.subscribe(self._index_dependencies)

    def _index_dependencies(self, change: Change) -> None:
        dependencies = () if change.type == "DELETED" else kustomization_dependencies(change.object)
        if dependencies:
            self._depends_on[change.key] = tuple(dependencies)
        else:
            self._depends_on.pop(change.key, None)

    def dependents(self, key: ObjectKey) -> list[ObjectKey]:
        """The cached Kustomizations whose ``spec.dependsOn`` names the one at ``key``."""
        return [dependent for dependent, keys in self._depends_on.items() if key in keys]

    def using_source(self, source_kind: str, key: ObjectKey) -> list[ObjectKey]:
        """The Kustomizations in the cache whose ``spec.sourceRef`` names the source at ``key``."""
        namespace, name = key
        found = []
        for obj in self._cache.items():
            metadata = obj.get("metadata") or {}
            ref = (obj.get("spec") or {}).get("sourceRef") or {}
            ref_namespace = ref.get("namespace") or metadata.get("namespace")
            if (
                ref.get("kind") == source_kind
                and ref.get("name") == name
                and ref_namespace == namespace
            ):
                found.append((str(metadata.get("namespace")), str(metadata.get("name"))))
        return found

    def new_artifact(self, key: ObjectKey) -> None:
        """The source of the Kustomization at ``key`` has a new artifact: stop waiting for
        the health of the old one."""
        waiting = self._new_artifact.get(key)
        if waiting is not None:
            waiting.set()

    async def close(self) -> None:
        await self._clusters.close()

    def retry_interval(self, obj: Kustomization) -> float | None:
        spec = obj.spec
        return duration_seconds(spec.retry_interval or spec.interval)

    def ready_event(self, before: KubeObject, after: KubeObject) -> Event | None:
        """Failures only: a success is told by the event listing what it changed."""
        event = super().ready_event(before, after)
        return event if event is not None and event[0] == "Warning" else None

    async def pipeline(
        self, kustomization: Kustomization, status: KustomizationStatus
    ) -> Ready | Rerun:
        """The stages (:meth:`_run`); a success records the applied revision and a history
        snapshot, tells what changed, and is remembered as clean once its status is stored.
        A new source revision during the health wait runs it again at once."""
        key = _key(kustomization)
        started = datetime.now(UTC)
        self._new_artifact[key] = asyncio.Event()
        try:
            applied = await self._run(kustomization, status, started)
        except HealthWaitCancelled:
            self._memory.mark_dirty(key)
            return RERUN
        except Exception:
            # Whatever failed, the next reconcile must not take this one's work as done.
            self._memory.mark_dirty(key)
            raise
        finally:
            self._new_artifact.pop(key, None)
        status.last_applied_revision = applied.revision
        status.last_applied_origin_revision = applied.origin_revision or None
        if not applied.checked_only:
            status.history = record_snapshot(
                status.history,
                digest=applied.digest,
                revision=applied.revision,
                started=started,
                finished=datetime.now(UTC),
                outcome=ConditionReason.RECONCILIATION_SUCCEEDED,
                origin_revision=applied.origin_revision,
            )
        changed = [entry for entry in applied.changeset.entries if entry.action != Action.UNCHANGED]
        events: tuple[Event, ...] = (
            (("Normal", ConditionReason.RECONCILIATION_SUCCEEDED, ", ".join(map(str, changed))),)
            if changed
            else ()
        )
        return Ready(
            f"Applied revision: {applied.revision}",
            events,
            on_stored=None
            if applied.checked_only
            else partial(self._memory.applied, key, applied.state),
        )

    async def _run(
        self, kustomization: Kustomization, status: KustomizationStatus, started: datetime
    ) -> _Applied:
        """The stages; returns the applied revision, what changed and the objects' digest.

        Apply and prune are skipped, every object ``unchanged``, when the cluster is as
        the last full apply left it (see :mod:`lockstep.controllers.kustomize.cache`).
        A failure once the objects are built is recorded in ``status.history``.
        """
        artifact = await self._source_artifact(kustomization)
        status.last_attempted_revision = artifact.revision
        overrides = _health_overrides(kustomization)
        try:
            await check_dependencies(
                kustomization, artifact, self._cache, self._local_client(kustomization), overrides
            )
        except DependencyNotReady as error:
            # A dependency that becomes ready enqueues this object itself; the requeue
            # is the backstop, without growing backoff while it waits.
            raise Failure(
                ConditionReason.DEPENDENCY_NOT_READY,
                str(error),
                retry=False,
                requeue_after=DEPENDENCY_RETRY_SECONDS,
            ) from error
        except InvalidReadyExpr as error:
            raise Failure(
                INVALID_CEL_REASON, f"{_name(kustomization)}: {error}", terminal=True
            ) from error
        cluster = await self._cluster(kustomization)
        kube = _client_for(kustomization, cluster, self._options)
        try:
            inputs = await build_inputs(
                self._kube,
                kustomization,
                strict_substitution=self._options.strict_substitution,
            )
        except InputUnavailable as error:
            raise Failure(
                ConditionReason.BUILD_FAILED, f"{_name(kustomization)}: {error}"
            ) from error
        build = await self._build_once(kustomization, artifact, inputs)
        objects = list(build.objects)
        revision = artifact.revision or ""
        key = _key(kustomization)
        state = self._state(kustomization, status, revision, build, cluster)
        checked_only = self._memory.is_clean(key, state)
        options = None if checked_only else apply_options(kustomization)
        health_follows = bool(kustomization.spec.wait or kustomization.spec.health_checks)
        # Whether the status Flux shows during the health checks is written already.
        told = False
        try:
            if options is None:
                changeset = ChangeSet(
                    [ChangeSetEntry(ObjectRef.of(o), Action.UNCHANGED) for o in objects]
                )
            else:
                self._memory.applying(key)
                changeset, told = await self._apply(
                    kube, cluster, kustomization, objects, status, options, health_follows
                )
                # The inventory as written now; the watches as they were before the apply,
                # so that a watch listing again during it does not vouch for it.
                state = replace(state, inventory=_inventory(status))
            if health_follows:
                await self._check_health(
                    kube,
                    cluster.watches,
                    kustomization,
                    objects,
                    status,
                    overrides,
                    cached=checked_only,
                    observed=changeset.observed,
                    told=told,
                )
            else:
                # As Flux: no health checks, no Healthy condition.
                status.conditions = remove_condition(status.conditions, ConditionType.HEALTHY)
        except Failure as failure:
            status.history = record_snapshot(
                status.history,
                digest=build.digest,
                revision=status.last_attempted_revision or "",
                started=started,
                finished=datetime.now(UTC),
                outcome=failure.reason,
            )
            raise
        origin_revision = artifact.metadata.get(ORIGIN_REVISION_ANNOTATION, "")
        return _Applied(revision, origin_revision, changeset, build.digest, state, checked_only)

    async def _build_once(
        self, kustomization: Kustomization, artifact: Artifact, inputs: BuildInputs
    ) -> Build:
        """The objects of this artifact with these inputs, built at most once in a row."""
        key = _key(kustomization)
        fingerprint = BuildFingerprint.of(kustomization, artifact, inputs)
        build = self._memory.build(key, fingerprint)
        if build is None:
            rendered = await asyncio.to_thread(self._build, kustomization, artifact, inputs)
            build = Build(tuple(rendered.objects), rendered.digest)
            self._memory.remember_build(key, fingerprint, build)
        return build

    def _state(
        self,
        kustomization: Kustomization,
        status: KustomizationStatus,
        revision: str,
        build: Build,
        cluster: Cluster[DriftWatcher],
    ) -> AppliedState:
        """The reconcile about to happen, as the last full apply is remembered."""
        metadata = kustomization.metadata
        refs = [ObjectRef.of(obj) for obj in build.objects]
        return AppliedState(
            uid=metadata.uid,
            generation=metadata.generation,
            revision=revision,
            digest=build.digest,
            requested_at=metadata.annotations.get(RECONCILE_REQUEST_ANNOTATION),
            inventory=_inventory(status),
            watch=cluster.watches.watch_epoch(refs) if cluster.watches is not None else None,
            cluster=cluster.target.digest,
        )

    async def _apply(
        self,
        kube: KubeClient,
        cluster: Cluster[DriftWatcher],
        kustomization: Kustomization,
        objects: list[KubeObject],
        status: KustomizationStatus,
        options: ApplyOptions,
        health_follows: bool,
    ) -> tuple[ChangeSet, bool]:
        """Apply, record the inventory, prune what is no longer declared; also whether the
        status shown during the health checks was written (see below).

        When the apply may create objects the recorded inventory does not list, the
        inventory is recorded first with them (:func:`intended_inventory`): an engine
        killed during the apply then leaves no object that no inventory lists. When health
        checks follow, that write is the one Flux makes before them (Running health
        checks...), made before the apply instead of after it, so that recording the
        inventory first costs no request.
        """
        old = [
            InventoryEntry(entry.id, entry.version)
            for entry in (status.inventory.entries if status.inventory else [])
        ]
        if (
            not objects
            and old
            and kustomization.spec.prune
            and kustomization.metadata.annotations.get(ALLOW_EMPTY_PRUNE) != "true"
        ):
            raise Failure(
                ConditionReason.BUILD_FAILED,
                f"{_name(kustomization)}: the build of revision {status.last_attempted_revision} has no objects; "
                f'nothing was pruned. Annotate the Kustomization {ALLOW_EMPTY_PRUNE}: "true" to prune everything',
            )
        # In apply order, as Flux lists its inventory (its changeset's order).
        new = [InventoryEntry.of(ObjectRef.of(obj)) for obj in sort_for_apply(objects)]
        intended = intended_inventory(old, new)
        told = False
        if intended is not None:
            status.inventory = ResourceInventory(entries=[_entry_model(e) for e in intended])
            if health_follows:
                await self._write_progress(kustomization, status)
                told = True
            else:
                await self._write_intended_inventory(kustomization, status)
        drift = cluster.watches
        if drift is not None:
            # Before the apply: an object deleted right after it is created is drift
            # although the status does not list it yet.
            drift.track(_key(kustomization), new)
        try:
            changeset = await apply_all(kube, objects, options)
        except ApplyError as error:
            where = "" if cluster.target.local else f" (on the cluster of {cluster.target})"
            raise Failure(
                ConditionReason.RECONCILIATION_FAILED,
                f"{_name(kustomization)}: {error}{where}",
            ) from error
        status.inventory = ResourceInventory(entries=[_entry_model(e) for e in new])
        if kustomization.spec.prune:
            stale = stale_entries(old, new)
            if drift is not None:
                drift.expect_deletion(stale)
            pruned = await prune(kube, stale, default_prune_options(options.owner))
            if pruned.failures:
                status.inventory.entries += [
                    _entry_model(InventoryEntry.of(f.ref)) for f in pruned.failures
                ]
                raise Failure(
                    ConditionReason.PRUNE_FAILED,
                    f"{_name(kustomization)}: prune failed: {pruned.failures[0]}",
                )
            changeset.entries += pruned.entries
        return changeset, told

    async def _check_health(
        self,
        kube: KubeClient,
        drift: DriftWatcher | None,
        kustomization: Kustomization,
        objects: list[KubeObject],
        status: KustomizationStatus,
        overrides: Mapping[GroupKind, HealthCheck],
        *,
        cached: bool,
        observed: Mapping[ObjectRef, KubeObject],
        told: bool = False,
    ) -> None:
        """Wait until healthy; with ``cached``, first judge the watched copies; objects
        ``observed`` healthy by the apply are not read again; ``told``: the status shown
        meanwhile is written already."""
        spec = kustomization.spec
        generation = kustomization.metadata.generation
        applied = [ObjectRef.of(obj) for obj in objects]
        refs = applied if spec.wait else health_check_refs(kustomization, applied)
        if isinstance(refs, str):
            raise Failure(
                ConditionReason.HEALTH_CHECK_FAILED,
                f"{_name(kustomization)}: {refs}",
            )
        copies = drift.health_copies(overrides.keys()) if drift is not None else None
        health = cached_health(copies, refs, overrides) if cached and copies is not None else None
        checking = time.monotonic_ns()
        try:
            if health is None:
                if not (cached or told):
                    await self._write_progress(kustomization, status)
                health = await wait_healthy(
                    kube,
                    refs,
                    overrides,
                    within=_timeout(kustomization),
                    cancelled=self._new_artifact[_key(kustomization)],
                    observed=observed,
                    cached=copies,
                )
        except HealthWaitCancelled:
            status.conditions = set_condition(
                status.conditions,
                ConditionType.HEALTHY,
                "Unknown",
                ConditionReason.HEALTH_CHECK_CANCELED,
                f"health checks of revision {status.last_attempted_revision} cancelled: the source has a new revision",
                generation=generation,
                now=datetime.now(UTC),
            )
            # As Flux: the revision was not found healthy, so Ready is no longer True.
            source = spec.source_ref
            status.conditions = set_condition(
                status.conditions,
                ConditionType.READY,
                "False",
                ConditionReason.HEALTH_CHECK_CANCELED,
                f"New reconciliation triggered by {source.kind}/"
                f"{source.namespace or kustomization.metadata.namespace}/{source.name}",
                generation=generation,
                now=datetime.now(UTC),
            )
            raise
        except HealthCheckFailed as failure:
            status.conditions = set_condition(
                status.conditions,
                ConditionType.HEALTHY,
                "False",
                ConditionReason.HEALTH_CHECK_FAILED,
                failure.health.message,
                generation=generation,
                now=datetime.now(UTC),
            )
            raise Failure(
                ConditionReason.HEALTH_CHECK_FAILED,
                f"{_name(kustomization)}: {failure.health.message}",
            ) from failure
        previous = find_condition(status.conditions, ConditionType.HEALTHY)
        if cached and previous is not None and previous.status == "True":
            # Nothing was applied and all is still healthy: the last wait's message stands,
            # so that such a check writes no status.
            return
        status.conditions = set_condition(
            status.conditions,
            ConditionType.HEALTHY,
            "True",
            HEALTHY_REASON,
            health_check_passed(time.monotonic_ns() - checking),
            generation=generation,
            now=datetime.now(UTC),
        )

    async def _write_intended_inventory(
        self, kustomization: Kustomization, status: KustomizationStatus
    ) -> None:
        """Write, before the apply, the inventory that lists what it may create; the
        conditions stay as they are until the end of the reconcile."""
        await self.write_progress(kustomization, _progress(kustomization, status))

    async def _write_progress(
        self, kustomization: Kustomization, status: KustomizationStatus
    ) -> None:
        """Write, before the health checks wait, the state Flux shows meanwhile."""
        progress = _progress(kustomization, status)
        progress.conditions = running_health_checks(
            progress.conditions,
            revision=status.last_attempted_revision or "",
            timeout=_timeout(kustomization),
            generation=kustomization.metadata.generation,
            now=datetime.now(UTC),
        )
        await self.write_progress(kustomization, progress)

    def _check_namespaces(self, kustomization: Kustomization) -> None:
        """With ``--no-cross-namespace-refs``, the source and dependencies must be local."""
        if not self._options.no_cross_namespace_refs:
            return
        own = kustomization.metadata.namespace or ""
        spec = kustomization.spec
        foreign = (
            [f"sourceRef {spec.source_ref.kind} {spec.source_ref.namespace}/{spec.source_ref.name}"]
            if spec.source_ref.namespace not in (None, own)
            else []
        )
        foreign += [
            f"dependsOn {d.namespace}/{d.name}"
            for d in spec.depends_on
            if d.namespace not in (None, own)
        ]
        if foreign:
            raise Failure(
                ConditionReason.ACCESS_DENIED,
                f"{_name(kustomization)}: {foreign[0]} is in another namespace and cross-namespace "
                "references are disabled on this engine; move it to the Kustomization's namespace",
            )

    async def _cluster(self, kustomization: Kustomization) -> Cluster[DriftWatcher]:
        """The cluster the objects go to: the local one, or the one whose kubeconfig the
        Secret of ``spec.kubeConfig`` holds. A Secret that cannot be read or a cluster
        that cannot be reached fails the reconcile: nothing is applied anywhere else."""
        return await reconciled_cluster(
            self._clusters,
            _key(kustomization),
            partial(self._target, kustomization),
            _name(kustomization),
        )

    async def _target(self, kustomization: Kustomization) -> ClusterTarget:
        """Read from the Secret at every reconcile, so that new credentials are used and
        a deleted Secret stops the applies."""
        reference = kustomization.spec.kube_config
        written = reference.model_dump(exclude_none=True) if reference is not None else None
        namespace = kustomization.metadata.namespace or ""
        return await kube_config_target(self._kube, namespace, written)

    def _local_client(self, kustomization: Kustomization) -> KubeClient:
        """The client dependencies are read with: they are on the local cluster, read as
        ``spec.serviceAccountName`` only when the objects go there too."""
        if kustomization.spec.kube_config is not None:
            return self._kube
        return _client_for(kustomization, self._clusters.local, self._options)

    async def _source_artifact(self, kustomization: Kustomization) -> Artifact:
        ref = kustomization.spec.source_ref
        namespace = ref.namespace or kustomization.metadata.namespace or ""
        self._check_namespaces(kustomization)
        if ref.kind in UNSUPPORTED_SOURCE_KINDS:
            raise Failure(
                ConditionReason.ARTIFACT_FAILED,
                f"{_name(kustomization)}: sourceRef {ref.kind} {namespace}/{ref.name}: the "
                f"{ref.kind} source kind is not supported yet by lockstep; serve these "
                "manifests from a GitRepository or an OCIRepository",
                terminal=True,
            )
        cache = self._sources.get(ref.kind)
        source = cache((namespace, ref.name)) if cache is not None else None
        try:
            # Not cached: a kind without a controller here, another namespace than the
            # watched one, or a source that does not exist.
            if source is None:
                source = await self._kube.get(
                    ObjectRef(SOURCE_API_VERSION, ref.kind, ref.name, namespace)
                )
        except NotFound as error:
            raise Failure(
                ConditionReason.ARTIFACT_FAILED,
                f"{_name(kustomization)}: source {ref.kind} {namespace}/{ref.name} does not exist; create it or fix spec.sourceRef",
            ) from error
        except KubeError as error:
            raise Failure(
                ConditionReason.ARTIFACT_FAILED, f"{_name(kustomization)}: {error}"
            ) from error
        artifact = (source.get("status") or {}).get("artifact")
        if not artifact:
            raise Failure(
                ConditionReason.ARTIFACT_FAILED,
                f"{_name(kustomization)}: source {ref.kind} {namespace}/{ref.name} has no artifact yet; it is retried",
            )
        return Artifact.model_validate(artifact)

    def _build(
        self, kustomization: Kustomization, artifact: Artifact, inputs: BuildInputs
    ) -> Rendered:
        """The objects of the artifact, or a Failure: ``ArtifactFailed`` when the artifact
        cannot be had (or not extracted: the disk is full), else ``BuildFailed`` for every other error, foreseen or not, so that
        what a tenant commits never leaves the status stale or a traceback in the log."""
        try:
            return self._render(kustomization, artifact, inputs)
        except SourceError as error:
            raise Failure(
                ConditionReason.ARTIFACT_FAILED, f"{_name(kustomization)}: {error}"
            ) from error
        except RenderError as error:
            raise Failure(
                ConditionReason.BUILD_FAILED, f"{_name(kustomization)}: {error}"
            ) from error
        except Exception as error:
            path = kustomization.spec.path or "./"
            if isinstance(error, OSError) and error.errno == errno.ENOSPC:
                raise Failure(
                    ConditionReason.ARTIFACT_FAILED,
                    f"{_name(kustomization)}: no space left on device to extract revision "
                    f"{artifact.revision} into {self._extracted} or to build {path} in "
                    f"{tempfile.gettempdir()}; free space on the full volume or enlarge it "
                    "(the build is retried)",
                ) from error
            raise Failure(
                ConditionReason.BUILD_FAILED,
                f"{_name(kustomization)}: building {path} failed: {unexpected_error(error)}",
            ) from error

    def _render(
        self, kustomization: Kustomization, artifact: Artifact, inputs: BuildInputs
    ) -> Rendered:
        spec = kustomization.spec
        path = spec.path or "./"
        # An artifact seen before whose build is kept (other Kustomizations of the same
        # source build the same folder) needs neither a download nor an extraction.
        caches = self._options.caches
        tree = caches.trees.get(artifact.digest) if artifact.digest else None
        if tree is not None:
            kept = kept_objects(kustomization, tree, path, inputs, caches.builds)
            if kept is not None:
                return kept
        with self._artifacts.checkout(artifact.url, artifact.digest) as root:
            tree = caches.trees.get(artifact.digest) if artifact.digest else None
            if tree is None:
                tree = tree_digest(root)
                if artifact.digest:
                    caches.trees.put(artifact.digest, tree)
            return render_objects(kustomization, root, path, inputs, tree=tree, cache=caches.builds)

    async def finalize(self, kustomization: Kustomization) -> float | None:
        """Run the ``deletionPolicy`` on the inventory; the shell then releases the finalizer.

        MirrorPrune (the default) deletes the objects when ``spec.prune`` is set,
        Delete always, WaitForTermination always and waits until they are gone,
        Orphan never. A suspended Kustomization leaves its objects alone, as in Flux.
        Deletes that fail keep the finalizer and are retried; WaitForTermination
        keeps it until the objects are gone (their own finalizers done).
        """
        self._memory.forget(_key(kustomization))
        obj = kustomization.to_manifest()
        spec = kustomization.spec
        policy = spec.deletion_policy or "MirrorPrune"
        delete = not spec.suspend and (
            policy in ("Delete", "WaitForTermination") or (policy == "MirrorPrune" and spec.prune)
        )
        inventory = kustomization.status.inventory if kustomization.status else None
        entries = [
            InventoryEntry(e.id, e.version) for e in (inventory.entries if inventory else [])
        ]
        cluster = None
        if delete and entries:
            cluster = await self._deletion_cluster(kustomization, obj, entries)
            delete = cluster is not None
        if cluster is not None and not await _account_exists(
            kustomization, cluster.client, self._options
        ):
            # Nothing could be deleted as an account that no longer exists (deleting the
            # namespace removes it first); as Flux, the objects are left and named.
            await self._events.record(
                obj,
                "Warning",
                ConditionReason.PRUNE_FAILED,
                f"{_name(kustomization)}: service account "
                f"{_service_account(kustomization, self._options)} no longer exists; "
                f"left in place: "
                f"{_listed(entries)}",
            )
            delete = False
        if delete and cluster is not None:
            kube = _client_for(kustomization, cluster, self._options)
            owner = kustomization_owner(
                kustomization.metadata.name, kustomization.metadata.namespace or ""
            )
            if cluster.watches is not None:
                cluster.watches.expect_deletion(entries)
            pruned = await prune(kube, stale_entries(entries, []), default_prune_options(owner))
            if pruned.failures:
                raise Failure(ConditionReason.PRUNE_FAILED, f"deletion: {pruned.failures[0]}")
            if policy == "WaitForTermination" and await _any_left(kube, entries):
                # Checked again shortly, without holding a worker for the whole wait.
                return TERMINATION_POLL_SECONDS
        await self.forget(_key(kustomization))
        return None

    async def _deletion_cluster(
        self, kustomization: Kustomization, obj: KubeObject, entries: list[InventoryEntry]
    ) -> Cluster[DriftWatcher] | None:
        """The cluster to delete the inventory from; ``None`` (after an event naming the
        objects left in place, as Flux does) when it cannot be reached.

        A kubeconfig Secret deleted together with the Kustomization (its namespace is
        being deleted) leaves the cluster connected with the credentials last read from
        it, and the objects are deleted there; never anywhere else.
        """
        try:
            return await self._clusters.for_deletion(
                _key(kustomization), partial(self._target, kustomization)
            )
        except ClusterUnavailable as error:
            await self._events.record(
                obj,
                "Warning",
                ConditionReason.PRUNE_FAILED,
                f"{_name(kustomization)}: {error}; left in place: {_listed(entries)}",
            )
            return None

    async def forget(self, key: ObjectKey) -> None:
        self._memory.forget(key)
        await self._clusters.release(key)


def _progress(kustomization: Kustomization, status: KustomizationStatus) -> KustomizationStatus:
    """``status`` as written while the reconcile runs: as in Flux, the generation and the
    reconcile request count as handled only at the end."""
    progress = status.model_copy(deep=True)
    handled = kustomization.status or KustomizationStatus()
    progress.observed_generation = handled.observed_generation
    progress.last_handled_reconcile_at = handled.last_handled_reconcile_at
    return progress


def _health_overrides(kustomization: Kustomization) -> Mapping[GroupKind, HealthCheck]:
    try:
        return compile_health_check_exprs(
            HealthCheckExpr(e.api_version, e.kind, e.current, e.in_progress or "", e.failed or "")
            for e in kustomization.spec.health_check_exprs
        )
    except HealthCheckExprError as error:
        raise Failure(
            ConditionReason.HEALTH_CHECK_FAILED, f"{_name(kustomization)}: {error}"
        ) from error


def _service_account(kustomization: Kustomization, options: KustomizationOptions) -> str:
    """The service account the objects are applied as: ``spec.serviceAccountName``, else
    the engine's default one; empty for the engine's own rights."""
    return kustomization.spec.service_account_name or options.default_service_account


def _client_for(
    kustomization: Kustomization, cluster: Cluster[DriftWatcher], options: KustomizationOptions
) -> KubeClient:
    """The cluster's client, or one acting as the Kustomization's service account there."""
    account = _service_account(kustomization, options)
    if not account:
        return cluster.client
    return cluster.as_user(service_account_user(kustomization.metadata.namespace or "", account))


async def _account_exists(
    kustomization: Kustomization, kube: KubeClient, options: KustomizationOptions
) -> bool:
    """Whether the Kustomization's service account (when it has one) exists in the
    namespace of the cluster ``kube`` talks to."""
    account = _service_account(kustomization, options)
    if not account:
        return True
    ref = ObjectRef("v1", "ServiceAccount", account, kustomization.metadata.namespace or "")
    try:
        await kube.get(ref)
    except NotFound:
        return False
    return True


def _listed(entries: list[InventoryEntry], shown: int = 10) -> str:
    """The first ``shown`` objects of ``entries``, and how many more there are."""
    names = []
    for entry in entries[:shown]:
        try:
            names.append(str(entry.ref))
        except ValueError:
            names.append(entry.id)
    more = len(entries) - shown
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")


async def _any_left(kube: KubeClient, entries: list[InventoryEntry]) -> bool:
    """Whether any of the objects of ``entries`` still exists (terminating or not)."""
    for entry in entries:
        try:
            await kube.get(entry.ref)
        except NotFound:
            continue
        return True
    return False


def _timeout(kustomization: Kustomization) -> float:
    spec = kustomization.spec
    if spec.timeout:
        return duration_seconds(spec.timeout)
    return max(duration_seconds(spec.interval) - 30, 30)


def _entry_model(entry: InventoryEntry) -> InventoryEntryModel:
    return InventoryEntryModel(id=entry.id, v=entry.version)


def _key(kustomization: Kustomization) -> ObjectKey:
    return (kustomization.metadata.namespace or "", kustomization.metadata.name)


def _inventory(status: KustomizationStatus) -> tuple[tuple[str, str], ...]:
    return tuple((e.id, e.version) for e in (status.inventory.entries if status.inventory else []))


def _name(kustomization: Kustomization) -> str:
    return f"{KIND} {kustomization.metadata.namespace}/{kustomization.metadata.name}"


def apply_options(kustomization: Kustomization) -> ApplyOptions:
    """How the objects of ``kustomization`` are applied; ``lockstep diff`` plans with the same."""
    owner = kustomization_owner(kustomization.metadata.name, kustomization.metadata.namespace or "")
    return replace(
        default_apply_options(owner),
        recreate_immutable=kustomization.spec.force,
        ignore_rules=ignore_rules(kustomization),
    )


def ignore_rules(kustomization: Kustomization) -> tuple[IgnoreRule, ...]:
    """``spec.ignore`` as the apply engine's rules; a bad pointer or selector fails the apply."""
    try:
        return apply_ignore_rules(kustomization.spec.ignore)
    except ValueError as error:
        raise Failure(
            ConditionReason.RECONCILIATION_FAILED, f"{_name(kustomization)}: spec.ignore: {error}"
        ) from error


def ignored_pointers_of(owner: KubeObject, obj: KubeObject) -> list[str]:
    """The ``spec.ignore`` pointers of the Kustomization ``owner`` that apply to ``obj``."""
    try:
        rules = ignore_rules(Kustomization.model_validate(owner))
    except (ValidationError, Failure):
        return []
    return ignored_pointers(obj, rules)
