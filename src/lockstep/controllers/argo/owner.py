"""An Argo CD Application as an owner of the apply engine: its objects marked with Argo
CD's tracking id, applied under Argo CD's field manager, and the per-object sync
options read as the engine's object policy.

- marking: :func:`lockstep.controllers.argo.tracking.mark_tracked` (the annotation
  ``argocd.argoproj.io/tracking-id``), and an object is the Application's while its
  tracking id names the Application and the object itself
  (:func:`~lockstep.controllers.argo.tracking.belongs_to`), so a copy of an annotation
  on another object claims nothing;
- the field manager ``argocd-controller``, Argo CD's own: an object Argo CD applied
  server-side is taken over without a conflict;
- policy from ``argocd.argoproj.io/sync-options`` over the Application's options:
  ``Prune=false`` keeps an object when it leaves the sources; ``Replace=true`` and
  ``Force=true`` delete and create again an object whose change the API server refuses.

:func:`application_marks` tells the drift watcher whose an object is, from the same
tracking id.

Called by the Application reconciler and the controller manager.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from lockstep.apply import ObjectPolicy, Owner
from lockstep.controllers.argo.syncplan import Removal, SyncOptions, object_sync_options
from lockstep.controllers.argo.tracking import belongs_to, mark_tracked, tracked_by
from lockstep.controllers.drift import OwnerMarks
from lockstep.kube import KubeObject
from lockstep.runtime.informer import ObjectKey

ARGO_FIELD_MANAGER = "argocd-controller"
RECREATE_HINT = (
    "annotate the object argocd.argoproj.io/sync-options: Replace=true (or Force=true) "
    "to have it recreated"
)


@dataclass(frozen=True)
class TrackingMark:
    """The tracking id of the Application ``app``; objects without a namespace are
    tracked in the destination's."""

    app: str
    destination_namespace: str

    def mark(self, obj: Mapping[str, Any]) -> KubeObject:
        return mark_tracked(obj, self.app, destination_namespace=self.destination_namespace)

    def marks(self, live: Mapping[str, Any]) -> bool:
        return belongs_to(live, self.app)


@dataclass(frozen=True)
class SyncOptionsPolicy:
    """The engine's policy of an object from its sync options over the app's."""

    options: SyncOptions

    def policy(self, obj: Mapping[str, Any]) -> ObjectPolicy:
        own = object_sync_options(self.options, obj)
        return ObjectPolicy(prune=own.prune != Removal.DISABLED, recreate=own.replace or own.force)


def application_owner(app: str, destination_namespace: str, options: SyncOptions) -> Owner:
    """The owner of the objects of the Application whose tracking name is ``app``."""
    return Owner(
        field_manager=ARGO_FIELD_MANAGER,
        marking=TrackingMark(app, destination_namespace),
        annotations=SyncOptionsPolicy(options),
        recreate_hint=RECREATE_HINT,
    )


def application_marks(control_plane_namespace: str) -> OwnerMarks:
    """How the drift watcher knows an Application's objects: by their tracking id."""
    return OwnerMarks(
        "", "", ARGO_FIELD_MANAGER, owner_from=partial(tracked_application, control_plane_namespace)
    )


def tracked_application(control_plane_namespace: str, obj: Mapping[str, Any]) -> ObjectKey | None:
    """(namespace, name) of the Application whose tracking id ``obj`` carries, when the id
    is about ``obj`` itself: ``<namespace>_<name>``, or a bare name in Argo CD's namespace
    (neither holds a ``_``, which names and namespaces cannot)."""
    tracked = tracked_by(obj)
    if tracked is None or not tracked.refers_to_object:
        return None
    namespace, separator, name = tracked.app.partition("_")
    return (namespace, name) if separator else (control_plane_namespace, tracked.app)
