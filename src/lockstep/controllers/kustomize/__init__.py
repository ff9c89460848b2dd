"""The kustomize family: the Kustomization reconciler (:mod:`.kustomization`), its
stages (inputs, build, dependencies, health, history), the memory of what it applied
(:mod:`.cache`) and the drift watches that wake it (:mod:`.drift`).

Wired by :mod:`lockstep.controllers.manager`.
"""

from lockstep.controllers.kustomize.cache import KustomizationMemory
from lockstep.controllers.kustomize.drift import DriftWatcher
from lockstep.controllers.kustomize.kustomization import (
    KustomizationOptions,
    KustomizationReconciler,
    ignored_pointers_of,
)

__all__ = [
    "DriftWatcher",
    "KustomizationMemory",
    "KustomizationOptions",
    "KustomizationReconciler",
    "ignored_pointers_of",
]
