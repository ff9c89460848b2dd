"""The steps of a sync run against the cluster: each step's prunes, then its objects
applied and its hooks created, then a wait until the objects are healthy and the hooks
complete, as Argo CD's sync runs a wave before the next.

A hook whose delete policy is ``BeforeHookCreation`` (the default) is deleted first, and
waited for, when an earlier sync left it; ``HookSucceeded`` and ``HookFailed`` delete it
once it has ended so. A hook or an object that degrades (a Job that fails, a Deployment
past its progress deadline) fails the sync with :class:`SyncFailed`, whose message names
it; so does a step not healthy within :data:`STEP_TIMEOUT_SECONDS`. What was done to
each object is kept in :attr:`StepRunner.results`, as ``operationState.syncResult``
lists it.

Called by the Application reconciler for each step of a sync plan
(:mod:`lockstep.controllers.argo.syncplan`) and for the ``SyncFail`` hooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lockstep.api.argo import ResourceResult
from lockstep.apply import ApplyError, ApplyOptions, InventoryEntry, apply_all
from lockstep.controllers.argo.syncplan import (
    ApplyTask,
    HookDeletePolicy,
    PropagationPolicy,
    PruneTask,
    SyncOptions,
)
from lockstep.controllers.drift import DriftWatcher
from lockstep.health.argo import ArgoHealthStatus, argo_health
from lockstep.kube import KubeClient, KubeError, NotFound, ObjectRef
from lockstep.kube.client import Propagation

STEP_TIMEOUT_SECONDS = 300.0
"""How long one step of a sync may take to be healthy, its hooks to complete."""
POLL_SECONDS = 2.0
"""How often a running step is looked at: Argo CD's pause between waves."""

_PROPAGATIONS: dict[PropagationPolicy, Propagation] = {
    PropagationPolicy.FOREGROUND: "Foreground",
    PropagationPolicy.BACKGROUND: "Background",
    PropagationPolicy.ORPHAN: "Orphan",
}


class SyncFailed(Exception):
    """A sync stopped: the message names the object and why."""


class StepRunner:
    """Runs the steps of one sync with ``options`` (the Application as owner), telling
    ``drift`` of the deletions it makes itself."""

    def __init__(self, kube: KubeClient, drift: DriftWatcher | None, options: ApplyOptions) -> None:
        self._kube = kube
        self._drift = drift
        self._options = options
        self.results: list[ResourceResult] = []
        """What was done to each object, in order."""

    async def run_step(self, prunes: Iterable[PruneTask], applies: Sequence[ApplyTask]) -> None:
        """One step: its prunes, then its objects and hooks, until healthy and complete."""
        for prune in prunes:
            await self._prune(prune)
        for task in applies:
            if task.hook and HookDeletePolicy.BEFORE_HOOK_CREATION in task.hook.delete_policies:
                await self._delete_and_wait(task.ref)
        objects = [self._options.owner.mark(task.obj) for task in applies]
        try:
            await apply_all(self._kube, objects, self._options)
        except ApplyError as error:
            for task in applies:
                self.results.append(resource_result(task.obj, "SyncFailed", str(error), task))
            raise SyncFailed(str(error)) from error
        for task in applies:
            self.results.append(
                resource_result(
                    task.obj, "Synced", "synced", task, hook_phase="Running" if task.hook else None
                )
            )
        await self._wait_step(applies)

    async def _prune(self, task: PruneTask) -> None:
        if task.skipped or task.needs_confirmation:
            why = task.skipped or "waiting for prune confirmation"
            self.results.append(resource_result(task.obj, "PruneSkipped", why))
            return
        if self._drift is not None:
            self._drift.expect_deletion([InventoryEntry.of(task.ref)])
        try:
            await self._kube.delete(task.ref, propagation=_propagation(task.options))
        except NotFound:
            pass
        except KubeError as error:
            self.results.append(resource_result(task.obj, "SyncFailed", str(error)))
            raise SyncFailed(f"{task.ref}: pruning failed: {error}") from error
        self.results.append(resource_result(task.obj, "Pruned", "pruned"))

    async def _wait_step(self, applies: Sequence[ApplyTask]) -> None:
        """Until every object of the step is healthy and every hook complete; a hook that
        fails, or an object that degrades, fails the sync."""
        deadline = time.monotonic() + STEP_TIMEOUT_SECONDS
        pending = list(applies)
        while pending:
            waiting = []
            for task in pending:
                try:
                    live = await self._kube.get(task.ref)
                except NotFound:
                    live = None
                health = argo_health(live)
                if health is None or health.status in (
                    ArgoHealthStatus.HEALTHY,
                    ArgoHealthStatus.SUSPENDED,
                ):
                    await self._hook_done(task, succeeded=True)
                    continue
                if health.status is ArgoHealthStatus.DEGRADED:
                    await self._hook_done(task, succeeded=False)
                    raise SyncFailed(
                        f"{task.ref} {'hook ' if task.hook else ''}failed: {health.message}"
                    )
                waiting.append((task, health))
            if not waiting:
                return
            if time.monotonic() > deadline:
                task, health = waiting[0]
                raise SyncFailed(
                    f"{task.ref} is not healthy after {STEP_TIMEOUT_SECONDS:.0f}s: "
                    f"{health.status.code}: {health.message}"
                )
            pending = [task for task, _ in waiting]
            await asyncio.sleep(POLL_SECONDS)

    async def _hook_done(self, task: ApplyTask, *, succeeded: bool) -> None:
        if task.hook is None:
            return
        for result in self.results:
            if result.name == task.ref.name and result.kind == task.ref.kind and result.hook_type:
                result.hook_phase = "Succeeded" if succeeded else "Failed"
        policy = HookDeletePolicy.HOOK_SUCCEEDED if succeeded else HookDeletePolicy.HOOK_FAILED
        if policy in task.hook.delete_policies:
            with contextlib.suppress(NotFound):
                await self._kube.delete(task.ref, propagation="Background")

    async def _delete_and_wait(self, ref: ObjectRef) -> None:
        """A hook of an earlier sync deleted before it is created again."""
        try:
            await self._kube.delete(ref, propagation="Background")
        except NotFound:
            return
        deadline = time.monotonic() + STEP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            try:
                await self._kube.get(ref)
            except NotFound:
                return
            await asyncio.sleep(0.5)
        raise SyncFailed(f"{ref} of an earlier sync is still being deleted")


def resource_result(
    obj: Mapping[str, Any],
    status: str,
    message: str,
    task: ApplyTask | None = None,
    *,
    hook_phase: str | None = None,
) -> ResourceResult:
    ref = ObjectRef.of(obj)
    group, _, version = ref.api_version.rpartition("/")
    hook_type = task.hook.types[0].value if task and task.hook and task.hook.types else None
    return ResourceResult(
        group=group,
        version=version,
        kind=ref.kind,
        namespace=ref.namespace,
        name=ref.name,
        status=status,
        message=message,
        hook_type=hook_type,
        hook_phase=hook_phase,
        sync_phase=task.phase.value if task else None,
    )


def _propagation(options: SyncOptions) -> Propagation:
    return _PROPAGATIONS[options.prune_propagation_policy]
