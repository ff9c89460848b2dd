"""Who owns an applied object, and what the object's annotations ask of the engine.

The engine serves any owner (a Flux Kustomization today; a HelmRelease or an
Argo CD Application later) through one value, :class:`Owner`:

- ``field_manager``: the server-side apply manager its writes are recorded under;
- ``marking``: how it marks the objects it applies and recognises them in the
  cluster; prune deletes only objects that still carry the mark;
- ``annotations``: how it reads the per-object annotations it honours, in the
  engine's own words (:class:`ObjectPolicy`: leave alone, apply mode, prune,
  recreate);
- ``recreate_hint``: what a user does to have an object recreated when an
  immutable field changes, for the error that says so.

The Flux toolkit marks objects with two labels, ``<group>/name`` and
``<group>/namespace`` (:class:`OwnerLabels`), and reads annotations of the same
group (:class:`GroupAnnotations`). An owner that marks objects another way (a
tracking annotation whose value names the object) or reads one list-valued
annotation (sync options) brings its own implementation of :class:`Marking` or
:class:`AnnotationPolicy`; the engine calls nothing else. The owner values
themselves are built in :mod:`lockstep.apply.owners`.

Called by :mod:`lockstep.apply.plan`, :mod:`lockstep.apply.apply` and
:mod:`lockstep.apply.prune`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from lockstep.kube import KubeObject

DISABLED = "disabled"
ENABLED = "enabled"


class ApplyMode(StrEnum):
    """How server-side apply treats one object (the values of Flux's ``ssa`` annotation)."""

    OVERRIDE = "Override"
    """Apply, and take over the fields kubectl set (:mod:`lockstep.apply.takeover`)."""
    MERGE = "Merge"
    """Apply, and keep the fields other tools set."""
    IF_NOT_PRESENT = "IfNotPresent"
    """Create when absent; never change it once it exists."""
    IGNORE = "Ignore"
    """Never apply."""


@dataclass(frozen=True)
class ObjectPolicy:
    """What one object's annotations ask of the engine; the defaults ask nothing special.

    ``reconcile``: false leaves the object as it is in the cluster (skipped).
    ``mode``: how it is applied (:class:`ApplyMode`).
    ``prune``: false keeps it in the cluster once the set no longer declares it.
    ``recreate``: delete and create it again when a change to an immutable field is refused.
    """

    reconcile: bool = True
    mode: ApplyMode = ApplyMode.OVERRIDE
    prune: bool = True
    recreate: bool = False


class Marking(Protocol):
    """How an owner marks the objects it applies, and recognises them in the cluster."""

    def mark(self, obj: Mapping[str, Any]) -> KubeObject:
        """A copy of ``obj`` carrying the mark; the caller's object is left alone."""
        ...

    def marks(self, live: Mapping[str, Any]) -> bool:
        """Whether ``live`` (as it is in the cluster) still carries the mark."""
        ...


class AnnotationPolicy(Protocol):
    """How an owner reads the per-object annotations it honours."""

    def policy(self, obj: Mapping[str, Any]) -> ObjectPolicy: ...


@dataclass(frozen=True)
class OwnerLabels:
    """The labels ``<group>/name`` and ``<group>/namespace`` naming the owning object."""

    group: str
    name: str
    namespace: str

    def labels(self) -> dict[str, str]:
        return {f"{self.group}/name": self.name, f"{self.group}/namespace": self.namespace}

    def mark(self, obj: Mapping[str, Any]) -> KubeObject:
        labelled: KubeObject = copy.deepcopy(dict(obj))
        metadata = labelled.setdefault("metadata", {})
        metadata["labels"] = {**(metadata.get("labels") or {}), **self.labels()}
        return labelled

    def marks(self, live: Mapping[str, Any]) -> bool:
        labels = metadata_map(live, "labels")
        return all(labels.get(key) == value for key, value in self.labels().items())


@dataclass(frozen=True)
class GroupAnnotations:
    """The annotations ``<group>/reconcile: disabled``, ``<group>/ssa`` (an
    :class:`ApplyMode` value), ``<group>/prune: disabled`` and ``<group>/force: enabled``.

    Any other value, or none, leaves the engine's default.
    """

    group: str

    def key(self, name: str) -> str:
        return f"{self.group}/{name}"

    def policy(self, obj: Mapping[str, Any]) -> ObjectPolicy:
        annotations = metadata_map(obj, "annotations")
        mode = annotations.get(self.key("ssa"), "")
        return ObjectPolicy(
            reconcile=annotations.get(self.key("reconcile")) != DISABLED,
            mode=ApplyMode(mode) if mode in set(ApplyMode) else ApplyMode.OVERRIDE,
            prune=annotations.get(self.key("prune")) != DISABLED,
            recreate=annotations.get(self.key("force")) == ENABLED,
        )


@dataclass(frozen=True)
class Owner:
    """The owner of a set of applied objects, as the engine sees it (see the module docstring)."""

    field_manager: str
    marking: Marking
    annotations: AnnotationPolicy
    recreate_hint: str

    def mark(self, obj: Mapping[str, Any]) -> KubeObject:
        """A copy of ``obj`` carrying this owner's mark."""
        return self.marking.mark(obj)

    def owns(self, live: Mapping[str, Any]) -> bool:
        """Whether ``live`` still carries this owner's mark (someone may have adopted it)."""
        return self.marking.marks(live)

    def policy(self, obj: Mapping[str, Any]) -> ObjectPolicy:
        """What ``obj``'s annotations ask of the engine, as this owner reads them."""
        return self.annotations.policy(obj)


def metadata_map(obj: Mapping[str, Any], field: str) -> dict[str, str]:
    """``metadata.labels`` or ``metadata.annotations`` of ``obj``; empty when absent."""
    values: dict[str, str] = (obj.get("metadata") or {}).get(field) or {}
    return values
