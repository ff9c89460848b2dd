"""The prune verb: delete the objects a set no longer declares, if they are still ours.

Stale inventory entries (see :func:`lockstep.apply.inventory.stale_entries`) are
deleted in reverse apply order, so workloads go before the namespaces and
definitions they live in. An object is deleted only while it carries this
owner's labels (someone may have adopted it since) and is not annotated
``kustomize.toolkit.fluxcd.io/prune: disabled``. A failed delete does not stop
the others: it is reported in the ChangeSet's failures, and the caller keeps the
entry in its inventory to try again next time.

Called by the Kustomization reconciler after a successful apply, and on deletion.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lockstep.apply.changeset import Action, ChangeSet
from lockstep.apply.inventory import InventoryEntry
from lockstep.apply.objects import Owner, is_prune_disabled
from lockstep.apply.sort import apply_order_key
from lockstep.kube import KubeClient, KubeError, NotFound


@dataclass(frozen=True)
class PruneOptions:
    """How :func:`prune` deletes.

    ``owner``: only objects still labelled for this Kustomization are deleted.
    """

    owner: Owner


def default_prune_options(owner: Owner) -> PruneOptions:
    return PruneOptions(owner=owner)


async def prune(
    kube: KubeClient, stale: Iterable[InventoryEntry], options: PruneOptions
) -> ChangeSet:
    """Delete the objects of ``stale``; objects already gone are left out of the result."""
    changeset = ChangeSet()
    refs = sorted((entry.ref for entry in stale), key=apply_order_key, reverse=True)
    for ref in refs:
        try:
            live = await kube.get(ref)
        except NotFound:
            continue
        except KubeError as error:
            changeset.fail(ref, f"read failed: {error.message}")
            continue
        if not options.owner.owns(live) or is_prune_disabled(live):
            changeset.add(ref, Action.SKIPPED)
            continue
        try:
            await kube.delete(ref)
        except KubeError as error:
            changeset.fail(ref, f"delete failed: {error.message}")
            continue
        changeset.add(ref, Action.DELETED)
    return changeset
