"""The apply verb: staged server-side apply of a set of objects, writing only what drifted.

For each stage (see :mod:`lockstep.apply.sort`): dry-run every object of the
stage, read the live ones, and only when all dry-runs pass, write the objects
that drifted; then wait for the stage's CRDs and Namespaces before the next
stage, whose objects may need them to be validated at all. Before a stage
writes anything, the objects of the later stages are dry-run too, as far as they
can be before the earlier stages exist, so that a revision the API server
refuses (an invalid object, an account without rights) leaves nothing written.

An object is dry-run before it is read: the dry-run of one that does not exist yet
answers without a resourceVersion, and such an object is to be created, with no
read at all. Only an object that exists is read, to compare it with its dry-run.
An object with ignored fields is read first instead, since its dry-run needs
their live values (:mod:`lockstep.apply.ignore`), and so is one whose dry-run
fails, since the live object tells what the failure means (skipped, recreated).

Planning an object also takes its ignored fields from the live object, notes whether kubectl's fields are to be taken
over first (:mod:`lockstep.apply.takeover`), and, when an immutable field
changes, whether it is to be deleted and created again
(:mod:`lockstep.apply.recreate`). A recreated object is reported ``created``,
like Flux does: the object in the cluster is a new one.

Called by the Kustomization reconciler (and anything else that applies a set).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from lockstep.apply.changeset import Action, ApplyError, ChangeSet
from lockstep.apply.diff import has_drifted
from lockstep.apply.ignore import IgnoreRule, ignored_pointers, keep_ignored_fields
from lockstep.apply.objects import (
    Owner,
    is_force_enabled,
    is_if_not_present,
    is_reconcile_disabled,
    is_ssa_ignored,
    is_ssa_merge,
)
from lockstep.apply.recreate import immutable_failure, is_immutable_error, replacement_failure
from lockstep.apply.sort import split_into_stages
from lockstep.apply.takeover import needs_take_over, take_over
from lockstep.apply.wait import wait_for_definitions, wait_until_deleted
from lockstep.kube import KubeClient, KubeError, KubeObject, NotFound, ObjectRef

T = TypeVar("T")

CRD_KIND = "CustomResourceDefinition"

# Reads and dry-runs of a stage go out together, but bounded, so a set of a
# thousand objects does not hit the API server with a thousand requests at once.
CONCURRENT_REQUESTS = 8


@dataclass(frozen=True)
class ApplyOptions:
    """How :func:`apply_all` applies a set.

    ``owner``: the Kustomization whose labels every object gets.
    ``force``: take over fields other field managers own instead of failing on conflicts
    (server-side apply's force; it never deletes anything).
    ``wait_timeout`` / ``wait_interval``: how long, and how often, to poll for a stage's
    CRDs to be Established and Namespaces Active before the next stage; the interval
    also paces the wait for a recreated object's deletion.
    ``recreate_immutable``: delete and create again an object whose change the API server
    refuses because a field is immutable (Flux's ``spec.force``); an object annotated
    ``kustomize.toolkit.fluxcd.io/force: enabled`` is recreated whatever this says.
    ``recreate_timeout``: how long a deleted object may take to be gone (finalizers may
    hold it) before the set fails instead of creating it again.
    ``ignore_rules``: fields left as they are in the cluster (see :mod:`lockstep.apply.ignore`).
    """

    owner: Owner
    force: bool = True
    wait_timeout: float = 60.0
    wait_interval: float = 0.5
    recreate_immutable: bool = False
    recreate_timeout: float = 60.0
    ignore_rules: tuple[IgnoreRule, ...] = ()


def default_apply_options(owner: Owner) -> ApplyOptions:
    return ApplyOptions(owner=owner)


@dataclass(frozen=True)
class _Planned:
    """What a stage will do with one object, decided before anything is written.

    ``desired`` is the object as it will be applied (ignored fields taken from the
    live one); ``take_over`` merges kubectl's field managers into lockstep's first;
    ``replaces`` is the uid of a live object to delete first, because an immutable
    field changes; ``live`` is the object as read, when it was.
    """

    desired: KubeObject
    action: Action
    take_over: bool = False
    replaces: str = ""
    live: KubeObject | None = None

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef.of(self.desired)


async def apply_all(
    kube: KubeClient, objects: Iterable[KubeObject], options: ApplyOptions
) -> ChangeSet:
    """Apply ``objects`` stage by stage; raise :class:`ApplyError` naming the objects at fault."""
    changeset = ChangeSet()
    stages = split_into_stages(options.owner.label(obj) for obj in objects)
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
    outcomes = await _bounded(_plan(kube, obj, options) for obj in stage)
    failures = [outcome for outcome in outcomes if isinstance(outcome, str)]
    writes = any(
        isinstance(o, _Planned) and o.action in (Action.CREATED, Action.CONFIGURED)
        for o in outcomes
    )
    if writes and not failures:
        # Before writing this stage, check the later stages as far as they can be
        # checked yet, so that a revision they refuse leaves nothing written.
        failures = await _preflight(kube, stage, later, options)
    if failures:
        raise ApplyError("; ".join(failures), changeset)
    for planned in (outcome for outcome in outcomes if isinstance(outcome, _Planned)):
        if planned.action in (Action.CREATED, Action.CONFIGURED):
            changeset.observed[planned.ref] = await _write(kube, planned, options, changeset)
        elif planned.action is Action.UNCHANGED and planned.live is not None:
            changeset.observed[planned.ref] = planned.live
        changeset.add(planned.ref, planned.action)


async def _plan(kube: KubeClient, desired: KubeObject, options: ApplyOptions) -> _Planned | str:
    """Decide the action for one object by dry-running and reading it; a string is a failure."""
    ref = ObjectRef.of(desired)
    if is_reconcile_disabled(desired) or is_ssa_ignored(desired):
        return _Planned(desired, Action.SKIPPED)
    if not ref.namespace and await _is_namespaced(kube, ref):
        # Applied as is, it would land in the client's default namespace while the
        # inventory recorded none; Flux refuses it the same way.
        return (
            f"{ref} namespace not specified; set metadata.namespace in the manifest "
            "or spec.targetNamespace on the Kustomization"
        )
    if ignored_pointers(desired, options.ignore_rules):
        return await _plan_from_live(kube, desired, options)
    try:
        result = await kube.apply(desired, force=options.force, dry_run=True)
    except KubeError:
        return await _plan_from_live(kube, desired, options)
    if not (result.get("metadata") or {}).get("resourceVersion"):
        return _Planned(desired, Action.CREATED)
    try:
        live = await kube.get(ref)
    except NotFound:
        # Deleted since its dry-run: the apply creates it again, as declared.
        return _Planned(desired, Action.CREATED)
    except KubeError as error:
        return f"{ref} read failed: {error.message}"
    if is_reconcile_disabled(live) or is_ssa_ignored(live) or is_if_not_present(desired):
        return _Planned(desired, Action.SKIPPED)
    return _plan_checked_update(kube, desired, live, result)


async def _plan_from_live(
    kube: KubeClient, desired: KubeObject, options: ApplyOptions
) -> _Planned | str:
    """Decide the action for one object by reading it first, then dry-running it."""
    ref = ObjectRef.of(desired)
    try:
        live: KubeObject | None = await kube.get(ref)
    except NotFound:
        live = None
    except KubeError as error:
        return f"{ref} read failed: {error.message}"
    if live is None:
        try:
            await kube.apply(desired, force=options.force, dry_run=True)
        except KubeError as error:
            return f"{ref} dry-run failed: {error.message}"
        return _Planned(desired, Action.CREATED)
    if is_reconcile_disabled(live) or is_ssa_ignored(live) or is_if_not_present(desired):
        return _Planned(desired, Action.SKIPPED)
    return await _plan_update(kube, desired, live, options)


async def _is_namespaced(kube: KubeClient, ref: ObjectRef) -> bool:
    try:
        return (await kube.resource_info(ref.api_version, ref.kind)).namespaced
    except KubeError:
        # An unknown kind is reported by its dry-run, with the API server's words.
        return False


async def _plan_update(
    kube: KubeClient, desired: KubeObject, live: KubeObject, options: ApplyOptions
) -> _Planned | str:
    ref = ObjectRef.of(desired)
    applied = keep_ignored_fields(desired, live, options.ignore_rules)
    try:
        result = await kube.apply(applied, force=options.force, dry_run=True)
    except KubeError as error:
        if not is_immutable_error(error):
            return f"{ref} dry-run failed: {error.message}"
        if not (options.recreate_immutable or is_force_enabled(desired) or is_force_enabled(live)):
            return immutable_failure(ref, error)
        # The new object is created as declared: there is no live value left to keep.
        if failure := await replacement_failure(kube, desired):
            return failure
        return _Planned(desired, Action.CREATED, replaces=str(live["metadata"]["uid"]))
    return _plan_checked_update(kube, applied, live, result)


def _plan_checked_update(
    kube: KubeClient, applied: KubeObject, live: KubeObject, result: KubeObject
) -> _Planned:
    """The action for an existing object whose dry-run as ``applied`` gave ``result``."""
    merge = is_ssa_merge(applied) or is_ssa_merge(live)
    taking_over = not merge and needs_take_over(live, kube.field_manager)
    # A take-over is a write even when the dry-run shows no change: the dry-run ran
    # while kubectl still co-owned the fields that the apply after it will remove.
    drifted = taking_over or has_drifted(result, live)
    action = Action.CONFIGURED if drifted else Action.UNCHANGED
    return _Planned(applied, action, take_over=taking_over, live=live)


async def _write(
    kube: KubeClient, planned: _Planned, options: ApplyOptions, changeset: ChangeSet
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
            await take_over(kube, ref)
        except KubeError as error:
            message = f"{ref} take-over of kubectl's fields failed: {error.message}"
            raise ApplyError(message, changeset) from error
    try:
        return await kube.apply(planned.desired, force=options.force)
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
    defined = {_defined_kind(obj) for obj in [*stage, *later] if obj.get("kind") == CRD_KIND}
    checkable = [obj for obj in later if _group_kind(obj) not in defined]

    async def check(obj: KubeObject) -> str:
        try:
            await kube.apply(obj, force=options.force, dry_run=True)
        except NotFound:
            return ""
        except KubeError as error:
            if is_immutable_error(error):
                return ""
            return f"{ObjectRef.of(obj)} dry-run failed: {error.message}"
        return ""

    return [failure for failure in await _bounded(check(obj) for obj in checkable) if failure]


def _defined_kind(crd: KubeObject) -> tuple[str, str]:
    spec = crd.get("spec") or {}
    return str(spec.get("group", "")), str((spec.get("names") or {}).get("kind", ""))


def _group_kind(obj: KubeObject) -> tuple[str, str]:
    return str(obj.get("apiVersion", "")).rpartition("/")[0], str(obj.get("kind", ""))


async def _bounded(calls: Iterable[Awaitable[T]]) -> list[T]:
    limit = asyncio.Semaphore(CONCURRENT_REQUESTS)

    async def run(call: Awaitable[T]) -> T:
        async with limit:
            return await call

    return await asyncio.gather(*(run(call) for call in calls))
