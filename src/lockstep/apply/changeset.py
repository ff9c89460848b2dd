"""Results as data: what the engine did to each object, and the error that stops it.

:func:`lockstep.apply.apply_all` and :func:`lockstep.apply.prune` return a
:class:`ChangeSet`; controllers turn it into status, events and log lines. The
engine itself never logs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from lockstep.apply.inventory import InventoryEntry
from lockstep.kube import KubeObject, ObjectRef


class Action(StrEnum):
    CREATED = "created"
    CONFIGURED = "configured"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class ChangeSetEntry:
    """One object and what was done to it."""

    ref: ObjectRef
    action: Action

    @property
    def subject(self) -> str:
        """``Kind/namespace/name`` (``Kind/name`` for cluster-scoped objects)."""
        return str(self.ref)

    @property
    def inventory_entry(self) -> InventoryEntry:
        return InventoryEntry.of(self.ref)

    @property
    def object_id(self) -> str:
        return self.inventory_entry.id

    def __str__(self) -> str:
        return f"{self.subject} {self.action}"


@dataclass(frozen=True)
class ChangeSetFailure:
    """An object the engine could not handle; the message says what failed and why."""

    ref: ObjectRef
    message: str

    @property
    def subject(self) -> str:
        return str(self.ref)

    def __str__(self) -> str:
        return f"{self.subject} {self.message}"


@dataclass
class ChangeSet:
    """Entries in the order the objects were handled, and the objects that failed.

    ``observed`` holds each applied object as the API server answered its write, or as
    it was read when nothing was to be written: the freshest copy there is, from which
    a health check can start without reading it again.
    """

    entries: list[ChangeSetEntry] = field(default_factory=list)
    failures: list[ChangeSetFailure] = field(default_factory=list)
    observed: dict[ObjectRef, KubeObject] = field(default_factory=dict)

    def add(self, ref: ObjectRef, action: Action) -> None:
        self.entries.append(ChangeSetEntry(ref, action))

    def fail(self, ref: ObjectRef, message: str) -> None:
        self.failures.append(ChangeSetFailure(ref, message))

    def with_action(self, action: Action) -> list[ChangeSetEntry]:
        return [entry for entry in self.entries if entry.action is action]

    def summary(self) -> str:
        """One line, e.g. ``Deployment/apps/web created, Service/apps/web unchanged``."""
        return ", ".join(str(item) for item in [*self.entries, *self.failures])

    def __str__(self) -> str:
        return self.summary()


class ApplyError(Exception):
    """Applying a set stopped; ``changeset`` holds what was done before it stopped.

    The message names every object at fault and the API server's reason, e.g.
    ``Deployment/apps/web dry-run failed: Deployment.apps "web" is invalid: ...``.
    """

    def __init__(self, message: str, changeset: ChangeSet) -> None:
        super().__init__(message)
        self.changeset = changeset
