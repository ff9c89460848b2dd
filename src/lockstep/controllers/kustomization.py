"""The Kustomization reconciler: a source artifact → rendered objects → applied, pruned, healthy.

Outer shell (:meth:`KustomizationReconciler.reconcile`): read the object from the
informer's cache; on deletion run the ``deletionPolicy`` and release the
finalizer; honour ``suspend``; make sure the finalizer is there; run the
pipeline; write status only when it differs, with one history snapshot and an
event for what changed or why it failed.

Inner pipeline (:meth:`KustomizationReconciler._run`), each stage with the
failure reason Flux reports:

1. artifact: the source named by ``spec.sourceRef`` (same namespace only with
   ``--no-cross-namespace-refs``) and its current artifact, downloaded and
   checked against its digest (``ArtifactFailed``, ``AccessDenied``); a Bucket or
   ExternalArtifact source is not supported yet (``ArtifactFailed``, Stalled);
2. dependencies: every ``dependsOn`` entry ready, or its ``readyExpr`` true
   (``DependencyNotReady``; a ``readyExpr`` that does not compile:
   ``InvalidCELExpression``, Stalled);
3. build: ``postBuild`` variables and decryption keys read from the cluster,
   ``spec.path`` rendered with Kustomize, decrypted, substituted (``BuildFailed``);
4. apply: staged server-side apply, dry-run first, only drifted objects
   written, as ``spec.serviceAccountName`` when set (``ReconciliationFailed``);
5. prune: with ``spec.prune``, objects of the previous inventory that are no
   longer rendered (``PruneFailed``); never when an earlier stage failed, and an
   empty render prunes nothing unless the object carries
   ``lockstep.io/allow-empty-prune: "true"``;
6. health: with ``spec.wait`` every applied object, else ``spec.healthChecks``,
   until healthy, failed or ``spec.timeout`` (``HealthCheckFailed``); a new
   source artifact cancels the wait and the new revision is applied at once.
   After an apply, the status Flux shows during the wait (Ready Unknown,
   Reconciling, Healthy Unknown) is written before it starts.

With ``spec.kubeConfig`` the objects go to another cluster: the one whose
kubeconfig the named Secret holds (key ``value`` or ``value.yaml`` unless the
reference names one), read at every reconcile from the Kustomization's
namespace. Apply, prune, health checks, deletion, impersonation of
``spec.serviceAccountName`` and the drift watches all happen there
(:mod:`lockstep.runtime.clusters`); the Kustomization, its source, its
dependencies, its postBuild and decryption Secrets and its status stay on the
local cluster. A Secret that is missing or unusable, or a cluster that cannot
be reached, fails the reconcile (``ReconciliationFailed``, naming the Secret)
before anything is applied, and never falls back to the local cluster.

When nothing changed, a reconcile is a check that costs no build and no API
request but the reads of ``postBuild.substituteFrom``, decryption and
kubeconfig Secrets, whose changes must be seen (:mod:`lockstep.controllers.kustomization_cache`):
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
import contextlib
import hashlib
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import ValidationError

from lockstep.api.conditions import (
    find_condition,
    mark_failed,
    mark_ready,
    remove_condition,
    set_condition,
)
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
    IgnoreRule,
    InventoryEntry,
    Selector,
    apply_all,
    default_apply_options,
    default_prune_options,
    ignored_pointers,
    kustomization_owner,
    prune,
    stale_entries,
)
from lockstep.controllers.drift import DriftWatcher
from lockstep.controllers.image_status import invalid_object_message
from lockstep.controllers.kustomization_build import kept_objects, render_objects
from lockstep.controllers.kustomization_cache import (
    AppliedState,
    Build,
    BuildFingerprint,
    KustomizationMemory,
)
from lockstep.controllers.kustomization_dependencies import (
    DependencyNotReady,
    InvalidReadyExpr,
    check_dependencies,
    kustomization_dependencies,
)
from lockstep.controllers.kustomization_health import (
    HealthCheckFailed,
    HealthWaitCancelled,
    cached_health,
    health_check_passed,
    health_check_refs,
    running_health_checks,
    wait_healthy,
)
from lockstep.controllers.kustomization_history import objects_digest, record_snapshot
from lockstep.controllers.kustomization_inputs import BuildInputs, InputUnavailable, build_inputs
from lockstep.health import (
    GroupKind,
    HealthCheck,
    HealthCheckExpr,
    HealthCheckExprError,
    compile_health_check_exprs,
)
from lockstep.kube import KubeClient, KubeError, KubeObject, NotFound, ObjectRef
from lockstep.kube.impersonation import service_account_user
from lockstep.render.cache import ARTIFACT_TREES, tree_digest
from lockstep.render.errors import RenderError
from lockstep.runtime.clusters import (
    LOCAL_CLUSTER,
    Cluster,
    ClusterRegistry,
    ClusterTarget,
    ClusterUnavailable,
    kubeconfig_target,
)
from lockstep.runtime.events import EventRecorder
from lockstep.runtime.informer import Change, ObjectKey
from lockstep.runtime.queue import Outcome, Success, TerminalFailure, TransientFailure
from lockstep.sources.store import ArtifactStore

KIND = "Kustomization"
API_VERSION = "kustomize.toolkit.fluxcd.io/v1"
SOURCE_API_VERSION = "source.toolkit.fluxcd.io/v1"
FINALIZER = "finalizers.fluxcd.io"
ALLOW_EMPTY_PRUNE = "lockstep.io/allow-empty-prune"
DEPENDENCY_RETRY_SECONDS = 10.0
HEALTHY_REASON = "Succeeded"
INVALID_CEL_REASON = "InvalidCELExpression"
ORIGIN_REVISION_ANNOTATION = "org.opencontainers.image.revision"
"""Artifact metadata key whose value becomes ``status.lastAppliedOriginRevision``."""
UNSUPPORTED_SOURCE_KINDS = ("Bucket", "ExternalArtifact")
TERMINATION_POLL_SECONDS = 2.0


class StageFailed(Exception):
    """A stage of the pipeline failed, with the reason Flux reports for it."""

    def __init__(
        self, reason: str, message: str, *, digest: str | None = None, terminal: bool = False
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.digest = digest
        """Digest of the built objects, when the build got that far (for the history)."""
        self.terminal = terminal
        """Only a change of the spec can fix it: Stalled, and not retried."""


@dataclass(frozen=True)
class KustomizationOptions:
    """Settings of ``lockstep run`` that change how Kustomizations are reconciled."""

    no_cross_namespace_refs: bool = False
    """Refuse a ``sourceRef`` or ``dependsOn`` in another namespace (multi-tenant clusters)."""

    strict_substitution: bool = True
    """A postBuild variable used without default and not defined fails the build, as with
    Flux's ``StrictPostBuildSubstitutions`` feature gate (on by default)."""


SourceLookup = Callable[[ObjectKey], KubeObject | None]
"""Reads a source object of one kind from a source controller's cache."""


@dataclass(frozen=True)
class _Applied:
    revision: str
    origin_revision: str
    changeset: ChangeSet
    digest: str
    state: AppliedState
    checked_only: bool
    """Nothing was applied: the cluster was found as the last apply left it."""


class KustomizationReconciler:
    """Reconciles Kustomization objects."""

    kind: ClassVar[str] = KIND
    api_version: ClassVar[str] = API_VERSION
    name: ClassVar[str] = "kustomization"

    def __init__(
        self,
        kube: KubeClient,
        store: ArtifactStore,
        cache: Any,
        scratch: Path,
        options: KustomizationOptions | None = None,
        drift: DriftWatcher | None = None,
        *,
        sources: Mapping[str, SourceLookup] | None = None,
        memory: KustomizationMemory | None = None,
    ) -> None:
        self._kube = kube
        self._events = EventRecorder(kube)
        self._store = store
        self._cache = cache
        self._scratch = scratch
        self._options = options or KustomizationOptions()
        self.drift = drift
        self._sources = sources or {}
        self._memory = memory or KustomizationMemory()
        self._clusters: ClusterRegistry[DriftWatcher] = ClusterRegistry(
            kube, drift, drift.for_cluster if drift is not None else None
        )
        self._new_artifact: dict[ObjectKey, asyncio.Event] = {}
        self._progress: dict[ObjectKey, dict[str, Any]] = {}
        """The status written while a reconcile still runs (:meth:`_write_progress`)."""
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

    async def reconcile(self, key: ObjectKey) -> Outcome:
        obj = self._cache.get(key)
        if obj is None:
            await self._forget(key)
            return Success()
        try:
            kustomization = Kustomization.model_validate(obj)
        except ValidationError as error:
            # Only a change of the spec can fix it: retrying would only repeat the event.
            await self._events.record(
                obj, "Warning", "InvalidSpec", invalid_object_message(KIND, obj, error)
            )
            return TerminalFailure()
        if kustomization.metadata.deletion_timestamp is not None:
            return await self._finalize(kustomization, obj)
        if kustomization.spec.suspend:
            return Success()
        await self._add_finalizer(obj)
        return await self._reconcile(kustomization, obj, key)

    async def _reconcile(
        self, kustomization: Kustomization, obj: KubeObject, key: ObjectKey
    ) -> Outcome:
        spec = kustomization.spec
        generation = kustomization.metadata.generation
        status = (
            kustomization.status.model_copy(deep=True)
            if kustomization.status
            else KustomizationStatus()
        )
        status.observed_generation = generation
        requested = kustomization.metadata.annotations.get(RECONCILE_REQUEST_ANNOTATION)
        if requested:
            status.last_handled_reconcile_at = requested
        started = datetime.now(UTC)
        self._new_artifact[key] = asyncio.Event()
        try:
            applied = await self._run(kustomization, status)
        except HealthWaitCancelled:
            self._memory.mark_dirty(key)
            await self._write_status(obj, status)
            return Success(requeue_after=0)
        except StageFailed as failure:
            self._memory.mark_dirty(key)
            return await self._failed(kustomization, obj, status, failure, started)
        finally:
            self._new_artifact.pop(key, None)
        status.last_applied_revision = applied.revision
        status.last_applied_origin_revision = applied.origin_revision or None
        status.conditions = mark_ready(
            status.conditions,
            f"Applied revision: {applied.revision}",
            generation=generation,
            now=datetime.now(UTC),
        )
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
        if changed:
            # Before the status: whoever waits for Ready (``lockstep reconcile``) then finds
            # the Event listing the changes.
            summary = ", ".join(map(str, changed))
            await self._events.record(obj, "Normal", "ReconciliationSucceeded", summary)
        await self._write_status(obj, status)
        if not applied.checked_only:
            self._memory.applied(key, applied.state)
        return Success(requeue_after=duration_seconds(spec.interval))

    async def _failed(
        self,
        kustomization: Kustomization,
        obj: KubeObject,
        status: KustomizationStatus,
        failure: StageFailed,
        started: datetime,
    ) -> Outcome:
        previous_message = _ready_message(obj)
        status.conditions = mark_failed(
            status.conditions,
            failure.reason,
            str(failure),
            terminal=failure.terminal,
            generation=kustomization.metadata.generation,
            now=datetime.now(UTC),
        )
        if failure.digest is not None:
            status.history = record_snapshot(
                status.history,
                digest=failure.digest,
                revision=status.last_attempted_revision or "",
                started=started,
                finished=datetime.now(UTC),
                outcome=failure.reason,
            )
        await self._write_status(obj, status)
        if failure.reason == ConditionReason.DEPENDENCY_NOT_READY:
            # A dependency that becomes ready enqueues this object itself; the requeue
            # is the backstop, without growing backoff while it waits.
            return Success(requeue_after=DEPENDENCY_RETRY_SECONDS)
        if str(failure) != previous_message:
            await self._events.record(obj, "Warning", failure.reason, str(failure))
        if failure.terminal:
            return TerminalFailure()
        spec = kustomization.spec
        return TransientFailure(max_delay=duration_seconds(spec.retry_interval or spec.interval))

    async def _run(self, kustomization: Kustomization, status: KustomizationStatus) -> _Applied:
        """The pipeline; returns the applied revision, what changed and the objects' digest.

        Apply and prune are skipped, every object ``unchanged``, when the cluster is as
        the last full apply left it (see :mod:`lockstep.controllers.kustomization_cache`).
        """
        artifact = await self._source_artifact(kustomization)
        status.last_attempted_revision = artifact.revision
        overrides = _health_overrides(kustomization)
        try:
            await check_dependencies(
                kustomization, artifact, self._cache, self._local_client(kustomization), overrides
            )
        except DependencyNotReady as error:
            raise StageFailed(ConditionReason.DEPENDENCY_NOT_READY, str(error)) from error
        except InvalidReadyExpr as error:
            raise StageFailed(
                INVALID_CEL_REASON, f"{_name(kustomization)}: {error}", terminal=True
            ) from error
        cluster = await self._cluster(kustomization)
        kube = _client_for(kustomization, cluster)
        try:
            inputs = await build_inputs(
                self._kube,
                kustomization,
                strict_substitution=self._options.strict_substitution,
            )
        except InputUnavailable as error:
            raise StageFailed(
                ConditionReason.BUILD_FAILED, f"{_name(kustomization)}: {error}"
            ) from error
        build = await self._build_once(kustomization, artifact, inputs)
        objects = list(build.objects)
        revision = artifact.revision or ""
        key = _key(kustomization)
        state = self._state(kustomization, status, revision, build, cluster)
        checked_only = self._memory.is_clean(key, state)
        if checked_only:
            changeset = ChangeSet(
                [ChangeSetEntry(ObjectRef.of(o), Action.UNCHANGED) for o in objects]
            )
        else:
            self._memory.applying(key)
            changeset = await self._apply(
                kube, cluster, kustomization, objects, status, build.digest
            )
            # The inventory as written now; the watches as they were before the apply, so
            # that a watch listing again during it does not vouch for it.
            state = replace(state, inventory=_inventory(status))
        if kustomization.spec.wait or kustomization.spec.health_checks:
            await self._check_health(
                kube,
                cluster.watches,
                kustomization,
                objects,
                status,
                overrides,
                build.digest,
                cached=checked_only,
                observed=changeset.observed,
            )
        else:
            # As Flux: no health checks, no Healthy condition.
            status.conditions = remove_condition(status.conditions, ConditionType.HEALTHY)
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
            objects = await asyncio.to_thread(self._build, kustomization, artifact, inputs)
            build = Build(tuple(objects), objects_digest(objects))
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
        digest: str,
    ) -> ChangeSet:
        """Apply, record the inventory, prune what is no longer declared."""
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
            raise StageFailed(
                ConditionReason.BUILD_FAILED,
                f"{_name(kustomization)}: the build of revision {status.last_attempted_revision} has no objects; "
                f'nothing was pruned. Annotate the Kustomization {ALLOW_EMPTY_PRUNE}: "true" to prune everything',
                digest=digest,
            )
        options = apply_options(kustomization)
        new = [InventoryEntry.of(ObjectRef.of(obj)) for obj in objects]
        drift = cluster.watches
        if drift is not None:
            # Before the apply: an object deleted right after it is created is drift
            # although the status does not list it yet.
            drift.track(_key(kustomization), new)
        try:
            changeset = await apply_all(kube, objects, options)
        except ApplyError as error:
            where = "" if cluster.target.local else f" (on the cluster of {cluster.target})"
            raise StageFailed(
                ConditionReason.RECONCILIATION_FAILED,
                f"{_name(kustomization)}: {error}{where}",
                digest=digest,
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
                raise StageFailed(
                    ConditionReason.PRUNE_FAILED,
                    f"{_name(kustomization)}: prune failed: {pruned.failures[0]}",
                    digest=digest,
                )
            changeset.entries += pruned.entries
        return changeset

    async def _check_health(
        self,
        kube: KubeClient,
        drift: DriftWatcher | None,
        kustomization: Kustomization,
        objects: list[KubeObject],
        status: KustomizationStatus,
        overrides: Mapping[GroupKind, HealthCheck],
        digest: str,
        *,
        cached: bool,
        observed: Mapping[ObjectRef, KubeObject],
    ) -> None:
        """Wait until healthy; with ``cached``, first judge the watched copies; objects
        ``observed`` healthy by the apply are not read again."""
        spec = kustomization.spec
        generation = kustomization.metadata.generation
        applied = [ObjectRef.of(obj) for obj in objects]
        refs = applied if spec.wait else health_check_refs(kustomization, applied)
        if isinstance(refs, str):
            raise StageFailed(
                ConditionReason.HEALTH_CHECK_FAILED,
                f"{_name(kustomization)}: {refs}",
                digest=digest,
            )
        health = (
            cached_health(drift.cached, refs, overrides) if cached and drift is not None else None
        )
        checking = time.monotonic_ns()
        try:
            if health is None:
                if not cached:
                    await self._write_progress(kustomization, status)
                health = await wait_healthy(
                    kube,
                    refs,
                    overrides,
                    within=_timeout(kustomization),
                    new_artifact=self._new_artifact[_key(kustomization)],
                    observed=observed,
                    cached=drift.cached if drift is not None else None,
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
            raise StageFailed(
                ConditionReason.HEALTH_CHECK_FAILED,
                f"{_name(kustomization)}: {failure.health.message}",
                digest=digest,
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

    async def _write_progress(
        self, kustomization: Kustomization, status: KustomizationStatus
    ) -> None:
        """Write, before the health checks wait, the state Flux shows meanwhile. As in Flux,
        the generation and the reconcile request count as handled only at the end."""
        progress = status.model_copy(deep=True)
        handled = kustomization.status or KustomizationStatus()
        progress.observed_generation = handled.observed_generation
        progress.last_handled_reconcile_at = handled.last_handled_reconcile_at
        progress.conditions = running_health_checks(
            progress.conditions,
            revision=status.last_attempted_revision or "",
            timeout=_timeout(kustomization),
            generation=kustomization.metadata.generation,
            now=datetime.now(UTC),
        )
        written = progress.model_dump(
            mode="json", by_alias=True, exclude_none=True, exclude_defaults=True
        )
        await self._kube.apply_status({**kustomization.to_manifest(), "status": written})
        self._progress[_key(kustomization)] = written

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
            raise StageFailed(
                ConditionReason.ACCESS_DENIED,
                f"{_name(kustomization)}: {foreign[0]} is in another namespace and cross-namespace "
                "references are disabled on this engine; move it to the Kustomization's namespace",
            )

    async def _cluster(self, kustomization: Kustomization) -> Cluster[DriftWatcher]:
        """The cluster the objects go to: the local one, or the one whose kubeconfig the
        Secret of ``spec.kubeConfig`` holds. A Secret that cannot be read or a cluster
        that cannot be reached fails the reconcile: nothing is applied anywhere else."""
        key = _key(kustomization)
        try:
            target = await self._target(kustomization)
            return await self._clusters.use(key, target)
        except ClusterUnavailable as error:
            await self._clusters.release(key)
            raise StageFailed(
                ConditionReason.RECONCILIATION_FAILED, f"{_name(kustomization)}: {error}"
            ) from error

    async def _target(self, kustomization: Kustomization) -> ClusterTarget:
        """Read from the Secret at every reconcile, so that new credentials are used and
        a deleted Secret stops the applies."""
        reference = kustomization.spec.kube_config
        if reference is None:
            return LOCAL_CLUSTER
        secret = reference.secret_ref
        namespace = kustomization.metadata.namespace or ""
        return await kubeconfig_target(self._kube, namespace, secret.name, secret.key)

    def _local_client(self, kustomization: Kustomization) -> KubeClient:
        """The client dependencies are read with: they are on the local cluster, read as
        ``spec.serviceAccountName`` only when the objects go there too."""
        if kustomization.spec.kube_config is not None:
            return self._kube
        return _client_for(kustomization, self._clusters.local)

    async def _source_artifact(self, kustomization: Kustomization) -> Artifact:
        ref = kustomization.spec.source_ref
        namespace = ref.namespace or kustomization.metadata.namespace or ""
        self._check_namespaces(kustomization)
        if ref.kind in UNSUPPORTED_SOURCE_KINDS:
            raise StageFailed(
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
            raise StageFailed(
                ConditionReason.ARTIFACT_FAILED,
                f"{_name(kustomization)}: source {ref.kind} {namespace}/{ref.name} does not exist; create it or fix spec.sourceRef",
            ) from error
        except KubeError as error:
            raise StageFailed(
                ConditionReason.ARTIFACT_FAILED, f"{_name(kustomization)}: {error}"
            ) from error
        artifact = (source.get("status") or {}).get("artifact")
        if not artifact:
            raise StageFailed(
                ConditionReason.ARTIFACT_FAILED,
                f"{_name(kustomization)}: source {ref.kind} {namespace}/{ref.name} has no artifact yet; it is retried",
            )
        return Artifact.model_validate(artifact)

    def _build(
        self, kustomization: Kustomization, artifact: Artifact, inputs: BuildInputs
    ) -> list[KubeObject]:
        spec = kustomization.spec
        path = spec.path or "./"
        # An artifact seen before whose build is kept (other Kustomizations of the same
        # source build the same folder) needs neither a download nor an extraction.
        tree = ARTIFACT_TREES.get(artifact.digest) if artifact.digest else None
        if tree is not None:
            try:
                kept = kept_objects(kustomization, tree, path, inputs)
            except RenderError as error:
                raise StageFailed(
                    ConditionReason.BUILD_FAILED, f"{_name(kustomization)}: {error}"
                ) from error
            if kept is not None:
                return kept
        with tempfile.TemporaryDirectory(prefix="build-", dir=self._scratch) as scratch:
            root = Path(scratch) / "artifact"
            try:
                _download(artifact, Path(scratch) / "artifact.tar.gz", root)
            except (OSError, ValueError, tarfile.TarError) as error:
                raise StageFailed(
                    ConditionReason.ARTIFACT_FAILED,
                    f"{_name(kustomization)}: cannot fetch artifact {artifact.url}: {error}",
                ) from error
            tree = tree_digest(root)
            if artifact.digest:
                ARTIFACT_TREES.put(artifact.digest, tree)
            try:
                objects = render_objects(kustomization, root, path, inputs, tree=tree)
            except RenderError as error:
                raise StageFailed(
                    ConditionReason.BUILD_FAILED, f"{_name(kustomization)}: {error}"
                ) from error
        return objects

    async def _finalize(self, kustomization: Kustomization, obj: KubeObject) -> Outcome:
        """Run the ``deletionPolicy`` on the inventory, then release the finalizer.

        MirrorPrune (the default) deletes the objects when ``spec.prune`` is set,
        Delete always, WaitForTermination always and waits until they are gone,
        Orphan never. A suspended Kustomization leaves its objects alone, as in Flux.
        Deletes that fail keep the finalizer and are retried; WaitForTermination
        keeps it until the objects are gone (their own finalizers done).
        """
        self._memory.forget(_key(kustomization))
        if FINALIZER not in kustomization.metadata.finalizers:
            await self._forget(_key(kustomization))
            return Success()
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
        if cluster is not None and not await _account_exists(kustomization, cluster.client):
            # Nothing could be deleted as an account that no longer exists (deleting the
            # namespace removes it first); as Flux, the objects are left and named.
            await self._events.record(
                obj,
                "Warning",
                ConditionReason.PRUNE_FAILED,
                f"{_name(kustomization)}: service account "
                f"{kustomization.spec.service_account_name} no longer exists; left in place: "
                f"{_listed(entries)}",
            )
            delete = False
        if delete and cluster is not None:
            kube = _client_for(kustomization, cluster)
            owner = kustomization_owner(
                kustomization.metadata.name, kustomization.metadata.namespace or ""
            )
            if cluster.watches is not None:
                cluster.watches.expect_deletion(entries)
            pruned = await prune(kube, stale_entries(entries, []), default_prune_options(owner))
            if pruned.failures:
                await self._events.record(
                    obj, "Warning", ConditionReason.PRUNE_FAILED, f"deletion: {pruned.failures[0]}"
                )
                return TransientFailure()
            if policy == "WaitForTermination" and await _any_left(kube, entries):
                # Checked again shortly, without holding a worker for the whole wait.
                return Success(requeue_after=TERMINATION_POLL_SECONDS)
        await self._forget(_key(kustomization))
        await self._remove_finalizer(obj)
        return Success()

    async def _deletion_cluster(
        self, kustomization: Kustomization, obj: KubeObject, entries: list[InventoryEntry]
    ) -> Cluster[DriftWatcher] | None:
        """The cluster to delete the inventory from; ``None`` (after an event naming the
        objects left in place, as Flux does) when it cannot be reached.

        A kubeconfig Secret deleted together with the Kustomization (its namespace is
        being deleted) leaves the cluster connected with the credentials last read from
        it, and the objects are deleted there; never anywhere else.
        """
        key = _key(kustomization)
        held = self._clusters.held(key)
        try:
            return await self._clusters.use(key, await self._target(kustomization))
        except ClusterUnavailable as error:
            if held is not None and not held.target.local:
                return held
            await self._events.record(
                obj,
                "Warning",
                ConditionReason.PRUNE_FAILED,
                f"{_name(kustomization)}: {error}; left in place: {_listed(entries)}",
            )
            return None

    async def _forget(self, key: ObjectKey) -> None:
        self._memory.forget(key)
        await self._clusters.release(key)

    async def _add_finalizer(self, obj: KubeObject) -> None:
        metadata = obj.get("metadata") or {}
        if FINALIZER in (metadata.get("finalizers") or []):
            return
        ref = ObjectRef.of(obj)
        await self._kube.json_patch(
            ref,
            [{"op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER}]
            if metadata.get("finalizers")
            else [{"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}],
        )

    async def _remove_finalizer(self, obj: KubeObject) -> None:
        finalizers = list((obj.get("metadata") or {}).get("finalizers") or [])
        index = finalizers.index(FINALIZER)
        path = f"/metadata/finalizers/{index}"
        # The test makes the patch fail instead of removing another finalizer when the
        # list changed since it was read.
        with contextlib.suppress(NotFound):
            await self._kube.json_patch(
                ObjectRef.of(obj),
                [{"op": "test", "path": path, "value": FINALIZER}, {"op": "remove", "path": path}],
            )

    async def _write_status(self, obj: KubeObject, status: KustomizationStatus) -> None:
        desired = status.model_dump(
            mode="json", by_alias=True, exclude_none=True, exclude_defaults=True
        )
        metadata = obj.get("metadata") or {}
        # Compared with the progress written during this reconcile, if any.
        key = (str(metadata.get("namespace") or ""), str(metadata.get("name")))
        written = self._progress.pop(key, None)
        if desired != (written if written is not None else obj.get("status") or {}):
            await self._kube.apply_status({**obj, "status": desired})


def _health_overrides(kustomization: Kustomization) -> Mapping[GroupKind, HealthCheck]:
    try:
        return compile_health_check_exprs(
            HealthCheckExpr(e.api_version, e.kind, e.current, e.in_progress or "", e.failed or "")
            for e in kustomization.spec.health_check_exprs
        )
    except HealthCheckExprError as error:
        raise StageFailed(
            ConditionReason.HEALTH_CHECK_FAILED, f"{_name(kustomization)}: {error}"
        ) from error


def _client_for(kustomization: Kustomization, cluster: Cluster[DriftWatcher]) -> KubeClient:
    """The cluster's client, or one acting as ``spec.serviceAccountName`` there."""
    account = kustomization.spec.service_account_name
    if not account:
        return cluster.client
    return cluster.as_user(service_account_user(kustomization.metadata.namespace or "", account))


async def _account_exists(kustomization: Kustomization, kube: KubeClient) -> bool:
    """Whether ``spec.serviceAccountName`` (when set) exists in the namespace of the
    cluster ``kube`` talks to."""
    account = kustomization.spec.service_account_name
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


def _ready_message(obj: KubeObject) -> str | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return str(condition.get("message"))
    return None


def _entry_model(entry: InventoryEntry) -> InventoryEntryModel:
    return InventoryEntryModel(id=entry.id, v=entry.version)


def _download(artifact: Artifact, tarball: Path, root: Path) -> None:
    """Fetch the artifact, check its digest, extract it safely into ``root``."""
    with urllib.request.urlopen(artifact.url, timeout=60) as response, tarball.open("wb") as out:
        digest = hashlib.sha256()
        while chunk := response.read(1 << 16):
            digest.update(chunk)
            out.write(chunk)
    if artifact.digest and f"sha256:{digest.hexdigest()}" != artifact.digest:
        raise ValueError(
            f"digest mismatch: expected {artifact.digest}, got sha256:{digest.hexdigest()}"
        )
    with tarfile.open(tarball, mode="r:gz") as archive:
        archive.extractall(root, filter="data")


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
        return tuple(
            IgnoreRule(
                rule.paths,
                Selector(**{k: v or "" for k, v in rule.target.model_dump(by_alias=False).items()})
                if rule.target
                else None,
            )
            for rule in kustomization.spec.ignore
        )
    except ValueError as error:
        raise StageFailed(
            ConditionReason.RECONCILIATION_FAILED, f"{_name(kustomization)}: spec.ignore: {error}"
        ) from error


def ignored_pointers_of(owner: KubeObject, obj: KubeObject) -> list[str]:
    """The ``spec.ignore`` pointers of the Kustomization ``owner`` that apply to ``obj``."""
    try:
        rules = ignore_rules(Kustomization.model_validate(owner))
    except (ValidationError, StageFailed):
        return []
    return ignored_pointers(obj, rules)
