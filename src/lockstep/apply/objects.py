"""Who owns an applied object, and what its Flux annotations ask of the engine.

Every object lockstep applies carries the owner labels of the Kustomization that
declared it; prune deletes only objects that still carry them. The annotations
``kustomize.toolkit.fluxcd.io/reconcile``, ``/ssa`` and ``/prune`` let a user
opt single objects out of parts of the engine, and ``/force`` opts one in to
being recreated when an immutable field changes.

Called by :mod:`lockstep.apply.apply` and :mod:`lockstep.apply.prune`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lockstep.kube import KubeObject

FLUX_PREFIX = "kustomize.toolkit.fluxcd.io"
OWNER_NAME_LABEL = f"{FLUX_PREFIX}/name"
OWNER_NAMESPACE_LABEL = f"{FLUX_PREFIX}/namespace"
RECONCILE_ANNOTATION = f"{FLUX_PREFIX}/reconcile"
SSA_ANNOTATION = f"{FLUX_PREFIX}/ssa"
PRUNE_ANNOTATION = f"{FLUX_PREFIX}/prune"
FORCE_ANNOTATION = f"{FLUX_PREFIX}/force"

DISABLED = "disabled"
ENABLED = "enabled"
SSA_IGNORE = "Ignore"
SSA_IF_NOT_PRESENT = "IfNotPresent"
SSA_MERGE = "Merge"


@dataclass(frozen=True)
class Owner:
    """The Kustomization (name and namespace) that declares a set of objects."""

    name: str
    namespace: str

    def labels(self) -> dict[str, str]:
        return {OWNER_NAME_LABEL: self.name, OWNER_NAMESPACE_LABEL: self.namespace}

    def label(self, obj: Mapping[str, Any]) -> KubeObject:
        """A copy of ``obj`` with the owner labels set; the caller's object is left alone."""
        labelled: KubeObject = copy.deepcopy(dict(obj))
        metadata = labelled.setdefault("metadata", {})
        metadata["labels"] = {**(metadata.get("labels") or {}), **self.labels()}
        return labelled

    def owns(self, obj: Mapping[str, Any]) -> bool:
        """Whether ``obj`` (as it is in the cluster) still carries this owner's labels."""
        labels = _metadata_map(obj, "labels")
        return all(labels.get(key) == value for key, value in self.labels().items())


def annotation(obj: Mapping[str, Any], key: str) -> str:
    return _metadata_map(obj, "annotations").get(key, "")


def is_reconcile_disabled(obj: Mapping[str, Any]) -> bool:
    return annotation(obj, RECONCILE_ANNOTATION) == DISABLED


def is_ssa_ignored(obj: Mapping[str, Any]) -> bool:
    return annotation(obj, SSA_ANNOTATION) == SSA_IGNORE


def is_if_not_present(obj: Mapping[str, Any]) -> bool:
    return annotation(obj, SSA_ANNOTATION) == SSA_IF_NOT_PRESENT


def is_ssa_merge(obj: Mapping[str, Any]) -> bool:
    """Whether fields other tools set are kept, not taken over (:mod:`lockstep.apply.takeover`)."""
    return annotation(obj, SSA_ANNOTATION) == SSA_MERGE


def is_prune_disabled(obj: Mapping[str, Any]) -> bool:
    return annotation(obj, PRUNE_ANNOTATION) == DISABLED


def is_force_enabled(obj: Mapping[str, Any]) -> bool:
    """Whether the object is to be recreated when a change to an immutable field is refused."""
    return annotation(obj, FORCE_ANNOTATION) == ENABLED


def _metadata_map(obj: Mapping[str, Any], field: str) -> dict[str, str]:
    values: dict[str, str] = (obj.get("metadata") or {}).get(field) or {}
    return values
