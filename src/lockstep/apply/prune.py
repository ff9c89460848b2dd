"""The prune verb: delete the objects a set no longer declares, if they are still ours.

Stale inventory entries (see :func:`lockstep.apply.inventory.stale_entries`) are
deleted in reverse apply order, so workloads go before the namespaces and
definitions they live in. An object is deleted only while it carries the owner's
mark (someone may have adopted it since) and its annotations do not keep it
(``kustomize.toolkit.fluxcd.io/prune: disabled`` for a Kustomization). A failed
delete does not stop the others: it is reported in the ChangeSet's failures, and
the caller keeps the entry in its inventory to try again next time. An entry
whose object does not exist, or whose kind the API server does not serve, is
left out quietly: an inventory recorded before an apply that was cut short
lists objects that were never created.
:func:`plan_prune` reads the same objects and says what :func:`prune` would do,
deleting nothing.

Called by the Kustomization reconciler after a successful apply, and on deletion;
:func:`plan_prune` by :mod:`lockstep.apply.diff`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lockstep.apply.changeset import Action, ChangeSet
from lockstep.apply.inventory import InventoryEntry
from lockstep.apply.objects import Owner
from lockstep.apply.sort import apply_order_key
from lockstep.kube import KubeClient, KubeError, KubeObject, NotFound, ObjectRef, Propagation

NOT_OWNED = "no longer marked as this owner's"
PRUNE_DISABLED = "prune disabled"


@dataclass(frozen=True)
class PruneOptions:
    """How :func:`prune` deletes.

    ``owner``: only objects still carrying its mark, and whose annotations do not
    keep them, are deleted; ``propagation``: how their dependents go.
    """

    owner: Owner
    propagation: Propagation = "Background"


def default_prune_options(owner: Owner) -> PruneOptions:
    return PruneOptions(owner=owner)


@dataclass(frozen=True)
class PlannedDeletion:
    """A stale object that still exists: deleted, or kept (``kept`` says why)."""

    ref: ObjectRef
    live: KubeObject
    kept: str = ""

    @property
    def action(self) -> Action:
        return Action.SKIPPED if self.kept else Action.DELETED


async def prune(
    kube: KubeClient, stale: Iterable[InventoryEntry], options: PruneOptions
) -> ChangeSet:
    """Delete the objects of ``stale``; objects already gone are left out of the result."""
    changeset = ChangeSet()
    for ref in _deletion_order(stale):
        try:
            live = await kube.get(ref)
        except NotFound:
            continue
        except KubeError as error:
            changeset.fail(ref, f"read failed: {error.message}")
            continue
        if kept_because(live, options.owner):
            changeset.add(ref, Action.SKIPPED)
            continue
        try:
            await kube.delete(ref, propagation=options.propagation)
        except KubeError as error:
            changeset.fail(ref, f"delete failed: {error.message}")
            continue
        changeset.add(ref, Action.DELETED)
    return changeset


async def plan_prune(
    kube: KubeClient, stale: Iterable[InventoryEntry], options: PruneOptions
) -> tuple[list[PlannedDeletion], ChangeSet]:
    """What :func:`prune` would do with ``stale``, in its order, and the reads that failed."""
    planned: list[PlannedDeletion] = []
    failures = ChangeSet()
    for ref in _deletion_order(stale):
        try:
            live = await kube.get(ref)
        except NotFound:
            continue
        except KubeError as error:
            failures.fail(ref, f"read failed: {error.message}")
            continue
        planned.append(PlannedDeletion(ref, live, kept_because(live, options.owner)))
    return planned, failures


def kept_because(live: KubeObject, owner: Owner) -> str:
    """Why ``live`` is not deleted although the set no longer declares it; empty when it is."""
    if not owner.owns(live):
        return NOT_OWNED
    if not owner.policy(live).prune:
        return PRUNE_DISABLED
    return ""


def _deletion_order(stale: Iterable[InventoryEntry]) -> list[ObjectRef]:
    return sorted((entry.ref for entry in stale), key=apply_order_key, reverse=True)
