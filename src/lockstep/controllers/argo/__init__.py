"""Argo CD's Application and AppProject: the reconciler, the sync plan of waves and hooks, and
the AppProject rules."""

from lockstep.controllers.argo.application import (
    ARGO_API,
    CONTROL_PLANE_NAMESPACE,
    RESYNC_SECONDS,
    ApplicationReconciler,
    application_changed,
)

__all__ = [
    "ARGO_API",
    "CONTROL_PLANE_NAMESPACE",
    "RESYNC_SECONDS",
    "ApplicationReconciler",
    "application_changed",
]
