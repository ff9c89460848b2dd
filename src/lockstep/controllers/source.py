"""The outer shell every source reconciler shares (GitRepository, OCIRepository).

A source reconciler turns an object into an artifact in the store. The shell
reads the object from the informer's cache, honours ``suspend``, runs the kind's
own pipeline (:meth:`SourceReconciler.build`), and turns the result or the
:class:`Failure` it raises into conditions the way Flux reports them. Status is
written only when it differs from what is stored, with an event when the Ready
condition changes meaning (see :func:`transition_event`). A failure never removes
or replaces the last good artifact.

Subclassed by :mod:`lockstep.controllers.gitrepository` and
:mod:`lockstep.controllers.ocirepository`; run by the controller manager.
"""

from __future__ import annotations

import asyncio
import base64
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar

from pydantic import ValidationError

from lockstep.api.conditions import mark_failed, mark_ready, remove_condition, set_condition
from lockstep.api.meta import (
    RECONCILE_REQUEST_ANNOTATION,
    ApiObject,
    Artifact,
    ConditionType,
    ObjectStatus,
    duration_seconds,
)
from lockstep.api.source import SourceStatus
from lockstep.kube import KubeClient, KubeError, KubeObject, NotFound, ObjectRef
from lockstep.runtime.events import EventRecorder, EventType
from lockstep.runtime.informer import ObjectKey
from lockstep.runtime.queue import Outcome, Success, TerminalFailure, TransientFailure
from lockstep.sources import errors
from lockstep.sources.store import ArtifactStore


class Failure(Exception):
    """A stage of the pipeline failed: the condition it reports, and whether retrying helps.

    ``terminal`` failures can only be fixed by a change of the object's spec (an invalid
    URL, a malformed semver range): the object is marked Stalled, as Flux does. It is
    still retried with backoff like every failure (at most every 15 minutes then), so
    an object never waits on a fix that happened elsewhere; a spec change reconciles
    at once anyway.
    """

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        terminal: bool = False,
        condition: str | None = None,
        condition_status: Literal["True", "False"] = "True",
    ) -> None:
        """``condition`` is the failing stage's own condition (default: ``reason``), set to
        ``condition_status``: ``FetchFailed=True``, but ``SourceVerified=False``."""
        super().__init__(message)
        self.reason = reason
        self.terminal = terminal
        self.condition = condition or reason
        self.condition_status = condition_status


VERIFICATION_ERROR = "VerificationError"
"""Reason of Ready and SourceVerified=False when a signature does not check out."""

# Failures that only a change of the object's spec can fix: marked Stalled. A Secret
# can be fixed without touching the object, so its errors are not among them.
TERMINAL_ERRORS = (errors.InvalidUrl, errors.InvalidRef)


def failure_of(error: errors.SourceError) -> Failure:
    """The condition a failure of the sources library reports: SourceVerified=False for
    a signature that does not check out, FetchFailed for everything else."""
    if isinstance(error, errors.VerificationFailed):
        return Failure(
            VERIFICATION_ERROR,
            str(error),
            condition=ConditionType.SOURCE_VERIFIED,
            condition_status="False",
        )
    return Failure(
        ConditionType.FETCH_FAILED, str(error), terminal=isinstance(error, TERMINAL_ERRORS)
    )


class SourceSpec(Protocol):
    @property
    def interval(self) -> str: ...

    @property
    def suspend(self) -> bool: ...


SOURCE_API_VERSION = "source.toolkit.fluxcd.io/v1"

S = TypeVar("S", bound=ApiObject)
Status = TypeVar("Status", bound=SourceStatus)


class SourceReconciler(ABC, Generic[S, Status]):
    """Reconciles one source kind into artifacts; subclasses supply the pipeline."""

    kind: ClassVar[str]
    api_version: ClassVar[str] = SOURCE_API_VERSION
    name: ClassVar[str]
    failure_conditions: ClassVar[tuple[str, ...]] = (
        ConditionType.FETCH_FAILED,
        ConditionType.ARTIFACT_OUTDATED,
    )
    """Conditions a failing or unfinished stage sets and a success removes."""

    def __init__(self, kube: KubeClient, store: ArtifactStore, cache: Any, scratch: Path) -> None:
        """``scratch`` holds work folders while they are packed; the manager empties it at start."""
        self._kube = kube
        self._events = EventRecorder(kube)
        self._store = store
        self._cache = cache
        self._scratch = scratch

    @abstractmethod
    def parse(self, obj: KubeObject) -> S:
        """The typed object; raises pydantic's ValidationError."""

    @abstractmethod
    def current_status(self, source: S) -> Status:
        """A copy of the object's status (a new one when it has none)."""

    @abstractmethod
    async def build(self, source: S, status: Status) -> Artifact:
        """Produce (or keep) the artifact, setting the kind's observed fields on ``status``.

        Raises :class:`Failure` for every failure a user should see.
        """

    async def secret_data(self, source: S, name: str, field: str) -> dict[str, bytes]:
        """The decoded data of the Secret ``name`` that ``field`` of ``source`` names."""
        namespace = source.metadata.namespace or ""
        try:
            secret = await self._kube.get(ObjectRef("v1", "Secret", name, namespace))
        except NotFound as error:
            raise errors.InvalidSecret(
                f"Secret {namespace}/{name} named in {field} of {self.kind} "
                f"{namespace}/{source.metadata.name} does not exist; create it"
            ) from error
        return {key: base64.b64decode(value) for key, value in (secret.get("data") or {}).items()}

    @staticmethod
    def mark_outdated(status: Status, revision: str, generation: int | None) -> None:
        """Note on ``status`` that the source offers ``revision``, not yet stored: if a later
        stage fails, the status says the artifact is outdated (Flux's ArtifactOutdated)."""
        status.conditions = set_condition(
            status.conditions,
            ConditionType.ARTIFACT_OUTDATED,
            "True",
            "NewRevision",
            f"new upstream revision '{revision}'",
            generation=generation,
            now=datetime.now(UTC),
        )

    def dependents(self, key: ObjectKey) -> list[ObjectKey]:
        """Objects of this kind to reconcile again when the artifact of ``key`` changes."""
        return []

    def spec_of(self, source: S) -> SourceSpec:
        spec: SourceSpec = getattr(source, "spec")  # noqa: B009 - every source kind has a spec
        return spec

    async def reconcile(self, key: ObjectKey) -> Outcome:
        obj = self._cache.get(key)
        namespace, name = key
        if obj is None:
            await asyncio.to_thread(self._store.remove_all, self.kind, namespace, name)
            return Success()
        try:
            source = self.parse(obj)
        except ValidationError as error:
            # The CRD schema is generated from the same models, so this is rare; the
            # status cannot be built from an object that does not parse, so say it in an event.
            problem = error.errors()[0]
            where = ".".join(str(part) for part in problem["loc"])
            message = f"{self.kind} {namespace}/{name} is invalid at {where}: {problem['msg']}; correct it"
            await self._events.record(obj, "Warning", "InvalidSpec", message)
            return TerminalFailure()
        spec = self.spec_of(source)
        if spec.suspend:
            return Success()
        status = self._prepared_status(source)
        try:
            artifact = await self.build(source, status)
        except Failure as failure:
            await self._record_failure(obj, source, status, failure)
            return TransientFailure()
        except KubeError as error:
            await self._record_failure(
                obj, source, status, Failure(ConditionType.FETCH_FAILED, str(error))
            )
            return TransientFailure()
        generation = source.metadata.generation
        now = datetime.now(UTC)
        message = f"stored artifact for revision '{artifact.revision}'"
        status.artifact = artifact
        conditions = status.conditions
        for condition in self.failure_conditions:
            conditions = remove_condition(conditions, condition)
        conditions = mark_ready(conditions, message, generation=generation, now=now)
        status.conditions = set_condition(
            conditions,
            ConditionType.ARTIFACT_IN_STORAGE,
            "True",
            "Succeeded",
            message,
            generation=generation,
            now=now,
        )
        await self._write_status(obj, status)
        return Success(requeue_after=duration_seconds(spec.interval))

    def _prepared_status(self, source: S) -> Status:
        status = self.current_status(source)
        status.observed_generation = source.metadata.generation
        requested = source.metadata.annotations.get(RECONCILE_REQUEST_ANNOTATION)
        if requested:
            status.last_handled_reconcile_at = requested
        return status

    async def _record_failure(
        self, obj: KubeObject, source: S, status: Status, failure: Failure
    ) -> None:
        """Write ``status`` (as the pipeline left it, e.g. with ArtifactOutdated) with the failure."""
        now = datetime.now(UTC)
        generation = source.metadata.generation
        message = str(failure)
        conditions = mark_failed(
            status.conditions,
            failure.reason,
            message,
            terminal=failure.terminal,
            generation=generation,
            now=now,
        )
        # The failing stage's own condition (FetchFailed, IncludeUnavailable, ...), as Flux reports it.
        status.conditions = set_condition(
            conditions,
            failure.condition,
            failure.condition_status,
            failure.reason,
            message,
            generation=generation,
            now=now,
        )
        await self._write_status(obj, status)

    async def _write_status(self, obj: KubeObject, status: ObjectStatus) -> None:
        """Write the status if it changed, and record an event if Ready changed meaning."""
        desired = status.model_dump(
            mode="json", by_alias=True, exclude_none=True, exclude_defaults=True
        )
        previous = obj.get("status") or {}
        if desired == previous:
            return
        await self._kube.apply_status({**obj, "status": desired})
        event = transition_event(previous, desired)
        if event is not None:
            await self._events.record(obj, *event)


def transition_event(before: KubeObject, after: KubeObject) -> tuple[EventType, str, str] | None:
    """The event a status change deserves: a new artifact, a new failure, a recovery, or none."""
    was, now = _ready_condition(before), _ready_condition(after)
    if now is None:
        return None
    if now["status"] == "True":
        old_revision = (before.get("artifact") or {}).get("revision")
        new_revision = (after.get("artifact") or {}).get("revision")
        if new_revision != old_revision:
            return ("Normal", "NewArtifact", str(now["message"]))
        if was is not None and was["status"] != "True":
            return ("Normal", str(now["reason"]), str(now["message"]))
        return None
    if was is None or (was["status"], was["message"]) != (now["status"], now["message"]):
        return ("Warning", str(now["reason"]), str(now["message"]))
    return None


def _ready_condition(status: KubeObject) -> KubeObject | None:
    conditions = status.get("conditions") or []
    return next((c for c in conditions if c.get("type") == ConditionType.READY), None)
