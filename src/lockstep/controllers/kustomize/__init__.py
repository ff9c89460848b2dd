"""The kustomize family: the Kustomization reconciler (:mod:`.kustomization`), its
stages (inputs, build, dependencies, health, history) and the memory of what it applied
(:mod:`.cache`); the drift watches that wake it are shared with the HelmRelease
reconciler (:mod:`lockstep.controllers.drift`).

Wired by :mod:`lockstep.controllers.manager`.
"""

from lockstep.controllers.kustomize.cache import KustomizationMemory
from lockstep.controllers.kustomize.kustomization import (
    KustomizationOptions,
    KustomizationReconciler,
    ignored_pointers_of,
)

__all__ = [
    "KustomizationMemory",
    "KustomizationOptions",
    "KustomizationReconciler",
    "ignored_pointers_of",
]
