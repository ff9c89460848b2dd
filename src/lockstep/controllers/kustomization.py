"""The Kustomization reconciler: a source artifact → rendered objects → applied, pruned, healthy.

Outer shell: read the object from the informer's cache, honour ``suspend``, and
write status only when it differs. Inner pipeline, each stage with its own
failure reason as Flux reports them:

1. artifact: the source named by ``spec.sourceRef`` and its current artifact,
   downloaded and checked against its digest (``ArtifactFailed``);
2. build: ``spec.path`` rendered with Kustomize and the spec's options, then
   ``postBuild.substitute`` (``BuildFailed``);
3. apply: staged server-side apply, dry-run first, only drifted objects written
   (``ReconciliationFailed``);
4. prune: with ``spec.prune``, objects of the previous inventory that are no
   longer rendered (``PruneFailed``); never when an earlier stage failed, and an
   empty render prunes nothing unless the object carries
   ``lockstep.io/allow-empty-prune: "true"``;
5. health: with ``spec.wait``, every applied object until it is healthy, failed
   or ``spec.timeout`` passes (``HealthCheckFailed``).

Run by the controller manager; downloading, extracting and rendering run in a thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import tarfile
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import ValidationError

from lockstep.api.conditions import mark_failed, mark_ready, set_condition
from lockstep.api.kustomize import (
    InventoryEntry as InventoryEntryModel,
)
from lockstep.api.kustomize import (
    Kustomization,
    KustomizationStatus,
    ResourceInventory,
)
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
    ChangeSet,
    InventoryEntry,
    Owner,
    apply_all,
    default_apply_options,
    default_prune_options,
    prune,
    stale_entries,
)
from lockstep.health import HealthState, aggregate, evaluate
from lockstep.kube import KubeClient, KubeError, KubeObject, NotFound, ObjectRef
from lockstep.render.errors import RenderError
from lockstep.render.kustomize import BuildOptions, Image, Patch, PatchTarget, build_kustomization
from lockstep.render.substitute import substitute
from lockstep.runtime.events import EventRecorder
from lockstep.runtime.informer import ObjectKey
from lockstep.runtime.queue import Outcome, Success, TransientFailure
from lockstep.sources.store import ArtifactStore

KIND = "Kustomization"
API_VERSION = "kustomize.toolkit.fluxcd.io/v1"
SOURCE_API_VERSION = "source.toolkit.fluxcd.io/v1"
ALLOW_EMPTY_PRUNE = "lockstep.io/allow-empty-prune"
HEALTH_POLL_SECONDS = 1.0
DEPENDENCY_RETRY_SECONDS = 10.0


class StageFailed(Exception):
    """A stage of the pipeline failed, with the reason Flux reports for it."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class KustomizationReconciler:
    """Reconciles Kustomization objects."""

    kind: ClassVar[str] = KIND
    api_version: ClassVar[str] = API_VERSION
    name: ClassVar[str] = "kustomization"

    def __init__(self, kube: KubeClient, store: ArtifactStore, cache: Any, scratch: Path) -> None:
        self._kube = kube
        self._events = EventRecorder(kube)
        self._store = store
        self._cache = cache
        self._scratch = scratch

    def dependents(self, key: ObjectKey) -> list[ObjectKey]:
        """The Kustomizations in the cache whose ``spec.dependsOn`` names the one at ``key``."""
        found = []
        for obj in self._cache.items():
            metadata = obj.get("metadata") or {}
            own_namespace = str(metadata.get("namespace"))
            for dependency in (obj.get("spec") or {}).get("dependsOn") or []:
                if (dependency.get("namespace") or own_namespace, dependency.get("name")) == key:
                    found.append((own_namespace, str(metadata.get("name"))))
        return found

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

    async def reconcile(self, key: ObjectKey) -> Outcome:
        obj = self._cache.get(key)
        if obj is None:
            return Success()
        try:
            kustomization = Kustomization.model_validate(obj)
        except ValidationError as error:
            problem = error.errors()[0]
            where = ".".join(str(part) for part in problem["loc"])
            await self._events.record(
                obj,
                "Warning",
                "InvalidSpec",
                f"{KIND} {key[0]}/{key[1]} is invalid at {where}: {problem['msg']}",
            )
            return TransientFailure()
        spec = kustomization.spec
        if spec.suspend:
            return Success()
        status = (
            kustomization.status.model_copy(deep=True)
            if kustomization.status
            else KustomizationStatus()
        )
        status.observed_generation = kustomization.metadata.generation
        requested = kustomization.metadata.annotations.get(RECONCILE_REQUEST_ANNOTATION)
        if requested:
            status.last_handled_reconcile_at = requested
        generation = kustomization.metadata.generation
        try:
            revision, changeset = await self._run(kustomization, status)
        except StageFailed as failure:
            waiting = failure.reason == ConditionReason.DEPENDENCY_NOT_READY
            status.conditions = mark_failed(
                status.conditions,
                failure.reason,
                str(failure),
                terminal=False,
                generation=generation,
                now=datetime.now(UTC),
            )
            await self._write_status(obj, status)
            # A dependency that becomes ready enqueues this object itself; the requeue
            # is the backstop, without growing backoff while it waits.
            return (
                Success(requeue_after=DEPENDENCY_RETRY_SECONDS) if waiting else TransientFailure()
            )
        status.last_applied_revision = revision
        status.conditions = mark_ready(
            status.conditions,
            f"Applied revision: {revision}",
            generation=generation,
            now=datetime.now(UTC),
        )
        await self._write_status(obj, status)
        changed = [entry for entry in changeset.entries if entry.action != Action.UNCHANGED]
        if changed:
            summary = ", ".join(map(str, changed))
            await self._events.record(obj, "Normal", "ReconciliationSucceeded", summary)
        return Success(requeue_after=duration_seconds(spec.interval))

    async def _run(
        self, kustomization: Kustomization, status: KustomizationStatus
    ) -> tuple[str, ChangeSet]:
        """The pipeline; returns the applied revision and what changed."""
        artifact = await self._source_artifact(kustomization)
        status.last_attempted_revision = artifact.revision
        self._check_dependencies(kustomization, artifact)
        objects = await asyncio.to_thread(self._build, kustomization, artifact)
        owner = Owner(kustomization.metadata.name, kustomization.metadata.namespace or "")
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
                f"{_name(kustomization)}: the build of revision {artifact.revision} has no objects; "
                f'nothing was pruned. Annotate the Kustomization {ALLOW_EMPTY_PRUNE}: "true" to prune everything',
            )
        try:
            changeset = await apply_all(self._kube, objects, default_apply_options(owner))
        except ApplyError as error:
            raise StageFailed(
                ConditionReason.RECONCILIATION_FAILED, f"{_name(kustomization)}: {error}"
            ) from error
        new = [InventoryEntry.of(ObjectRef.of(obj)) for obj in objects]
        status.inventory = ResourceInventory(
            entries=[InventoryEntryModel(id=e.id, v=e.version) for e in new]
        )
        if kustomization.spec.prune:
            pruned = await prune(self._kube, stale_entries(old, new), default_prune_options(owner))
            if pruned.failures:
                status.inventory.entries += [
                    InventoryEntryModel(
                        id=InventoryEntry.of(f.ref).id, v=InventoryEntry.of(f.ref).version
                    )
                    for f in pruned.failures
                ]
                raise StageFailed(
                    ConditionReason.PRUNE_FAILED,
                    f"{_name(kustomization)}: prune failed: {pruned.failures[0]}",
                )
            changeset.entries += pruned.entries
        if kustomization.spec.wait:
            await self._wait_healthy(kustomization, objects, status)
        return artifact.revision or "", changeset

    def _check_dependencies(self, kustomization: Kustomization, artifact: Artifact) -> None:
        """Every ``dependsOn`` entry must be Ready and, when it shares our source, have
        applied the revision we are about to apply."""
        own_namespace = kustomization.metadata.namespace or ""
        for dependency in kustomization.spec.depends_on:
            key = (dependency.namespace or own_namespace, dependency.name)
            obj = self._cache.get(key)
            shown = f"dependency '{key[0]}/{key[1]}'"
            if obj is None:
                raise StageFailed(ConditionReason.DEPENDENCY_NOT_READY, f"{shown} does not exist")
            ready = next(
                (
                    c
                    for c in (obj.get("status") or {}).get("conditions") or []
                    if c.get("type") == "Ready"
                ),
                None,
            )
            observed = (obj.get("status") or {}).get("observedGeneration")
            if (
                not ready
                or ready.get("status") != "True"
                or observed != obj["metadata"].get("generation")
            ):
                raise StageFailed(ConditionReason.DEPENDENCY_NOT_READY, f"{shown} is not ready")
            same_source = _source_key(obj, key[0]) == _source_key(
                kustomization.to_manifest(), own_namespace
            )
            applied = (obj.get("status") or {}).get("lastAppliedRevision")
            if same_source and applied != artifact.revision:
                raise StageFailed(
                    ConditionReason.DEPENDENCY_NOT_READY,
                    f"{shown} has not applied revision {artifact.revision} yet",
                )

    async def _source_artifact(self, kustomization: Kustomization) -> Artifact:
        ref = kustomization.spec.source_ref
        namespace = ref.namespace or kustomization.metadata.namespace or ""
        try:
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

    def _build(self, kustomization: Kustomization, artifact: Artifact) -> list[KubeObject]:
        spec = kustomization.spec
        with tempfile.TemporaryDirectory(prefix="build-", dir=self._scratch) as scratch:
            root = Path(scratch) / "artifact"
            try:
                _download(artifact, Path(scratch) / "artifact.tar.gz", root)
            except (OSError, ValueError, tarfile.TarError) as error:
                raise StageFailed(
                    ConditionReason.ARTIFACT_FAILED,
                    f"{_name(kustomization)}: cannot fetch artifact {artifact.url}: {error}",
                ) from error
            try:
                objects = build_kustomization(
                    root, spec.path or "./", _build_options(kustomization)
                )
                if spec.post_build is not None and spec.post_build.substitute:
                    objects = substitute(objects, spec.post_build.substitute)
            except RenderError as error:
                raise StageFailed(
                    ConditionReason.BUILD_FAILED, f"{_name(kustomization)}: {error}"
                ) from error
        return objects

    async def _wait_healthy(
        self, kustomization: Kustomization, objects: list[KubeObject], status: KustomizationStatus
    ) -> None:
        spec = kustomization.spec
        timeout = (
            duration_seconds(spec.timeout)
            if spec.timeout
            else max(duration_seconds(spec.interval) - 30, 30)
        )
        deadline = time.monotonic() + timeout
        refs = [ObjectRef.of(obj) for obj in objects]
        while True:
            results = [evaluate(await self._kube.get(ref)) for ref in refs]
            health = aggregate(results)
            if health.state == HealthState.CURRENT:
                status.conditions = set_condition(
                    status.conditions,
                    ConditionType.HEALTHY,
                    "True",
                    "Succeeded",
                    "all objects are healthy",
                    generation=kustomization.metadata.generation,
                    now=datetime.now(UTC),
                )
                return
            if health.state == HealthState.FAILED or time.monotonic() > deadline:
                status.conditions = set_condition(
                    status.conditions,
                    ConditionType.HEALTHY,
                    "False",
                    ConditionReason.HEALTH_CHECK_FAILED,
                    health.message,
                    generation=kustomization.metadata.generation,
                    now=datetime.now(UTC),
                )
                raise StageFailed(
                    ConditionReason.HEALTH_CHECK_FAILED, f"{_name(kustomization)}: {health.message}"
                )
            await asyncio.sleep(HEALTH_POLL_SECONDS)

    async def _write_status(self, obj: KubeObject, status: KustomizationStatus) -> None:
        desired = status.model_dump(
            mode="json", by_alias=True, exclude_none=True, exclude_defaults=True
        )
        if desired != (obj.get("status") or {}):
            await self._kube.apply_status({**obj, "status": desired})


def _build_options(kustomization: Kustomization) -> BuildOptions:
    spec = kustomization.spec
    metadata = spec.common_metadata
    return BuildOptions(
        target_namespace=spec.target_namespace,
        name_prefix=spec.name_prefix,
        name_suffix=spec.name_suffix,
        patches=tuple(
            Patch(
                patch.patch,
                PatchTarget(**patch.target.model_dump(exclude_none=True)) if patch.target else None,
            )
            for patch in spec.patches
        ),
        images=tuple(Image(i.name, i.new_name, i.new_tag, i.digest) for i in spec.images),
        components=tuple(spec.components),
        common_labels=dict(metadata.labels) if metadata else {},
        common_annotations=dict(metadata.annotations) if metadata else {},
    )


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


def _source_key(obj: KubeObject, namespace: str) -> tuple[str, str, str]:
    ref = (obj.get("spec") or {}).get("sourceRef") or {}
    return (str(ref.get("kind")), str(ref.get("namespace") or namespace), str(ref.get("name")))


def _name(kustomization: Kustomization) -> str:
    return f"{KIND} {kustomization.metadata.namespace}/{kustomization.metadata.name}"
