"""The apply verb: staged server-side apply of a set of objects, writing only what drifted.

For each stage (see :mod:`lockstep.apply.sort`): dry-run every object of the
stage, read the live ones, and only when all dry-runs pass, write the objects
that drifted; then wait for the stage's CRDs and Namespaces before the next
stage, whose objects may need them to be validated at all. Before a stage
writes anything, the objects of the later stages are dry-run too, as far as they
can be before the earlier stages exist, so that a revision the API server
refuses (an invalid object, an account without rights) leaves nothing written.

What each object needs is decided by :mod:`lockstep.apply.plan` before the
stage writes anything: created, configured (its kubectl fields taken over first,
or deleted first to be created again when an immutable field changes), unchanged
or skipped.

Called by the Kustomization reconciler (and anything else that applies a set).
"""

from __future__ import annotations

from collections.abc import Iterable

from lockstep.apply.changeset import Action, ApplyError, ChangeSet
from lockstep.apply.options import ApplyOptions
from lockstep.apply.plan import (
    CRD_KIND,
    PlannedObject,
    bounded,
    defined_kind,
    dry_run,
    group_kind,
    plan_stage,
)
from lockstep.apply.recreate import is_immutable_error
from lockstep.apply.sort import split_into_stages
from lockstep.apply.takeover import take_over
from lockstep.apply.wait import wait_for_definitions, wait_until_deleted
from lockstep.kube import KubeClient, KubeError, KubeObject, NotFound, ObjectRef, Unreachable


async def apply_all(
    kube: KubeClient, objects: Iterable[KubeObject], options: ApplyOptions
) -> ChangeSet:
    """Apply ``objects`` stage by stage; raise :class:`ApplyError` naming the objects at fault."""
    changeset = ChangeSet()
    stages = split_into_stages(options.owner.mark(obj) for obj in objects)
    for index, stage in enumerate(stages):
        later = [obj for next_stage in stages[index + 1 :] for obj in next_stage]
        await _apply_stage(kube, stage, later, options, changeset)
        not_ready = await wait_for_definitions(
            kube, stage, within=options.wait_timeout, interval=options.wait_interval
        )
        if not_ready:
            raise ApplyError(f"{'; '.join(not_ready)} after {options.wait_timeout:.0f}s", changeset)
    return changeset


async def _apply_stage(
    kube: KubeClient,
    stage: list[KubeObject],
    later: list[KubeObject],
    options: ApplyOptions,
    changeset: ChangeSet,
) -> None:
    try:
        plan = await plan_stage(kube, stage, options)
    except Unreachable as error:
        raise ApplyError(error.message, changeset) from error
    failures = [str(failure) for failure in plan.failures]
    if plan.writes and not failures:
        # Before writing this stage, check the later stages as far as they can be
        # checked yet, so that a revision they refuse leaves nothing written.
        failures = await _preflight(kube, stage, later, options)
    if failures:
        raise ApplyError("; ".join(failures), changeset)
    for planned in plan.objects:
        if planned.writes:
            changeset.observed[planned.ref] = await _write(kube, planned, options, changeset)
        elif planned.action is Action.UNCHANGED and planned.live is not None:
            changeset.observed[planned.ref] = planned.live
        changeset.add(planned.ref, planned.action)


async def _write(
    kube: KubeClient, planned: PlannedObject, options: ApplyOptions, changeset: ChangeSet
) -> KubeObject:
    """Delete the object first or take over its fields when planned so, then apply it;
    the object as the API server stored it."""
    ref = planned.ref
    if planned.replaces:
        try:
            await kube.delete_instance(ref, planned.replaces)
            still_there = await wait_until_deleted(
                kube,
                ref,
                planned.replaces,
                within=options.recreate_timeout,
                interval=options.wait_interval,
            )
        except KubeError as error:
            raise ApplyError(f"{ref} recreate failed: {error.message}", changeset) from error
        if still_there:
            raise ApplyError(f"{ref} recreate failed: {still_there}", changeset)
    if planned.take_over:
        try:
            await take_over(kube, ref, options.owner.field_manager)
        except KubeError as error:
            message = f"{ref} take-over of kubectl's fields failed: {error.message}"
            raise ApplyError(message, changeset) from error
    try:
        return await kube.apply(
            planned.desired, force=options.force, field_manager=options.owner.field_manager
        )
    except KubeError as error:
        raise ApplyError(f"{ref} apply failed: {error.message}", changeset) from error


async def _preflight(
    kube: KubeClient, stage: list[KubeObject], later: list[KubeObject], options: ApplyOptions
) -> list[str]:
    """Dry-run failures of ``later`` objects that no earlier write can cure.

    Objects of kinds that a CRD of the set defines are left to their own stage
    (the CRD may add or change their schema), and so are failures because a kind
    or a namespace does not exist yet: an earlier stage is about to create it.
    """
    defined = {defined_kind(obj) for obj in [*stage, *later] if obj.get("kind") == CRD_KIND}
    checkable = [obj for obj in later if group_kind(obj) not in defined]

    async def check(obj: KubeObject) -> str:
        try:
            await dry_run(kube, obj, options)
        except NotFound:
            return ""
        except KubeError as error:
            if is_immutable_error(error):
                return ""
            return f"{ObjectRef.of(obj)} dry-run failed: {error.message}"
        return ""

    return [failure for failure in await bounded(check(obj) for obj in checkable) if failure]
