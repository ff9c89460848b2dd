"""Flux inventory entries: which objects a Kustomization applied, and which are now stale.

An entry is the id ``<namespace>_<name>_<group>_<kind>`` plus the version the
object was applied with, e.g. ``apps_web_apps_Deployment`` / ``v1``; the
namespace of cluster-scoped objects and the group of core kinds stay empty
(``_admin_rbac.authorization.k8s.io_ClusterRole``, ``apps_web__Service``).

An inventory is recorded before an apply that may create objects it does not
list yet (:func:`intended_inventory`), so that an engine killed in the middle of
the apply leaves every object it may have created listed, and the next
reconcile prunes those no longer declared.

Called by :mod:`lockstep.apply.changeset` (entries of applied objects), by
:mod:`lockstep.apply.prune`, and by the controllers that keep the inventory in
the Kustomization's status.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lockstep.apply.sort import apply_order_key
from lockstep.kube import ObjectRef


@dataclass(frozen=True)
class InventoryEntry:
    """One applied object as Flux records it in ``status.inventory.entries``."""

    id: str
    version: str

    @classmethod
    def of(cls, ref: ObjectRef) -> InventoryEntry:
        group, _, version = ref.api_version.rpartition("/")
        return cls(f"{ref.namespace}_{ref.name}_{group}_{ref.kind}", version)

    @property
    def ref(self) -> ObjectRef:
        """The object this entry names; raises ValueError for a malformed id."""
        return parse_inventory_id(self.id, self.version)


def inventory_id(ref: ObjectRef) -> str:
    return InventoryEntry.of(ref).id


def parse_inventory_id(object_id: str, version: str) -> ObjectRef:
    """Read an inventory id back into an :class:`ObjectRef` of apiVersion ``group/version``.

    Namespaces, groups and kinds never contain ``_`` but some names do (a
    ClusterRole may be called ``system_admin``), so the name takes whatever lies
    between the first and the last two separators.
    """
    namespace, sep, rest = object_id.partition("_")
    name_group, _, kind = rest.rpartition("_")
    name, _, group = name_group.rpartition("_")
    if not sep or not name or not kind or not version:
        raise ValueError(
            f'malformed inventory entry "{object_id}" (version "{version}"): '
            "expected <namespace>_<name>_<group>_<kind> and a version"
        )
    api_version = f"{group}/{version}" if group else version
    return ObjectRef(api_version=api_version, kind=kind, name=name, namespace=namespace)


def stale_entries(
    old: Iterable[InventoryEntry], new: Iterable[InventoryEntry]
) -> list[InventoryEntry]:
    """Entries of ``old`` whose object is not in ``new``, in reverse apply order (prune order).

    Objects are compared by id only: a new apiVersion of the same object is the
    same object, not one to delete.
    """
    kept = {entry.id for entry in new}
    stale = {entry.id: entry for entry in old if entry.id not in kept}
    return sorted(stale.values(), key=lambda entry: apply_order_key(entry.ref), reverse=True)


def intended_inventory(
    recorded: Sequence[InventoryEntry], applying: Sequence[InventoryEntry]
) -> list[InventoryEntry] | None:
    """The inventory to record before applying ``applying`` over ``recorded``; ``None``
    when ``recorded`` already lists every object of ``applying``.

    Otherwise both: the objects about to be applied, in their order, then those of
    ``recorded`` that the apply leaves to prune. Objects are compared by id, as in
    :func:`stale_entries`; an object listed under another apiVersion needs no new entry.
    """
    listed = {entry.id for entry in recorded}
    if all(entry.id in listed for entry in applying):
        return None
    applied = {entry.id for entry in applying}
    return [*applying, *(entry for entry in recorded if entry.id not in applied)]
