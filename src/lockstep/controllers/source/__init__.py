"""The source family: GitRepository and OCIRepository reconcilers, which fetch, verify
and pack sources into artifacts on the shared source shell (:mod:`.base`).

Wired by :mod:`lockstep.controllers.manager`.
"""

from lockstep.controllers.source.gitrepository import GitRepositoryReconciler
from lockstep.controllers.source.ocirepository import OCIRepositoryReconciler

__all__ = ["GitRepositoryReconciler", "OCIRepositoryReconciler"]
