"""Status of the image kinds: Ready as Flux's image-reflector-controller reports it,
written only when it changed, with an event when its meaning changed.

Shared by :mod:`lockstep.controllers.imagerepository` and
:mod:`lockstep.controllers.imagepolicy`. A stage that fails raises
:class:`ImageFailure`; the reconciler turns it into Ready=False (with Stalled when
only a spec change can help, Reconciling while retried) through :func:`mark_image_failed`,
and success into Ready=True through :func:`mark_image_ready`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import ValidationError

from lockstep.api.conditions import mark_failed, remove_condition, set_condition
from lockstep.api.meta import (
    RECONCILE_REQUEST_ANNOTATION,
    ApiObject,
    ConditionType,
    ObjectStatus,
)
from lockstep.kube import KubeClient, KubeObject
from lockstep.runtime.events import EventRecorder, EventType

SUCCEEDED = "Succeeded"
"""Reason of Ready=True, as Flux's image controllers report it."""

DEPENDENCY_NOT_READY = "DependencyNotReady"
"""Reason of Ready=False while the ImageRepository of a policy has no tags to offer."""

AUTHENTICATION_FAILED = "AuthenticationFailed"
"""Reason of Ready=False when the registry credentials are missing, malformed or refused."""

READ_OPERATION_FAILED = "ReadOperationFailed"
"""Reason of Ready=False when the registry could not be read: unreachable, busy, failing."""

Status = TypeVar("Status", bound=ObjectStatus)


class ImageFailure(Exception):
    """A stage failed: the Ready reason, the one-line message, and whether retrying helps."""

    def __init__(self, reason: str, message: str, *, terminal: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.terminal = terminal
        """Only a change of the spec can fix it: the object is marked Stalled."""


def invalid_object_message(kind: str, obj: KubeObject, error: ValidationError) -> str:
    """The event message for an object whose spec does not parse."""
    problem = error.errors()[0]
    where = ".".join(str(part) for part in problem["loc"])
    metadata = obj.get("metadata") or {}
    return (
        f"{kind} {metadata.get('namespace')}/{metadata.get('name')} is invalid at {where}: "
        f"{problem['msg']}; correct it"
    )


def prepared_status(obj: ApiObject, status: Status) -> Status:
    """`status` for this run: this generation, and the reconcile request answered."""
    status.observed_generation = obj.metadata.generation
    requested_at = obj.metadata.annotations.get(RECONCILE_REQUEST_ANNOTATION)
    if requested_at:
        status.last_handled_reconcile_at = requested_at
    return status


def mark_image_ready(obj: ApiObject, status: Status, message: str) -> Status:
    """Ready=True with `message`; no Reconciling, no Stalled."""
    conditions = remove_condition(status.conditions, ConditionType.RECONCILING)
    conditions = remove_condition(conditions, ConditionType.STALLED)
    status.conditions = set_condition(
        conditions,
        ConditionType.READY,
        "True",
        SUCCEEDED,
        message,
        generation=obj.metadata.generation,
        now=datetime.now(UTC),
    )
    return status


def mark_image_failed(obj: ApiObject, status: Status, failure: ImageFailure) -> Status:
    """Ready=False with the failure's reason and message; Stalled or Reconciling."""
    status.conditions = mark_failed(
        status.conditions,
        failure.reason,
        str(failure),
        terminal=failure.terminal,
        generation=obj.metadata.generation,
        now=datetime.now(UTC),
    )
    return status


class StatusWriter:
    """Writes a status when it differs from the stored one, with an event on transitions."""

    def __init__(self, kube: KubeClient) -> None:
        self._kube = kube
        self._events = EventRecorder(kube)

    async def record_invalid(self, obj: KubeObject, message: str) -> None:
        await self._events.record(obj, "Warning", "InvalidSpec", message)

    async def write(self, obj: KubeObject, status: ObjectStatus) -> bool:
        """Write `status` unless the object has it already; whether it was written."""
        desired = status.model_dump(
            mode="json", by_alias=True, exclude_none=True, exclude_defaults=True
        )
        previous = obj.get("status") or {}
        if desired == previous:
            return False
        await self._kube.apply_status({**obj, "status": desired})
        event = ready_event(previous, desired)
        if event is not None:
            await self._events.record(obj, *event)
        return True


def ready_event(before: KubeObject, after: KubeObject) -> tuple[EventType, str, str] | None:
    """The event a status change deserves: a new result, a failure, a recovery, or none.

    A Ready message that changes while Ready stays True is news (new tags, another
    image elected); a failure is told once, not at every retry.
    """
    now = _ready_condition(after)
    if now is None:
        return None
    was = _ready_condition(before)
    if was is not None and (was["status"], was["message"]) == (now["status"], now["message"]):
        return None
    kind: EventType = "Normal" if now["status"] == "True" else "Warning"
    return (kind, str(now["reason"]), str(now["message"]))


def _ready_condition(status: KubeObject) -> dict[str, Any] | None:
    conditions = status.get("conditions") or []
    return next((c for c in conditions if c.get("type") == ConditionType.READY), None)
