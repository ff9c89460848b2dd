"""The apply verb: staged server-side apply of a set of objects, writing only what drifted.

For each stage (see :mod:`lockstep.apply.sort`): read the live objects, dry-run
every object of the stage, and only when all dry-runs pass, write the objects
that drifted; then wait for the stage's CRDs and Namespaces before the next
stage, whose objects may need them to be validated at all.

Called by the Kustomization reconciler (and anything else that applies a set).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from lockstep.apply.changeset import Action, ApplyError, ChangeSet
from lockstep.apply.diff import has_drifted
from lockstep.apply.objects import (
    Owner,
    is_if_not_present,
    is_reconcile_disabled,
    is_ssa_ignored,
)
from lockstep.apply.sort import split_into_stages
from lockstep.apply.wait import wait_for_definitions
from lockstep.kube import KubeClient, KubeError, KubeObject, NotFound, ObjectRef

T = TypeVar("T")

# Reads and dry-runs of a stage go out together, but bounded, so a set of a
# thousand objects does not hit the API server with a thousand requests at once.
CONCURRENT_REQUESTS = 8


@dataclass(frozen=True)
class ApplyOptions:
    """How :func:`apply_all` applies a set.

    ``owner``: the Kustomization whose labels every object gets.
    ``force``: take over fields other field managers own instead of failing on conflicts.
    ``wait_timeout`` / ``wait_interval``: how long, and how often, to poll for a stage's
    CRDs to be Established and Namespaces Active before the next stage.
    """

    owner: Owner
    force: bool = True
    wait_timeout: float = 60.0
    wait_interval: float = 0.5


def default_apply_options(owner: Owner) -> ApplyOptions:
    return ApplyOptions(owner=owner)


@dataclass(frozen=True)
class _Planned:
    """What a stage will do with one object, decided before anything is written."""

    desired: KubeObject
    action: Action

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef.of(self.desired)


async def apply_all(
    kube: KubeClient, objects: Iterable[KubeObject], options: ApplyOptions
) -> ChangeSet:
    """Apply ``objects`` stage by stage; raise :class:`ApplyError` naming the objects at fault."""
    changeset = ChangeSet()
    for stage in split_into_stages(options.owner.label(obj) for obj in objects):
        await _apply_stage(kube, stage, options, changeset)
        not_ready = await wait_for_definitions(
            kube, stage, within=options.wait_timeout, interval=options.wait_interval
        )
        if not_ready:
            raise ApplyError(f"{'; '.join(not_ready)} after {options.wait_timeout:.0f}s", changeset)
    return changeset


async def _apply_stage(
    kube: KubeClient, stage: list[KubeObject], options: ApplyOptions, changeset: ChangeSet
) -> None:
    outcomes = await _bounded(_plan(kube, obj, options) for obj in stage)
    failures = [outcome for outcome in outcomes if isinstance(outcome, str)]
    if failures:
        raise ApplyError("; ".join(failures), changeset)
    for planned in (outcome for outcome in outcomes if isinstance(outcome, _Planned)):
        if planned.action in (Action.CREATED, Action.CONFIGURED):
            try:
                await kube.apply(planned.desired, force=options.force)
            except KubeError as error:
                raise ApplyError(
                    f"{planned.ref} apply failed: {error.message}", changeset
                ) from error
        changeset.add(planned.ref, planned.action)


async def _plan(kube: KubeClient, desired: KubeObject, options: ApplyOptions) -> _Planned | str:
    """Decide the action for one object by reading and dry-running it; a string is a failure."""
    ref = ObjectRef.of(desired)
    if is_reconcile_disabled(desired) or is_ssa_ignored(desired):
        return _Planned(desired, Action.SKIPPED)
    try:
        live: KubeObject | None = await kube.get(ref)
    except NotFound:
        live = None
    except KubeError as error:
        return f"{ref} read failed: {error.message}"
    if live is not None and (
        is_reconcile_disabled(live) or is_ssa_ignored(live) or is_if_not_present(desired)
    ):
        return _Planned(desired, Action.SKIPPED)
    try:
        result = await kube.apply(desired, force=options.force, dry_run=True)
    except KubeError as error:
        return f"{ref} dry-run failed: {error.message}"
    if live is None:
        return _Planned(desired, Action.CREATED)
    return _Planned(desired, Action.CONFIGURED if has_drifted(result, live) else Action.UNCHANGED)


async def _bounded(calls: Iterable[Awaitable[T]]) -> list[T]:
    limit = asyncio.Semaphore(CONCURRENT_REQUESTS)

    async def run(call: Awaitable[T]) -> T:
        async with limit:
            return await call

    return await asyncio.gather(*(run(call) for call in calls))
