"""The diff verb: what applying a set would change, object by object, writing nothing.

Built on :func:`lockstep.apply.plan.plan_all`, the planning the apply itself runs,
so a diff honours what the apply honours: the owner's per-object annotations,
drift-ignore rules, taking over kubectl's fields, and recreating an object whose
immutable fields change (or failing, naming the fields, when recreation is not
asked for); and on :func:`lockstep.apply.prune.plan_prune` for the objects the set
no longer declares. Each entry carries the live object and the server's dry-run
answer, both without the fields the server maintains, for the caller to show.

Called by ``lockstep diff kustomization`` (:mod:`lockstep.cli.build`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from lockstep.apply.changeset import Action
from lockstep.apply.compare import comparable
from lockstep.apply.inventory import InventoryEntry
from lockstep.apply.options import ApplyOptions
from lockstep.apply.plan import PlannedObject, plan_all
from lockstep.apply.prune import default_prune_options, plan_prune
from lockstep.kube import KubeClient, KubeObject, ObjectRef

TAKE_OVER_NOTE = "the fields kubectl set are taken over; those not declared are removed"
UNVALIDATED_NOTE = "not validated yet: the set creates its namespace or kind first"


@dataclass(frozen=True)
class ObjectDiff:
    """What applying would do to one object.

    ``action``: created, configured, unchanged, skipped or deleted. ``recreated``:
    created after the live object is deleted. ``note``: why it is skipped or
    recreated, or what else the apply does. ``live`` / ``merged``: the object as it
    is and as the server's dry-run says it will be, server-maintained fields left
    out; either is None when there is none.
    """

    ref: ObjectRef
    action: Action
    note: str = ""
    recreated: bool = False
    live: KubeObject | None = None
    merged: KubeObject | None = None

    @property
    def changes(self) -> bool:
        return self.action in (Action.CREATED, Action.CONFIGURED, Action.DELETED)


@dataclass
class SetDiff:
    """One entry per object, in the order they would be handled, and the objects
    that cannot be applied (each message names its object and says why)."""

    objects: list[ObjectDiff] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def changes(self) -> bool:
        return any(entry.changes for entry in self.objects)


async def diff_all(
    kube: KubeClient,
    objects: Iterable[KubeObject],
    options: ApplyOptions,
    stale: Iterable[InventoryEntry] = (),
) -> SetDiff:
    """Diff ``objects`` against the cluster; ``stale`` are the entries a prune would delete."""
    plan = await plan_all(kube, objects, options)
    result = SetDiff(
        objects=[_object_diff(planned) for planned in plan.objects],
        failures=[str(failure) for failure in plan.failures],
    )
    deletions, unread = await plan_prune(kube, stale, default_prune_options(options.owner))
    result.objects += [
        ObjectDiff(deletion.ref, deletion.action, deletion.kept, live=comparable(deletion.live))
        for deletion in deletions
    ]
    result.failures += [str(failure) for failure in unread.failures]
    return result


def _object_diff(planned: PlannedObject) -> ObjectDiff:
    live = comparable(planned.live) if planned.live is not None else None
    merged = comparable(planned.merged) if planned.merged is not None else None
    return ObjectDiff(
        planned.ref,
        planned.action,
        _note(planned),
        recreated=bool(planned.replaces),
        live=live,
        merged=merged,
    )


def _note(planned: PlannedObject) -> str:
    if planned.skipped:
        return str(planned.skipped)
    if planned.replaces:
        if not planned.immutable:
            return "an immutable field changes"
        verb = "is" if len(planned.immutable) == 1 else "are"
        return f"{', '.join(planned.immutable)} {verb} immutable"
    if planned.take_over:
        return TAKE_OVER_NOTE
    if planned.unvalidated:
        return UNVALIDATED_NOTE
    return ""
