"""Which Argo CD Application an object belongs to: the tracking id, the instance label, and
the three tracking methods, as Argo CD 3.x reads and writes them (``util/argo/
resource_tracking.go`` and the controller's ``isSelfReferencedObj``).

- The tracking id is ``<app>:<group>/<kind>:<namespace>/<name>``, the core group empty
  (``guestbook:/ConfigMap:prod/settings``). ``<app>`` is the Application's name, or
  ``<namespace>_<name>`` when the Application lives outside the control-plane namespace
  (:func:`app_instance_name`). An object that names no namespace carries the
  Application's destination namespace instead: Argo CD writes that for cluster-scoped
  objects too, and accepts any namespace in the id of an object that has none.
- ``annotation`` (the default) writes the id under ``argocd.argoproj.io/tracking-id``;
  ``label`` writes the instance name under ``app.kubernetes.io/instance``;
  ``annotation+label`` writes both, the label cut to 63 characters and then to its last
  letter or digit, and reads only the annotation.
- An id claims an object only when its group, kind, name and namespace are the object's,
  so an annotation copied onto another object (by a chart, or by hand) claims nothing.

Argo CD's optional installation id (``argocd.argoproj.io/installation-id``) is not
modelled: lockstep runs one installation per cluster.

- An object the app would apply whose id names another app, about that object, is
  shared (:func:`shared_with`): Argo CD warns of it, and refuses to sync it with
  ``FailOnSharedResource=true``.

Pure: no I/O. Called by the Application reconciler (:mod:`lockstep.controllers.argo`), to
mark what it applies, to tell its own objects from others' when it prunes, and to find
the objects it shares with another Application.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from lockstep.kube import KubeObject

TRACKING_ANNOTATION = "argocd.argoproj.io/tracking-id"
INSTANCE_LABEL = "app.kubernetes.io/instance"
LABEL_MAX_LENGTH = 63

_ENDS_WELL = re.compile(r"[A-Za-z0-9]$")


class TrackingMethod(StrEnum):
    """argocd-cm's ``application.resourceTrackingMethod``."""

    ANNOTATION = "annotation"
    LABEL = "label"
    ANNOTATION_AND_LABEL = "annotation+label"


DEFAULT_TRACKING_METHOD = TrackingMethod.ANNOTATION


class TrackingError(ValueError):
    """A tracking id that cannot be read, or an app name no label can hold; one line."""


def app_instance_name(name: str, namespace: str, control_plane_namespace: str) -> str:
    """The ``<app>`` of tracking: the name, prefixed ``<namespace>_`` for an Application
    outside the control-plane namespace."""
    if not namespace or namespace == control_plane_namespace:
        return name
    return f"{namespace}_{name}"


@dataclass(frozen=True)
class TrackingId:
    """The parts of ``<app>:<group>/<kind>:<namespace>/<name>``."""

    app: str
    group: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.app}:{self.group}/{self.kind}:{self.namespace}/{self.name}"

    @classmethod
    def parse(cls, text: str) -> TrackingId:
        """Read an id as Argo CD does: three ``:`` parts at most (so the name may hold
        colons), the middle and last split on ``/`` into exactly two."""
        parts = text.split(":", 2)
        kind_part = parts[1].split("/") if len(parts) == 3 else []
        name_part = parts[2].split("/") if len(parts) == 3 else []
        if len(kind_part) != 2 or len(name_part) != 2:
            raise TrackingError(
                f"tracking id {text!r} is not <application>:<group>/<kind>:<namespace>/<name>"
            )
        return cls(parts[0], kind_part[0], kind_part[1], name_part[0], name_part[1])

    @classmethod
    def of(cls, obj: Mapping[str, Any], app: str, destination_namespace: str) -> TrackingId:
        """The id ``app`` gives ``obj``; an object without a namespace (cluster-scoped, or
        not yet defaulted) gets ``destination_namespace``, as Argo CD writes it."""
        meta = obj.get("metadata") or {}
        return cls(
            app=app,
            group=api_group(obj),
            kind=str(obj.get("kind", "")),
            namespace=str(meta.get("namespace") or destination_namespace),
            name=str(meta.get("name", "")),
        )

    def refers_to(self, obj: Mapping[str, Any]) -> bool:
        """Whether this id names ``obj``: same group, kind and name, and same namespace
        unless ``obj`` has none (a cluster-scoped object's id carries the destination's)."""
        meta = obj.get("metadata") or {}
        namespace = str(meta.get("namespace") or "")
        return (
            namespace in ("", self.namespace)
            and str(meta.get("name", "")) == self.name
            and api_group(obj) == self.group
            and str(obj.get("kind", "")) == self.kind
        )


@dataclass(frozen=True)
class Tracked:
    """Which app an object's marks name, and whether they really are about that object
    (``False`` for a tracking annotation copied from another object)."""

    app: str
    refers_to_object: bool


def api_group(obj: Mapping[str, Any]) -> str:
    """The API group of ``obj`` (empty for the core group)."""
    api_version = str(obj.get("apiVersion", ""))
    return api_version.rpartition("/")[0]


def instance_label_value(app: str) -> str:
    """The instance label written with ``annotation+label``: ``app`` cut to 63 characters,
    then to its last letter or digit (a label value must end with one)."""
    value = app[:LABEL_MAX_LENGTH]
    while not _ENDS_WELL.search(value):
        if len(value) <= 1:
            raise TrackingError(
                f"cannot make a label value of application name {app!r}: it has no letter or "
                "digit to end on"
            )
        value = value[:-1]
    return value


def mark_tracked(
    obj: Mapping[str, Any],
    app: str,
    *,
    destination_namespace: str,
    method: TrackingMethod = DEFAULT_TRACKING_METHOD,
) -> KubeObject:
    """A copy of ``obj`` marked as ``app``'s by ``method``. With ``label`` the app name is
    the label as it is (Argo CD does not cut it there), so a name over 63 characters is
    refused here rather than by the API server."""
    marked = dict(obj)
    meta = dict(marked.get("metadata") or {})
    marked["metadata"] = meta
    if method != TrackingMethod.LABEL:
        tracking_id = TrackingId.of(obj, app, destination_namespace)
        meta["annotations"] = {
            **(meta.get("annotations") or {}),
            TRACKING_ANNOTATION: str(tracking_id),
        }
    if method == TrackingMethod.ANNOTATION:
        return marked
    if method == TrackingMethod.LABEL and len(app) > LABEL_MAX_LENGTH:
        raise TrackingError(
            f"application name {app!r} is longer than {LABEL_MAX_LENGTH} characters, which the "
            "label tracking method cannot hold; use the annotation tracking method"
        )
    label = app if method == TrackingMethod.LABEL else instance_label_value(app)
    meta["labels"] = {**(meta.get("labels") or {}), INSTANCE_LABEL: label}
    return marked


def tracked_by(
    obj: Mapping[str, Any], method: TrackingMethod = DEFAULT_TRACKING_METHOD
) -> Tracked | None:
    """Which app ``obj`` belongs to by ``method``, or ``None`` when its marks name none
    (an unreadable tracking id names none). The label says nothing about which object it
    is on, so by ``label`` every mark refers to its object."""
    meta = obj.get("metadata") or {}
    if method == TrackingMethod.LABEL:
        label = str((meta.get("labels") or {}).get(INSTANCE_LABEL) or "")
        return Tracked(label, refers_to_object=True) if label else None
    text = (meta.get("annotations") or {}).get(TRACKING_ANNOTATION)
    if not text:
        return None
    try:
        tracking_id = TrackingId.parse(str(text))
    except TrackingError:
        return None
    return Tracked(tracking_id.app, refers_to_object=tracking_id.refers_to(obj))


def belongs_to(
    obj: Mapping[str, Any], app: str, method: TrackingMethod = DEFAULT_TRACKING_METHOD
) -> bool:
    """Whether ``obj`` is ``app``'s: its marks name ``app`` and are about ``obj`` itself."""
    tracked = tracked_by(obj, method)
    return tracked is not None and tracked.app == app and tracked.refers_to_object


def shared_with(
    obj: Mapping[str, Any], app: str, method: TrackingMethod = DEFAULT_TRACKING_METHOD
) -> str | None:
    """The other app whose marks ``obj`` carries, about ``obj`` itself: the object is
    shared when ``app`` would apply it too (Argo CD's SharedResourceWarning). None when
    its marks name ``app``, name no app, or are a copy from another object."""
    tracked = tracked_by(obj, method)
    if tracked is None or tracked.app == app or not tracked.refers_to_object:
        return None
    return tracked.app


def qualified_app_name(app: str) -> str:
    """How Argo CD names the app of tracking name ``app`` in messages: ``<namespace>/<name>``
    for one outside the control-plane namespace, else its name."""
    return app.replace("_", "/", 1)
