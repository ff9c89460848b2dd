"""The vocabulary of health: ordered states, results, object names, and "worst of".

:class:`HealthState` is ordered so that "worst of" is ``max``: a set of objects is
as healthy as its least healthy member, which is what :func:`aggregate` reports.
:class:`Health` pairs a state with one line that says why; the kind modules
write the why, and :func:`lockstep.health.evaluate` prefixes the object it is
about (``Deployment/apps/web: 1 of 3 replicas available``).

Used by every module of :mod:`lockstep.health`, and by the Kustomization
reconciler's wait step through the package's re-exports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, TypeAlias

KubeObject: TypeAlias = Mapping[str, Any]
"""An object as the API server returns it (a decoded JSON document)."""

GroupKind: TypeAlias = tuple[str, str]
"""An API group (empty for the core group) and a kind: what health rules are keyed by."""

HealthCheck: TypeAlias = Callable[[KubeObject], "Health"]
"""Computes one object's health; the message need not name the object."""


class HealthState(IntEnum):
    """kstatus' states that matter when waiting, from best to worst."""

    CURRENT = 0
    """Fully reconciled: the object is what its spec asks for."""
    IN_PROGRESS = 1
    """Still converging; waiting longer may help."""
    FAILED = 2
    """Will not converge without a change; waiting longer does not help."""


@dataclass(frozen=True)
class Health:
    """The health of one object (or of a set, from :func:`~lockstep.health.aggregate`)."""

    state: HealthState
    message: str

    @property
    def healthy(self) -> bool:
        return self.state is HealthState.CURRENT


def current(message: str) -> Health:
    return Health(HealthState.CURRENT, message)


def in_progress(message: str) -> Health:
    return Health(HealthState.IN_PROGRESS, message)


def failed(message: str) -> Health:
    return Health(HealthState.FAILED, message)


def group_of(api_version: str) -> str:
    """``apps`` for ``apps/v1``, the empty core group for ``v1``."""
    return api_version.rpartition("/")[0]


def group_kind(obj: KubeObject) -> GroupKind:
    """The group and kind of ``obj``; the version does not change how health is read."""
    return group_of(str(obj.get("apiVersion", ""))), str(obj.get("kind", ""))


def object_id(obj: KubeObject) -> str:
    """``Kind/namespace/name``, or ``Kind/name`` for a cluster-scoped object."""
    metadata = obj.get("metadata") or {}
    namespace = metadata.get("namespace")
    name = metadata.get("name", "?")
    kind = obj.get("kind", "?")
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"


MAX_LISTED = 5
"""How many unhealthy objects :func:`aggregate` names before summing up the rest."""
MAX_MESSAGE = 300
"""How long one object's message may be inside an aggregate message."""


def _shorten(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"


def aggregate(results: Iterable[Health]) -> Health:
    """The worst state of ``results``, with a message naming the objects that are not current.

    Failed objects are listed before those in progress; the message stays one
    bounded line however many objects there are.
    """
    results = list(results)
    if not results:
        return current("no objects to check")
    worst = max(result.state for result in results)
    if worst is HealthState.CURRENT:
        noun = "object is" if len(results) == 1 else "objects are"
        return current(f"{len(results)} {noun} healthy")
    unhealthy = sorted(
        (result for result in results if not result.healthy),
        key=lambda result: result.state,
        reverse=True,
    )
    listed = "; ".join(_shorten(result.message) for result in unhealthy[:MAX_LISTED])
    if len(unhealthy) > MAX_LISTED:
        listed += f"; and {len(unhealthy) - MAX_LISTED} more"
    return Health(worst, f"{len(unhealthy)} of {len(results)} objects not ready: {listed}")
