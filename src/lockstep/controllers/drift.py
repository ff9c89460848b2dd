"""Watch-driven drift repair: a manual change to a field lockstep applied wakes its
Kustomization or HelmRelease within about a second, instead of at the next interval.

Every kind that appears in an inventory is watched (objects carrying the owner
label only; every object of the kind for an owner that marks its objects with an
annotation, Argo CD's tracking id). Whether a change is drift is read from ``metadata.managedFields``:
server-side apply records, per field manager, the exact fields each one set.
When someone else writes a field that lockstep's manager owned (``kubectl
scale``, ``kubectl edit``, another controller), the API server moves that field
to them, so lockstep's set shrinks. That is the signal:

- a field lockstep owned before the change and not after it → drift, and the
  owning Kustomization is enqueued;
- fields lockstep never set are not in its set, so an HPA that owns
  ``replicas`` while Git omits it is never fought over;
- lockstep's own writes change the timestamp of its managedFields entry, and a
  change that carries a new timestamp is ignored: our writes do not retrigger us;
- fields under a ``spec.ignore`` pointer of the owner are not drift;
- a managed object deleted by someone else is drift too; deletions lockstep
  makes itself (prune) are announced with :meth:`DriftWatcher.expect_deletion`.

Hand-written because no library reads managedFields this way: the field sets
(``fieldsV1``) are walked here, and a list item keyed ``k:{"name":"web"}`` is
turned into its index in the object so it can be compared with JSON pointers.

The watches also tell the Kustomization reconciler when it may trust that
nothing drifted: :meth:`DriftWatcher.watch_epoch` changes whenever a watch had
to list again (changes it then sees folded together, as a difference, may hide
drift) and is ``None`` while a kind is not watched yet; and
:meth:`DriftWatcher.cached` hands out the watched copy of an object, so the
health of objects nobody touched is read without asking the API server.

The watches of ConfigMaps and Secrets keep them without their values (``data``,
``binaryData``): drift is read from managedFields, which name the keys, not the
values, and a watch of every ConfigMap applied would otherwise hold a second copy of
every byte applied (and every Secret's value). A health expression of a Kustomization
(``spec.healthCheckExprs``) that judges one of these kinds may read the values, so
:meth:`DriftWatcher.health_copies` gives none of their watched copies to it.

One watcher watches one cluster for one kind of owner, whose objects it tells by
their owner labels (:class:`OwnerMarks`: :data:`KUSTOMIZATION_MARKS`,
:data:`HELM_RELEASE_MARKS`) or tracking id (Argo CD's Applications, see
:func:`lockstep.controllers.argo.owner.application_marks`). The controller manager makes the local cluster's; the
reconcilers have one made with :meth:`DriftWatcher.for_cluster` for each remote
cluster they apply to (see :mod:`lockstep.runtime.clusters`), whose objects name
their owner on the local cluster in their owner labels. A reconciler calls
:meth:`DriftWatcher.track` with every inventory (a release's objects) before it
applies it.

An owner may have its objects watched for their health alone: a HelmRelease whose
drift detection is disabled (Flux's default) still waits for the health of what it
applied, and judges the watched copies as a Kustomization does. It calls
:meth:`DriftWatcher.track` with ``drift=False``: the kinds are watched all the same,
but no change of its objects is drift and none enqueues it, even one its status
would list; a later :meth:`~DriftWatcher.track` with drift (detection turned on)
makes them drift again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lockstep.apply import InventoryEntry
from lockstep.apply.owners import (
    HELM_RELEASE_FIELD_MANAGER,
    HELM_RELEASE_NAME_LABEL,
    HELM_RELEASE_NAMESPACE_LABEL,
    KUSTOMIZATION_FIELD_MANAGER,
    KUSTOMIZATION_NAME_LABEL,
    KUSTOMIZATION_NAMESPACE_LABEL,
)
from lockstep.apply.owners import KUSTOMIZATION_FIELD_MANAGER as FIELD_MANAGER
from lockstep.apply.pointer import parse_pointer
from lockstep.health.result import GroupKind, group_of
from lockstep.kube import KubeClient, KubeObject, ObjectRef
from lockstep.runtime.informer import Change, Informer, Keep, ObjectKey

WatchEpoch = tuple[tuple[str, str, int], ...]
"""(apiVersion, kind, lists) of watched kinds: changes when one of them lists again."""

_log = logging.getLogger(__name__)

PAYLOAD_KINDS = frozenset({("v1", "ConfigMap"), ("v1", "Secret")})
"""(apiVersion, kind) of the objects watched without their values."""
PAYLOAD_FIELDS = frozenset({"data", "binaryData", "stringData"})

FieldPath = tuple[str, ...]
"""One leaf of a managedFields set, as its ``fieldsV1`` keys (``f:spec``, ``k:{...}``, ``i:0``)."""


def owned_fields(obj: Mapping[str, Any], manager: str = FIELD_MANAGER) -> set[FieldPath]:
    """The leaves of ``manager``'s applied field set of ``obj`` (not of its subresources)."""
    paths: set[FieldPath] = set()
    for entry in _applied_entries(obj, manager):
        _walk(entry.get("fieldsV1") or {}, (), paths)
    return paths


def applied_at(obj: Mapping[str, Any], manager: str = FIELD_MANAGER) -> str | None:
    """When ``manager`` last changed ``obj`` by an apply, as the API server recorded it."""
    return next((str(e.get("time")) for e in _applied_entries(obj, manager)), None)


def _applied_entries(obj: Mapping[str, Any], manager: str) -> list[Mapping[str, Any]]:
    return [
        entry
        for entry in (obj.get("metadata") or {}).get("managedFields") or []
        if entry.get("manager") == manager
        and entry.get("operation") == "Apply"
        and not entry.get("subresource")
    ]


def _walk(fields: Mapping[str, Any], prefix: FieldPath, into: set[FieldPath]) -> None:
    children = [key for key in fields if key != "."]
    if not children:
        into.add(prefix)
    for key in children:
        _walk(fields[key] or {}, (*prefix, key), into)


def pointer_of(path: FieldPath, obj: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The JSON pointer segments of ``path`` in ``obj``; ``None`` when an item is not there."""
    segments: list[str] = []
    node: Any = obj
    for key in path:
        kind, _, value = key.partition(":")
        if kind == "f":
            # A field of a value the watch did not keep (a ConfigMap's data) has no node.
            segments.append(value)
            node = node.get(value) if isinstance(node, Mapping) else None
            continue
        if not isinstance(node, list):
            return None
        index = _list_index(kind, value, node)
        if index is None:
            return None
        segments.append(str(index))
        node = node[index]
    return tuple(segments)


def _list_index(kind: str, value: str, items: Sequence[Any]) -> int | None:
    if kind == "i":
        return int(value)
    wanted = json.loads(value)
    for index, item in enumerate(items):
        if kind == "v" and item == wanted:
            return index
        if (
            kind == "k"
            and isinstance(item, Mapping)
            and all(item.get(name) == expected for name, expected in wanted.items())
        ):
            return index
    return None


def drifted_fields(
    previous: Mapping[str, Any], current: Mapping[str, Any], manager: str = FIELD_MANAGER
) -> list[str]:
    """The JSON pointers of fields ``manager`` owned in ``previous`` and lost in ``current``.

    Empty when ``manager``'s entry is unchanged (the common case: a status update),
    and when ``manager`` itself wrote ``current`` (its apply time changed).
    """
    before, after = _applied_entries(previous, manager), _applied_entries(current, manager)
    if before == after or applied_at(previous, manager) != applied_at(current, manager):
        return []
    drifted = []
    for path in sorted(owned_fields(previous, manager) - owned_fields(current, manager)):
        segments = pointer_of(path, previous)
        if segments is not None:
            drifted.append(
                "/" + "/".join(s.replace("~", "~0").replace("/", "~1") for s in segments)
            )
    return drifted


def without_payload(obj: KubeObject) -> KubeObject:
    """``obj`` without its values, as the watch of a kind of :data:`PAYLOAD_KINDS` keeps it."""
    return {key: value for key, value in obj.items() if key not in PAYLOAD_FIELDS}


def not_ignored(pointers: Iterable[str], ignored: Iterable[str]) -> list[str]:
    """``pointers`` except those at or under one of the ``ignored`` pointers."""
    prefixes = [parse_pointer(pointer) for pointer in ignored]
    return [
        pointer
        for pointer in pointers
        if not any(parse_pointer(pointer)[: len(prefix)] == prefix for prefix in prefixes)
    ]


@dataclass(frozen=True)
class OwnerMarks:
    """How the objects of one kind of owner are known: the labels naming the owner, and
    the field manager its applies are made with. An owner whose objects name it another
    way (Argo CD's tracking annotation) gives ``owner_from`` instead of labels: its kinds
    are then watched whole, since no label selects its objects."""

    name_label: str
    namespace_label: str
    field_manager: str
    owner_from: Callable[[Mapping[str, Any]], ObjectKey | None] | None = None

    @property
    def selector(self) -> dict[str, str | None] | None:
        """The labels a watch selects the owner's objects by; None: every object."""
        return None if self.owner_from is not None else {self.name_label: None}


KUSTOMIZATION_MARKS = OwnerMarks(
    KUSTOMIZATION_NAME_LABEL, KUSTOMIZATION_NAMESPACE_LABEL, KUSTOMIZATION_FIELD_MANAGER
)
HELM_RELEASE_MARKS = OwnerMarks(
    HELM_RELEASE_NAME_LABEL, HELM_RELEASE_NAMESPACE_LABEL, HELM_RELEASE_FIELD_MANAGER
)


def owner_of(obj: Mapping[str, Any], marks: OwnerMarks = KUSTOMIZATION_MARKS) -> ObjectKey | None:
    """(namespace, name) of the owner whose labels (``marks``) ``obj`` carries."""
    if marks.owner_from is not None:
        return marks.owner_from(obj)
    labels = (obj.get("metadata") or {}).get("labels") or {}
    name, namespace = labels.get(marks.name_label), labels.get(marks.namespace_label)
    return (str(namespace), str(name)) if name and namespace else None


Owners = Callable[[ObjectKey], KubeObject | None]
"""Looks up an owner (as cached) by key."""
IgnoredPointers = Callable[[KubeObject, KubeObject], list[str]]
"""The ``spec.ignore`` pointers of an owner (first argument) that apply to an object."""


class DriftWatcher:
    """Watches the kinds of all inventories and reports drift of managed objects."""

    def __init__(
        self,
        kube: KubeClient,
        owners: Owners,
        ignored: IgnoredPointers,
        on_drift: Callable[[ObjectKey, str], None],
        marks: OwnerMarks = KUSTOMIZATION_MARKS,
    ) -> None:
        self._kube = kube
        self._owners = owners
        self._ignored = ignored
        self._on_drift = on_drift
        self._marks = marks
        self._informers: dict[tuple[str, str], Informer] = {}
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._expected_deletions: set[str] = set()
        self._inventories: dict[ObjectKey, frozenset[str]] = {}
        self._health_only: set[ObjectKey] = set()

    def for_cluster(self, kube: KubeClient) -> DriftWatcher:
        """A watcher of the cluster ``kube`` talks to, reporting to the same owners."""
        return DriftWatcher(kube, self._owners, self._ignored, self._on_drift, self._marks)

    def track(
        self, owner: ObjectKey, entries: Iterable[InventoryEntry], *, drift: bool = True
    ) -> None:
        """``owner`` is about to apply ``entries``: watch their kinds (those not watched
        yet), and count them as its objects before its status says so; without ``drift``,
        watch them for their health only: no change of the owner's objects is drift."""
        entries = list(entries)
        if drift:
            self._inventories[owner] = frozenset(entry.id for entry in entries)
            self._health_only.discard(owner)
        else:
            self._inventories.pop(owner, None)
            self._health_only.add(owner)
        for entry in entries:
            ref = entry.ref
            kind = (ref.api_version, ref.kind)
            if kind in self._informers:
                continue
            keep: Keep | None = without_payload if kind in PAYLOAD_KINDS else None
            informer = Informer(
                self._kube,
                ref.api_version,
                ref.kind,
                labels=self._marks.selector,
                keep=keep,
            )
            informer.subscribe(self._changed)
            self._informers[kind] = informer
            self._tasks[kind] = asyncio.create_task(
                informer.run(), name=f"drift-{ref.api_version}-{ref.kind}"
            )

    def forget(self, owner: ObjectKey) -> None:
        """``owner`` is gone, and so is what :meth:`track` recorded for it."""
        self._inventories.pop(owner, None)
        self._health_only.discard(owner)

    def expect_deletion(self, entries: Iterable[InventoryEntry]) -> None:
        """lockstep is about to delete these objects itself: their deletion is not drift."""
        self._expected_deletions.update(entry.id for entry in entries)

    def watch_epoch(self, refs: Iterable[ObjectRef]) -> WatchEpoch | None:
        """A value that stays the same as long as the kinds of ``refs`` are watched without
        a break that could hide drift; ``None`` while one is not watched and listed yet
        (or its watch stopped)."""
        epoch = []
        for kind in sorted({(ref.api_version, ref.kind) for ref in refs}):
            informer = self._informers.get(kind)
            if informer is None or not informer.lists or self._tasks[kind].done():
                return None
            epoch.append((*kind, informer.lists))
        return tuple(epoch)

    def cached(self, ref: ObjectRef) -> KubeObject | None:
        """The watched copy of ``ref``; ``None`` when its kind is not watched and listed
        yet, or it is not among the objects carrying an owner label."""
        informer = self._informers.get((ref.api_version, ref.kind))
        if informer is None or not informer.lists:
            return None
        # A cluster-scoped object is cached without a namespace, whatever the ref says.
        return informer.get((ref.namespace, ref.name)) or informer.get(("", ref.name))

    def live_copy(self, ref: ObjectRef) -> KubeObject | None:
        """:meth:`cached`, but only a complete copy: none of the kinds kept without their
        values; what planning may use instead of reading an object
        (``ApplyOptions.live_copies``)."""
        if (ref.api_version, ref.kind) in PAYLOAD_KINDS:
            return None
        return self.cached(ref)

    def health_copies(
        self, judged: Collection[GroupKind]
    ) -> Callable[[ObjectRef], KubeObject | None]:
        """:meth:`cached`, but without the copies kept without their values of the kinds
        a health expression judges (``judged``: (group, kind)), which it may read."""

        def copy(ref: ObjectRef) -> KubeObject | None:
            kind = (group_of(ref.api_version), ref.kind)
            if (ref.api_version, ref.kind) in PAYLOAD_KINDS and kind in judged:
                return None
            return self.cached(ref)

        return copy

    @property
    def watched_kinds(self) -> list[tuple[str, str]]:
        return sorted(self._informers)

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _changed(self, change: Change) -> None:
        if change.type == "ADDED":
            return
        owner_key = owner_of(change.object, self._marks)
        if owner_key is None:
            return
        entry_id = InventoryEntry.of(ObjectRef.of(change.object)).id
        if change.type == "DELETED" and entry_id in self._expected_deletions:
            self._expected_deletions.discard(entry_id)
            return
        if owner_key in self._health_only:
            return
        owner = self._owners(owner_key)
        if owner is None or not (
            entry_id in self._inventories.get(owner_key, ()) or _in_inventory(owner, entry_id)
        ):
            return
        if change.type == "DELETED":
            self._on_drift(owner_key, f"{ObjectRef.of(change.object)} was deleted")
            return
        if change.previous is None:
            return
        drifted = drifted_fields(change.previous, change.object, self._marks.field_manager)
        if drifted:
            # Read only now: most changes (status updates) are no drift at all.
            drifted = not_ignored(drifted, self._ignored(owner, change.object))
        if drifted:
            self._on_drift(
                owner_key, f"{ObjectRef.of(change.object)} drifted at {', '.join(drifted)}"
            )


def _in_inventory(owner: Mapping[str, Any], entry_id: str) -> bool:
    entries = ((owner.get("status") or {}).get("inventory") or {}).get("entries") or []
    return any(entry.get("id") == entry_id for entry in entries)
