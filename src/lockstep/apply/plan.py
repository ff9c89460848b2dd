"""The plan verb: what applying a set would do to each object, decided before anything is written.

Each object is dry-run before it is read: the dry-run of one that does not exist
yet answers without a resourceVersion, and such an object is to be created, with
no read at all. Only an object that exists is read, to compare it with its
dry-run, and not even that when the owner watches it (``ApplyOptions.live_copies``)
and the watched copy is at the resourceVersion the dry-run answered: a dry-run
does not change the resourceVersion, so that copy is the object in the cluster.
An object with ignored fields is read first instead, since its dry-run needs their
live values (:mod:`lockstep.apply.ignore`), and so is one whose
dry-run fails, since the live object tells what the failure means (skipped,
recreated).

An API server that cannot be reached ends the planning of a stage at once:
:class:`~lockstep.kube.Unreachable` is raised rather than told per object, since
every object would fail alike, and a message per object would repeat the server's
address as many times, after as many requests that cannot be answered.

Planning an object also applies the owner's per-object annotations (skip it,
create it only when absent, keep fields other tools set), notes whether kubectl's
fields are to be taken over first (:mod:`lockstep.apply.takeover`), and, when an
immutable field changes, whether it is to be deleted and created again
(:mod:`lockstep.apply.recreate`). A recreated object is planned ``created``, like
Flux reports it: the object in the cluster will be a new one.

:func:`plan_stage` plans objects that can all be dry-run now;
:func:`lockstep.apply.apply_all` calls it stage by stage, writing in between.
:func:`plan_all` plans a whole set without writing (for :mod:`lockstep.apply.diff`):
an object of a later stage whose namespace or kind an earlier stage creates cannot
be dry-run yet, and is planned ``created`` unvalidated rather than failed.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

from lockstep.apply.changeset import Action
from lockstep.apply.compare import has_drifted
from lockstep.apply.ignore import ignored_pointers, keep_ignored_fields
from lockstep.apply.objects import ApplyMode, ObjectPolicy
from lockstep.apply.options import ApplyOptions
from lockstep.apply.recreate import (
    immutable_failure,
    immutable_fields,
    is_immutable_error,
    replacement_failure,
)
from lockstep.apply.sort import split_into_stages
from lockstep.apply.takeover import needs_take_over
from lockstep.kube import KubeClient, KubeError, KubeObject, NotFound, ObjectRef, Unreachable

T = TypeVar("T")

CRD_KIND = "CustomResourceDefinition"

# Reads and dry-runs of a stage go out together, but bounded, so a set of a
# thousand objects does not hit the API server with a thousand requests at once.
CONCURRENT_REQUESTS = 8


class SkipReason(StrEnum):
    """Why an object is left as it is in the cluster."""

    RECONCILE_DISABLED = "reconcile disabled"
    APPLY_IGNORED = "apply ignored"
    EXISTS = "exists, created only when absent"


@dataclass(frozen=True)
class PlannedObject:
    """What the engine will do with one object.

    ``desired``: the object as it will be applied (marked for its owner, ignored
    fields taken from the live one). ``action``: created, configured, unchanged or
    skipped; ``skipped`` says why when skipped. ``take_over``: kubectl's field
    managers are merged into the owner's first. ``replaces``: the uid of a live
    object to delete first, because ``immutable`` fields change. ``live``: the
    object as read, when it was. ``merged``: the server's dry-run answer, the
    object as it will be after the apply, when there was one. ``unvalidated``: the
    object could not be dry-run yet, its namespace or kind is created by an
    earlier stage (:func:`plan_all` only).
    """

    desired: KubeObject
    action: Action
    skipped: SkipReason | None = None
    take_over: bool = False
    replaces: str = ""
    immutable: tuple[str, ...] = ()
    live: KubeObject | None = None
    merged: KubeObject | None = None
    unvalidated: bool = False

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef.of(self.desired)

    @property
    def writes(self) -> bool:
        return self.action in (Action.CREATED, Action.CONFIGURED)


@dataclass(frozen=True)
class PlanFailure:
    """An object that cannot be applied; ``message`` names it and says why.

    ``missing``: the API server has no such kind or namespace (yet).
    """

    desired: KubeObject
    message: str
    missing: bool = False

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef.of(self.desired)

    def __str__(self) -> str:
        return self.message


@dataclass
class Plan:
    """The planned objects in the order they were given, and the objects that cannot be applied."""

    objects: list[PlannedObject] = field(default_factory=list)
    failures: list[PlanFailure] = field(default_factory=list)

    @property
    def writes(self) -> bool:
        return any(planned.writes for planned in self.objects)


async def plan_all(kube: KubeClient, objects: Iterable[KubeObject], options: ApplyOptions) -> Plan:
    """Plan every stage of a set without writing anything."""
    plan = Plan()
    created_namespaces: set[str] = set()
    created_kinds: set[tuple[str, str]] = set()
    for stage in split_into_stages(options.owner.mark(obj) for obj in objects):
        staged = await plan_stage(kube, stage, options)
        plan.objects += staged.objects
        for failure in staged.failures:
            ref = failure.ref
            if failure.missing and (
                ref.namespace in created_namespaces or group_kind(failure.desired) in created_kinds
            ):
                plan.objects.append(
                    PlannedObject(failure.desired, Action.CREATED, unvalidated=True)
                )
            else:
                plan.failures.append(failure)
        for planned in staged.objects:
            if planned.action is not Action.CREATED:
                continue
            if planned.ref.kind == "Namespace":
                created_namespaces.add(planned.ref.name)
            elif planned.ref.kind == CRD_KIND:
                created_kinds.add(defined_kind(planned.desired))
    return plan


async def plan_stage(kube: KubeClient, stage: Iterable[KubeObject], options: ApplyOptions) -> Plan:
    """Plan objects that can all be dry-run now (their namespaces and kinds exist)."""
    outcomes = await bounded(_plan(kube, obj, options) for obj in stage)
    return Plan(
        objects=[outcome for outcome in outcomes if isinstance(outcome, PlannedObject)],
        failures=[outcome for outcome in outcomes if isinstance(outcome, PlanFailure)],
    )


async def _plan(
    kube: KubeClient, desired: KubeObject, options: ApplyOptions
) -> PlannedObject | PlanFailure:
    """Decide the action for one object by dry-running and reading it."""
    ref = ObjectRef.of(desired)
    policy = options.owner.policy(desired)
    if skipped := _skip_reason(policy):
        return PlannedObject(desired, Action.SKIPPED, skipped=skipped)
    if not ref.namespace and await _is_namespaced(kube, ref):
        # Applied as is, it would land in the client's default namespace while the
        # inventory recorded none; Flux refuses it the same way.
        return PlanFailure(
            desired,
            f"{ref} namespace not specified; set metadata.namespace in the manifest "
            "or spec.targetNamespace on the Kustomization",
        )
    if ignored_pointers(desired, options.ignore_rules):
        return await _plan_from_live(kube, desired, options)
    try:
        result = await dry_run(kube, desired, options)
    except Unreachable:
        raise
    except KubeError:
        return await _plan_from_live(kube, desired, options)
    version = (result.get("metadata") or {}).get("resourceVersion")
    if not version:
        return PlannedObject(desired, Action.CREATED, merged=result)
    try:
        live = _watched_at(options, ref, version) or await kube.get(ref)
    except NotFound:
        # Deleted since its dry-run: the apply creates it again, as declared.
        return PlannedObject(desired, Action.CREATED, merged=result)
    except Unreachable:
        raise
    except KubeError as error:
        return PlanFailure(desired, f"{ref} read failed: {error.message}")
    if skipped := _skip_existing(policy, options.owner.policy(live)):
        return PlannedObject(desired, Action.SKIPPED, skipped=skipped, live=live)
    return _plan_checked_update(desired, live, result, options)


def _watched_at(options: ApplyOptions, ref: ObjectRef, version: str) -> KubeObject | None:
    """The watched copy of ``ref`` when it is at ``version``; else ``None``."""
    watched = options.live_copies(ref) if options.live_copies is not None else None
    if watched is None or (watched.get("metadata") or {}).get("resourceVersion") != version:
        return None
    return copy.deepcopy(watched)


async def _plan_from_live(
    kube: KubeClient, desired: KubeObject, options: ApplyOptions
) -> PlannedObject | PlanFailure:
    """Decide the action for one object by reading it first, then dry-running it."""
    ref = ObjectRef.of(desired)
    try:
        live: KubeObject | None = await kube.get(ref)
    except NotFound:
        live = None
    except Unreachable:
        raise
    except KubeError as error:
        return PlanFailure(desired, f"{ref} read failed: {error.message}")
    if live is None:
        try:
            result = await dry_run(kube, desired, options)
        except Unreachable:
            raise
        except KubeError as error:
            missing = isinstance(error, NotFound)
            return PlanFailure(desired, f"{ref} dry-run failed: {error.message}", missing)
        return PlannedObject(desired, Action.CREATED, merged=result)
    policy = options.owner.policy(desired)
    if skipped := _skip_existing(policy, options.owner.policy(live)):
        return PlannedObject(desired, Action.SKIPPED, skipped=skipped, live=live)
    return await _plan_update(kube, desired, live, options)


async def _is_namespaced(kube: KubeClient, ref: ObjectRef) -> bool:
    try:
        return (await kube.resource_info(ref.api_version, ref.kind)).namespaced
    except KubeError:
        # An unknown kind is reported by its dry-run, with the API server's words.
        return False


async def _plan_update(
    kube: KubeClient, desired: KubeObject, live: KubeObject, options: ApplyOptions
) -> PlannedObject | PlanFailure:
    ref = ObjectRef.of(desired)
    applied = keep_ignored_fields(desired, live, options.ignore_rules)
    try:
        result = await dry_run(kube, applied, options)
    except Unreachable:
        raise
    except KubeError as error:
        if not is_immutable_error(error):
            return PlanFailure(desired, f"{ref} dry-run failed: {error.message}")
        owner = options.owner
        recreate = owner.policy(desired).recreate or owner.policy(live).recreate
        if not (options.recreate_immutable or recreate):
            return PlanFailure(desired, immutable_failure(ref, error, owner.recreate_hint))
        # The new object is created as declared: there is no live value left to keep.
        if failure := await replacement_failure(kube, desired):
            return PlanFailure(desired, failure)
        return PlannedObject(
            desired,
            Action.CREATED,
            replaces=str(live["metadata"]["uid"]),
            immutable=tuple(immutable_fields(error.message)),
            live=live,
        )
    return _plan_checked_update(applied, live, result, options)


def _plan_checked_update(
    applied: KubeObject, live: KubeObject, result: KubeObject, options: ApplyOptions
) -> PlannedObject:
    """The action for an existing object whose dry-run as ``applied`` gave ``result``."""
    owner = options.owner
    merge = ApplyMode.MERGE in (owner.policy(applied).mode, owner.policy(live).mode)
    taking_over = not merge and needs_take_over(live, owner.field_manager, result)
    # A take-over is a write even when the dry-run shows no change: the dry-run ran
    # while kubectl still co-owned the fields that the apply after it will remove.
    drifted = taking_over or has_drifted(result, live)
    action = Action.CONFIGURED if drifted else Action.UNCHANGED
    return PlannedObject(applied, action, take_over=taking_over, live=live, merged=result)


def _skip_reason(policy: ObjectPolicy) -> SkipReason | None:
    if not policy.reconcile:
        return SkipReason.RECONCILE_DISABLED
    if policy.mode is ApplyMode.IGNORE:
        return SkipReason.APPLY_IGNORED
    return None


def _skip_existing(desired: ObjectPolicy, live: ObjectPolicy) -> SkipReason | None:
    """Why an object that exists is left alone: its live annotations, or ``IfNotPresent``."""
    if skipped := _skip_reason(live):
        return skipped
    return SkipReason.EXISTS if desired.mode is ApplyMode.IF_NOT_PRESENT else None


async def dry_run(kube: KubeClient, obj: KubeObject, options: ApplyOptions) -> KubeObject:
    """The server-side apply dry-run of ``obj`` by the owner's field manager."""
    return await kube.apply(
        obj, force=options.force, dry_run=True, field_manager=options.owner.field_manager
    )


def defined_kind(crd: KubeObject) -> tuple[str, str]:
    """The (group, kind) a CustomResourceDefinition defines."""
    spec = crd.get("spec") or {}
    return str(spec.get("group", "")), str((spec.get("names") or {}).get("kind", ""))


def group_kind(obj: KubeObject) -> tuple[str, str]:
    return str(obj.get("apiVersion", "")).rpartition("/")[0], str(obj.get("kind", ""))


async def bounded(calls: Iterable[Awaitable[T]]) -> list[T]:
    """Await ``calls`` concurrently, at most :data:`CONCURRENT_REQUESTS` at a time, in order;
    the first that raises cancels the others, and its exception comes out."""
    limit = asyncio.Semaphore(CONCURRENT_REQUESTS)

    async def run(call: Awaitable[T]) -> T:
        async with limit:
            return await call

    pending = list(calls)
    tasks = [asyncio.ensure_future(run(call)) for call in pending]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for call in pending:
            if inspect.iscoroutine(call):
                call.close()  # one cancelled before it started was never awaited
        raise
