"""The one reconciler shell every kind runs in; a kind supplies only its pipeline.

:class:`ReconcilerShell` is the outer layer of every reconciler; the kind's
:meth:`~ReconcilerShell.pipeline` is the inner, straight one. One run of a key:

1. read the object from the informer's cache; gone → :meth:`~ReconcilerShell.forget`;
2. parse it with the kind's model; invalid → Ready=False and Stalled with reason
   ``InvalidSpec``, a Warning event naming the object and the field to correct,
   :class:`TerminalFailure`;
3. being deleted → :meth:`~ReconcilerShell.finalize`, then the kind's finalizer is
   released (kinds without one are left to the garbage collector); a finalize that
   raises :class:`Failure` (told as a Warning event) or asks to look again later keeps it;
4. add the kind's finalizer (before anything is produced, suspended or not, unless the
   kind's :class:`Ordering` adds it only to objects that are not suspended);
5. ``spec.suspend`` → nothing more;
6. prepare the status: ``observedGeneration``, ``lastHandledReconcileAt``;
7. run the pipeline: it fills the status and returns :class:`Ready` (or :data:`WAITING`:
   nothing to report yet; :data:`RERUN`: stopped short, run again at once), or raises
   :class:`Failure`; a long stage may show its state meanwhile
   (:meth:`~ReconcilerShell.write_progress`). Any other exception is a defect, or
   content no stage foresaw: it becomes a retried Failure with reason
   ``ReconciliationFailed`` and a one-line message naming the object and the error,
   told as any failure (the traceback only in the debug log), so that no status is
   left stale;
8. Ready=True with the kind's :attr:`~ReconcilerShell.ready_reason`, or Ready=False
   with the failure's reason and Stalled (terminal) or Reconciling (retried), plus
   the failing stage's own condition;
9. write the status only when it differs from the stored one (server-side apply of
   the status subresource); then record the events the pipeline asked for (before the
   write when the kind's :class:`Ordering` says so), and one when Ready changed meaning
   (:meth:`~ReconcilerShell.ready_event`), unless a Normal event of the pipeline already
   told the success; last, :attr:`Ready.on_stored`, what the kind remembers of a success
   only once it is recorded.

Outcomes for the work queue: ``Success(requeue_after=interval)``;
``TransientFailure(max_delay=retry interval)``, backoff but at the latest after the
retry interval (by default the interval); ``TerminalFailure()``, only a change of the
object helps; ``Success(requeue_after=failure.requeue_after)`` for a failure that is
not retried (it waits for a change elsewhere, with an optional backstop).

A new kind costs no shell code: its names, its model and status model, and its
pipeline, as a subclass; the hooks (:meth:`~ReconcilerShell.forget`,
:meth:`~ReconcilerShell.finalize`, :meth:`~ReconcilerShell.interval`, ...) have defaults.
The status vocabulary of steps 2, 6 and 8 is Flux's (Ready, Stalled, Reconciling); a kind
with its own (Argo CD's Application) overrides :meth:`~ReconcilerShell.prepared_status`,
:meth:`~ReconcilerShell.succeeded_status`, :meth:`~ReconcilerShell.failed_status` and
:meth:`~ReconcilerShell.invalid_status`. A kind whose CRD has no status subresource
(:attr:`~ReconcilerShell.status_subresource`) gets its status written with a JSON patch,
and the reconcile waits until the cache shows the write, so that the next one does not
start from the status before it; one whose users set its finalizer themselves
(:attr:`Ordering.adds_finalizer`) gets it released, never added.

The failure hierarchy is one class: :class:`Failure` (reason, message, terminal,
condition). Every kind of :mod:`lockstep.controllers` runs in this shell; the manager
constructs them and calls :meth:`~ReconcilerShell.reconcile`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar

from pydantic import ValidationError

from lockstep.api.conditions import mark_failed, mark_ready, remove_condition, set_condition
from lockstep.api.meta import (
    RECONCILE_REQUEST_ANNOTATION,
    ApiModel,
    ApiObject,
    Condition,
    ConditionReason,
    ConditionType,
    ObjectStatus,
    duration_seconds,
)
from lockstep.kube import Invalid, KubeClient, KubeObject, NotFound, ObjectRef
from lockstep.runtime.events import EventRecorder, EventType
from lockstep.runtime.informer import ObjectCache, ObjectKey, object_key
from lockstep.runtime.queue import Outcome, Success, TerminalFailure, TransientFailure

SUCCEEDED = "Succeeded"
"""Reason of Ready=True, as Flux's source, image and notification controllers write it."""

INVALID_SPEC = "InvalidSpec"
"""Reason of Ready=False, Stalled and the Warning event for an object that does not parse."""

Event = tuple[EventType, str, str]
"""type, reason, message."""

_log = logging.getLogger(__name__)

_UNEXPECTED_MESSAGE_CHARACTERS = 300

CACHE_CATCH_UP_SECONDS = 5.0
"""How long a write to an object itself waits for the cache to show it."""


class Failure(Exception):
    """A stage of a pipeline failed: the Ready reason, the one-line message, and what helps.

    ``terminal``: only a change of the object can fix it; marked Stalled, not retried.
    Otherwise it is retried with backoff (Reconciling), or, with ``retry=False``, left
    until a change elsewhere enqueues the object again (a dependency that has nothing
    to offer yet), or at the latest after ``requeue_after`` seconds. ``condition`` is the
    failing stage's own condition, set to ``condition_status`` with the same reason and
    message (``FetchFailed=True``, ``SourceVerified=False``); ``events`` are told with
    the status write.
    """

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        terminal: bool = False,
        retry: bool = True,
        condition: str | None = None,
        condition_status: Literal["True", "False"] = "True",
        events: Sequence[Event] = (),
        requeue_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.terminal = terminal
        self.retry = retry
        self.requeue_after = requeue_after
        self.condition = condition
        self.condition_status = condition_status
        self.events = tuple(events)


@dataclass(frozen=True)
class Ready:
    """The pipeline succeeded: the Ready message, and events to tell with the status
    write (a Normal one stands for the Ready event, as a push does)."""

    message: str
    events: tuple[Event, ...] = ()
    on_stored: Callable[[], None] | None = None
    reason: str | None = None
    """Reason of Ready=True when it is not the kind's :attr:`ReconcilerShell.ready_reason`
    (a HelmChart tells whether its chart was pulled or packaged)."""
    """Called once the status is stored (written, or found as it was): what the kind
    remembers of a success only when it is recorded, so that a failed write is redone."""


@dataclass(frozen=True)
class Waiting:
    """The pipeline has nothing to report yet and will be enqueued when it has (or, with
    ``look_again_after``, runs again then, when nothing would enqueue it): the status
    stays as it is."""

    look_again_after: float | None = None


WAITING = Waiting()


@dataclass(frozen=True)
class Rerun:
    """The pipeline stopped short because its input changed while it ran (a new source
    revision during a health wait): the status as it left it is written, no outcome is
    told (no Ready event), and the object runs again at once."""


RERUN = Rerun()


@dataclass(frozen=True)
class Ordering:
    """Where a kind departs from the shell's order of steps."""

    finalizer_when_suspended: bool = True
    """Add the finalizer to a suspended object too (Flux's source controllers); else
    only once it runs, so that deleting an object never reconciled leaves nothing to do."""

    adds_finalizer: bool = True
    """Add the finalizer to every object; if not (Argo CD's Application, whose users add
    it to ask for a cascading deletion), only release it once :meth:`ReconcilerShell.finalize`
    is done."""

    events_before_status: bool = False
    """Record the pipeline's events before the status write, for whoever waits for the
    status to find them (``lockstep reconcile`` lists a Kustomization's changes)."""


T = TypeVar("T", bound=ApiObject)
S = TypeVar("S", bound=ApiModel)


class ShellSpec(Protocol):
    """What the shell reads of every kind's spec."""

    @property
    def suspend(self) -> bool: ...

    @property
    def interval(self) -> str | None: ...


def invalid_object_message(kind: str, obj: KubeObject, error: ValidationError) -> str:
    """The message for an object that does not parse: the object, the field, what to do."""
    problem = error.errors()[0]
    where = ".".join(str(part) for part in problem["loc"])
    metadata = obj.get("metadata") or {}
    return (
        f"{kind} {metadata.get('namespace')}/{metadata.get('name')} is invalid at {where}: "
        f"{problem['msg']}; correct it"
    )


class ReconcilerShell(ABC, Generic[T, S]):
    """The outer shell; subclasses name their kind and model and supply the pipeline."""

    kind: ClassVar[str]
    api_version: ClassVar[str]
    name: ClassVar[str]
    """The controller's name in logs and metrics."""

    model: type[T]
    """The kind's pydantic model, which parses the cached object."""

    status_model: type[S]
    """The kind's status model; a fresh one for an object without status."""

    ready_reason: ClassVar[str] = SUCCEEDED
    """Reason of Ready=True (Flux's Kustomization writes ``ReconciliationSucceeded``)."""

    finalizer: ClassVar[str | None] = None
    """Kept on every object while it exists, released after :meth:`finalize`."""

    other_finalizers: ClassVar[tuple[str, ...]] = ()
    """Variants of :attr:`finalizer` that users may set instead (Argo CD's ``/background``
    one), released the same way."""

    failure_conditions: ClassVar[tuple[str, ...]] = ()
    """Conditions a failing or unfinished stage sets and a success removes."""

    generation_observed_on_failure: ClassVar[bool] = True
    """Whether ``observedGeneration`` follows the object on a failure too, or only on a
    success (Flux's Receiver)."""

    ordering: ClassVar[Ordering] = Ordering()

    status_subresource: ClassVar[bool] = True
    """Whether the kind's CRD has a status subresource the status is written to; if not
    (Argo CD's Application), the status is written to the object itself."""

    def __init__(self, kube: KubeClient, cache: ObjectCache) -> None:
        self._kube = kube
        self._cache = cache
        self._events = EventRecorder(kube)
        self._progress: dict[ObjectKey, dict[str, Any]] = {}
        """The status written while a pipeline still runs (:meth:`write_progress`)."""

    @abstractmethod
    async def pipeline(self, obj: T, status: S) -> Ready | Waiting | Rerun:
        """The kind's stages in order, filling ``status``; raises :class:`Failure`."""

    async def forget(self, key: ObjectKey) -> None:
        """The object at ``key`` is gone: drop what is kept for it."""

    async def finalize(self, obj: T) -> float | None:
        """The object is being deleted: remove what it produced (before the finalizer goes).

        Returns None when done, or the seconds after which to look again, keeping the
        finalizer (objects still terminating); raises :class:`Failure` to keep it and
        retry, told as a Warning event.
        """
        return None

    async def write_progress(self, obj: T, status: S) -> None:
        """Write ``status`` while the pipeline still runs, so that a long stage shows its
        state (Flux's Reconciling, ``Healthy=Unknown``); the final write compares with it."""
        written = _dump(status)
        await self._store_status(obj.to_manifest(), written)
        self._progress[(obj.metadata.namespace or "", obj.metadata.name)] = written

    def interval(self, obj: T) -> float | None:
        """Seconds until the next run after a success; None to wait to be enqueued."""
        interval = self.spec_of(obj).interval
        return duration_seconds(interval) if interval else None

    def retry_interval(self, obj: T) -> float | None:
        """The longest wait before a failure is retried: the interval, unless the kind has
        a setting of its own (``spec.retryInterval``)."""
        return self.interval(obj)

    def dependents(self, key: ObjectKey) -> list[ObjectKey]:
        """Objects of this kind to reconcile again when the status of ``key`` changes."""
        return []

    def ready_event(self, before: KubeObject, after: KubeObject) -> Event | None:
        """The event a status change deserves (see :func:`ready_event`)."""
        return ready_event(before, after)

    @staticmethod
    def spec_of(obj: T) -> ShellSpec:
        spec: ShellSpec = getattr(obj, "spec")  # noqa: B009 - every kind in the shell has a spec
        return spec

    async def reconcile(self, key: ObjectKey) -> Outcome:
        raw = self._cache.get(key)
        if raw is None:
            await self.forget(key)
            return Success()
        try:
            obj = self.model.model_validate(raw)
        except ValidationError as error:
            await self._record_invalid(raw, invalid_object_message(self.kind, raw, error))
            return TerminalFailure()
        if obj.metadata.deletion_timestamp is not None:
            return await self._finalize(raw, obj)
        suspended = self.spec_of(obj).suspend
        if self.ordering.adds_finalizer and (
            self.ordering.finalizer_when_suspended or not suspended
        ):
            await self._add_finalizer(raw)
        if suspended:
            return Success()
        try:
            return await self._run_pipeline(raw, obj)
        finally:
            self._progress.pop(key, None)

    async def _run_pipeline(self, raw: KubeObject, obj: T) -> Outcome:
        """The pipeline, then the status it leads to."""
        status = self.prepared_status(obj)
        try:
            result = await self.pipeline(obj, status)
        except Failure as failure:
            await self._write(raw, self.failed_status(obj, status, failure), failure.events)
            return self._failure_outcome(obj, failure)
        except Exception as error:
            unexpected = self._unexpected(obj, error)
            await self._write(raw, self.failed_status(obj, status, unexpected), ())
            return self._failure_outcome(obj, unexpected)
        if isinstance(result, Waiting):
            return Success(requeue_after=result.look_again_after)
        if isinstance(result, Rerun):
            await self._write(raw, status, (), outcome=False)
            return Success(requeue_after=0)
        await self._write(raw, self.succeeded_status(obj, status, result), result.events)
        if result.on_stored is not None:
            result.on_stored()
        return Success(requeue_after=self.interval(obj))

    def _unexpected(self, obj: T, error: Exception) -> Failure:
        """The Failure an exception no stage expected stands for; its Warning event is
        its log line, and its traceback is logged at debug level only."""
        name = f"{self.kind} {obj.metadata.namespace}/{obj.metadata.name}"
        _log.debug("the unexpected error of %s", name, exc_info=error)
        return Failure(
            ConditionReason.RECONCILIATION_FAILED,
            f"{name}: reconciliation failed unexpectedly: {unexpected_error(error)}",
        )

    def _failure_outcome(self, obj: T, failure: Failure) -> Outcome:
        if failure.terminal:
            return TerminalFailure()
        if not failure.retry:
            return Success(requeue_after=failure.requeue_after)
        return TransientFailure(max_delay=self.retry_interval(obj))

    def prepared_status(self, obj: T) -> S:
        """A copy of the object's status for the pipeline to fill, with
        ``observedGeneration`` and ``lastHandledReconcileAt`` (step 6); a kind with a
        status vocabulary of its own overrides it."""
        status = self._status_copy(obj)
        flux = _flux_status(status)
        requested = obj.metadata.annotations.get(RECONCILE_REQUEST_ANNOTATION)
        if requested:
            flux.last_handled_reconcile_at = requested
        if self.generation_observed_on_failure:
            flux.observed_generation = obj.metadata.generation
        return status

    def _status_copy(self, obj: T) -> S:
        current = getattr(obj, "status", None)
        status = current.model_copy(deep=True) if current is not None else self.status_model()
        assert isinstance(status, self.status_model)
        return status

    def succeeded_status(self, obj: T, status: S, ready: Ready) -> S:
        """``status`` as the pipeline left it, with Ready=True (step 8); a kind with a
        status vocabulary of its own (Argo CD's) overrides it."""
        flux, generation = _flux_status(status), obj.metadata.generation
        conditions = flux.conditions
        for condition in self.failure_conditions:
            conditions = remove_condition(conditions, condition)
        flux.conditions = mark_ready(
            conditions,
            ready.message,
            generation=generation,
            now=datetime.now(UTC),
            reason=ready.reason or self.ready_reason,
        )
        flux.observed_generation = generation
        return status

    def failed_status(self, obj: T, status: S, failure: Failure) -> S:
        """``status`` as the pipeline left it (e.g. with ArtifactOutdated), with the failure
        (step 8); a kind with a status vocabulary of its own overrides it."""
        generation, now, message = obj.metadata.generation, datetime.now(UTC), str(failure)
        flux = _flux_status(status)
        flux.conditions = mark_failed(
            flux.conditions,
            failure.reason,
            message,
            terminal=failure.terminal,
            generation=generation,
            now=now,
        )
        if failure.condition is not None:
            flux.conditions = set_condition(
                flux.conditions,
                failure.condition,
                failure.condition_status,
                failure.reason,
                message,
                generation=generation,
                now=now,
            )
        return status

    async def _record_invalid(self, raw: KubeObject, message: str) -> None:
        """:meth:`invalid_status` written."""
        await self._write_dict(raw, self.invalid_status(raw, message), ())

    def invalid_status(self, raw: KubeObject, message: str) -> dict[str, Any]:
        """Ready=False and Stalled on the stored status, whose other fields stay as they
        are (step 2); a kind with a status vocabulary of its own overrides it."""
        previous = raw.get("status") or {}
        try:
            conditions = [Condition.model_validate(c) for c in previous.get("conditions") or []]
        except ValidationError:
            conditions = []
        generation = (raw.get("metadata") or {}).get("generation")
        marked = ObjectStatus(
            observed_generation=generation,
            conditions=mark_failed(
                conditions,
                INVALID_SPEC,
                message,
                terminal=True,
                generation=generation,
                now=datetime.now(UTC),
            ),
        )
        return {**previous, **_dump(marked)}

    async def _write(
        self,
        raw: KubeObject,
        status: ApiModel,
        events: Sequence[Event],
        *,
        outcome: bool = True,
    ) -> None:
        await self._write_dict(raw, _dump(status), events, outcome=outcome)

    async def _write_dict(
        self,
        raw: KubeObject,
        desired: dict[str, Any],
        events: Sequence[Event],
        *,
        outcome: bool = True,
    ) -> None:
        """Write ``desired`` unless the object has it already (or the progress written
        during this run); the pipeline's events before or after, as the kind orders them;
        then, for an ``outcome``, the Ready event unless a Normal one of the pipeline
        stands for it."""
        previous = raw.get("status") or {}
        stored = self._progress.get(object_key(raw), previous)
        first, then = (events, ()) if self.ordering.events_before_status else ((), events)
        for event in first:
            await self._events.record(raw, *event)
        if desired != stored:
            await self._store_status(raw, desired)
        for event in then:
            await self._events.record(raw, *event)
        if not outcome:
            return
        ready = self.ready_event(previous, desired)
        announced = any(event[0] == "Normal" for event in events)
        if ready is not None and not (announced and ready[0] == "Normal"):
            await self._events.record(raw, *ready)

    async def _store_status(self, obj: KubeObject, status: dict[str, Any]) -> None:
        """Write ``status`` whole: applied to the status subresource, or, for a kind without
        one, put in place of the object's by a JSON patch (server-side apply would need
        the required fields of the spec in the request, and would own them)."""
        if self.status_subresource:
            await self._kube.apply_status({**obj, "status": status})
            return
        written = await self._kube.json_patch(
            ObjectRef.of(obj), [{"op": "add", "path": "/status", "value": status}]
        )
        # The status is the kind's memory (Argo CD's history, its last operation): the
        # next reconcile must not start from the cached copy of before this write.
        await self._cache_caught_up(written)

    async def _cache_caught_up(self, written: KubeObject) -> None:
        """Until the cache holds ``written`` or a later version of it, for at most
        :data:`CACHE_CATCH_UP_SECONDS`."""
        version = str((written.get("metadata") or {}).get("resourceVersion") or "")
        key = object_key(written)
        deadline = time.monotonic() + CACHE_CATCH_UP_SECONDS
        while time.monotonic() < deadline:
            cached = self._cache.get(key)
            seen = str(((cached or {}).get("metadata") or {}).get("resourceVersion") or "")
            if cached is None or _not_older(seen, version):
                return
            await asyncio.sleep(0.02)

    async def _finalize(self, raw: KubeObject, obj: T) -> Outcome:
        """Remove what the object produced, then release the finalizer."""
        finalizers = list((raw.get("metadata") or {}).get("finalizers") or [])
        held = next((f for f in (self.finalizer, *self.other_finalizers) if f in finalizers), None)
        if held is None:
            return Success()
        try:
            again = await self.finalize(obj)
        except Failure as failure:
            told: Event = ("Warning", failure.reason, str(failure))
            for event in (*failure.events, told):
                await self._events.record(raw, *event)
            return self._failure_outcome(obj, failure)
        if again is not None:
            return Success(requeue_after=again)
        path = f"/metadata/finalizers/{finalizers.index(held)}"
        # The test makes the patch fail, not remove another finalizer, when the list
        # changed since it was read; the next reconcile reads it again.
        with contextlib.suppress(NotFound):
            try:
                await self._kube.json_patch(
                    ObjectRef.of(raw),
                    [
                        {"op": "test", "path": path, "value": held},
                        {"op": "remove", "path": path},
                    ],
                )
            except Invalid:
                return TransientFailure()
        return Success()

    async def _add_finalizer(self, raw: KubeObject) -> None:
        """Add the finalizer before anything is produced, so no deletion can leave it behind."""
        finalizers = (raw.get("metadata") or {}).get("finalizers") or []
        if self.finalizer is None or self.finalizer in finalizers:
            return
        operation = (
            {"op": "add", "path": "/metadata/finalizers/-", "value": self.finalizer}
            if finalizers
            else {"op": "add", "path": "/metadata/finalizers", "value": [self.finalizer]}
        )
        await self._kube.json_patch(ObjectRef.of(raw), [operation])


def unexpected_error(error: BaseException) -> str:
    """An exception no stage expected, for a status: its type and message on one line,
    at most a few hundred characters."""
    text = re.sub(r"\s+", " ", str(error)).strip()
    if len(text) > _UNEXPECTED_MESSAGE_CHARACTERS:
        text = text[: _UNEXPECTED_MESSAGE_CHARACTERS - 3] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _not_older(seen: str, version: str) -> bool:
    """Whether resourceVersion ``seen`` is ``version`` or later. Kubernetes calls them
    opaque; the API server writes etcd's revision, a number that only grows, and that is
    compared when both are numbers."""
    if seen.isdigit() and version.isdigit():
        return int(seen) >= int(version)
    return seen == version


def _flux_status(status: ApiModel) -> ObjectStatus:
    """``status`` as the status every Flux kind has, which the shell's own vocabulary
    writes; a kind whose status is not one overrides every method that calls this."""
    assert isinstance(status, ObjectStatus), f"{type(status).__name__} is not a Flux status"
    return status


def _dump(status: ApiModel) -> dict[str, Any]:
    return status.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)


def ready_event(before: KubeObject, after: KubeObject) -> Event | None:
    """The event a status change deserves: Ready changed status or message (a new result,
    a new failure, a recovery), or none. A failure is told once, not at every retry."""
    now = _ready_condition(after)
    if now is None:
        return None
    was = _ready_condition(before)
    if was is not None and (was["status"], was["message"]) == (now["status"], now["message"]):
        return None
    kind: EventType = "Normal" if now["status"] == "True" else "Warning"
    return (kind, str(now["reason"]), str(now["message"]))


def _ready_condition(status: KubeObject) -> KubeObject | None:
    conditions = status.get("conditions") or []
    return next((c for c in conditions if c.get("type") == ConditionType.READY), None)
