"""The Helm family: HelmRelease (:mod:`.release`), installed and upgraded by lockstep itself (charts
rendered by Helm's own engine, objects applied by lockstep's apply engine), with its
values composed as Flux's helm-controller composes them (:mod:`.values`) and each
revision stored in Helm's own release format (:mod:`.storage`), so the real ``helm``
works on lockstep's releases and lockstep adopts those helm made.

Wired by :mod:`lockstep.controllers.manager`.
"""

from lockstep.controllers.helm.drift_detection import drift_ignored_pointers
from lockstep.controllers.helm.release import HelmReleaseReconciler

__all__ = ["HelmReleaseReconciler", "drift_ignored_pointers"]
