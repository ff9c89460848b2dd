"""The source family: GitRepository, OCIRepository, HelmRepository and HelmChart
reconcilers, which fetch, verify and pack sources into artifacts on the shared source
shell (:mod:`.base`).

Wired by :mod:`lockstep.controllers.manager`.
"""

from lockstep.controllers.source.gitrepository import GitRepositoryReconciler
from lockstep.controllers.source.helmchart import HelmChartReconciler
from lockstep.controllers.source.helmrepository import HelmRepositoryReconciler
from lockstep.controllers.source.ocirepository import OCIRepositoryReconciler

__all__ = [
    "GitRepositoryReconciler",
    "HelmChartReconciler",
    "HelmRepositoryReconciler",
    "OCIRepositoryReconciler",
]
