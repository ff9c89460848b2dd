"""The cascading deletion of an Argo CD Application (``resources-finalizer.argocd.argoproj.io``)
run against the cluster, as Argo CD 3.x runs it: its PreDelete hooks created and waited
for, then its objects deleted, then its PostDelete hooks created and waited for, then the
hooks removed as their delete policies say; the caller removes the finalizer once
:func:`delete_application` says it is done. What to delete and which hooks to run come
from the deletion plan (:func:`lockstep.controllers.argo.syncplan.plan_deletion`).

Each call looks at the cluster and moves the deletion on as far as it can without
waiting, then says when to look again, so one Application's deletion never holds the
reconciler. The hook objects are the memory of what has run: they stay in the cluster
until the end (an engine restarted meanwhile finds them complete and goes on, and does
not run them twice), and only then does a hook whose policy says ``HookSucceeded`` go.
``BeforeHookCreation`` hooks (the default) stay behind, as in Argo CD.

A hook that fails stops the deletion with :class:`DeletionHookFailed`: the finalizer stays
and no object is deleted (a PreDelete hook) or the rest is not cleaned up (a PostDelete
hook). The failed hook is kept whatever its policy, so the deletion stays stopped until
someone looks: deleting the hook object runs it again. Waiting is bounded: a hook ends
when it is healthy (a Job complete) or degraded (a Job failed, its ``backoffLimit`` or
its ``activeDeadlineSeconds`` reached), and one that has done neither
:data:`HOOK_TIMEOUT_SECONDS` after it was created counts as failed.

Objects are deleted a step of the plan at a time (a wave and a kind), each step once the
one before is gone, with foreground propagation; with the ``/background`` finalizer all at
once in the background, waited for only when PostDelete hooks are to run after them.
Those marked ``Delete=confirm`` are left in place: confirming a deletion is not supported
yet.

Called by the Application reconciler's ``finalize``
(:mod:`lockstep.controllers.argo.application`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime

from lockstep.apply import Owner
from lockstep.controllers.argo.steps import POLL_SECONDS, STEP_TIMEOUT_SECONDS
from lockstep.controllers.argo.syncplan import (
    DeletionPlan,
    HookDeletePolicy,
    HookType,
    hook_of,
)
from lockstep.health.argo import ArgoHealthStatus, argo_health
from lockstep.kube import KubeClient, KubeObject, NotFound, ObjectRef

HOOK_TIMEOUT_SECONDS = STEP_TIMEOUT_SECONDS
"""How long after its creation a delete hook may run before it counts as failed."""


class DeletionHookFailed(Exception):
    """A PreDelete or PostDelete hook failed; the message names it, why, and what to do."""


async def delete_application(
    kube: KubeClient,
    plan: DeletionPlan,
    *,
    owner: Owner,
    background: bool,
    clock: float | None = None,
) -> float | None:
    """Move the deletion of ``plan`` on: None once it is done, else the seconds after
    which to look again. ``owner`` marks the hooks as the Application's; ``clock`` (unix
    seconds, now by default) is when hooks are judged for :data:`HOOK_TIMEOUT_SECONDS`."""
    at = time.time() if clock is None else clock
    if not await _hooks_done(kube, plan.pre_delete, HookType.PRE_DELETE, owner, at):
        return POLL_SECONDS
    confirm = {ObjectRef.of(o) for o in plan.needs_confirmation}
    remaining = False
    for step in plan.steps:
        objects = [o for o in step.objects if ObjectRef.of(o) not in confirm]
        if not objects:
            continue
        remaining = True
        await _delete(kube, objects, background)
        if not background:
            return POLL_SECONDS
    if remaining and (not background or plan.post_delete):
        return POLL_SECONDS
    if not await _hooks_done(kube, plan.post_delete, HookType.POST_DELETE, owner, at):
        return POLL_SECONDS
    await _clean_up(kube, [*plan.pre_delete, *plan.post_delete])
    return None


def named_delete_hook(obj: KubeObject, hook_type: HookType) -> KubeObject:
    """``obj`` named, when it has only ``generateName``, ``<generateName><type>`` in lower
    case: one name per Application, so a hook is found again on the next look."""
    meta = obj.get("metadata") or {}
    if meta.get("name") or not meta.get("generateName"):
        return obj
    return {**obj, "metadata": {**meta, "name": f"{meta['generateName']}{hook_type.lower()}"}}


async def _hooks_done(
    kube: KubeClient, hooks: Sequence[KubeObject], hook_type: HookType, owner: Owner, at: float
) -> bool:
    """Whether every hook of ``hooks`` has completed; creates those not there yet, raises
    :class:`DeletionHookFailed` for one that failed or ran too long."""
    done = True
    for hook in hooks:
        manifest = owner.mark(named_delete_hook(hook, hook_type))
        ref = ObjectRef.of(manifest)
        try:
            live = await kube.get(ref)
        except NotFound:
            await kube.apply(manifest, field_manager=owner.field_manager)
            done = False
            continue
        health = argo_health(live)
        if health is None or health.status in (
            ArgoHealthStatus.HEALTHY,
            ArgoHealthStatus.SUSPENDED,
        ):
            continue
        if health.status is ArgoHealthStatus.DEGRADED:
            raise DeletionHookFailed(
                f"{hook_type} hook {ref} failed: {health.message or health.status.code}; "
                f"{_what_to_do(ref)}"
            )
        if at - _created_at(live) > HOOK_TIMEOUT_SECONDS:
            raise DeletionHookFailed(
                f"{hook_type} hook {ref} has not completed within "
                f"{HOOK_TIMEOUT_SECONDS:.0f}s: {health.message or health.status.code}; "
                f"{_what_to_do(ref)}"
            )
        done = False
    return done


def _what_to_do(ref: ObjectRef) -> str:
    return (
        f"the Application is kept until it succeeds: fix it in the source and delete "
        f"{ref.kind} {ref.namespace}/{ref.name} to run it again"
    )


async def _delete(kube: KubeClient, objects: Sequence[KubeObject], background: bool) -> None:
    """Deletes those of ``objects`` not being deleted yet."""
    for obj in objects:
        if (obj.get("metadata") or {}).get("deletionTimestamp"):
            continue
        await kube.delete(
            ObjectRef.of(obj), propagation="Background" if background else "Foreground"
        )


async def _clean_up(kube: KubeClient, hooks: Sequence[KubeObject]) -> None:
    """The hooks whose policy says ``HookSucceeded`` deleted (all have succeeded by now)."""
    for hook in hooks:
        policies = hook_of(hook)
        if policies is None or HookDeletePolicy.HOOK_SUCCEEDED not in policies.delete_policies:
            continue
        types = [t for t in policies.types if t in (HookType.PRE_DELETE, HookType.POST_DELETE)]
        for hook_type in types:
            await kube.delete(ObjectRef.of(named_delete_hook(hook, hook_type)))


def _created_at(live: KubeObject) -> float:
    text = str((live.get("metadata") or {}).get("creationTimestamp") or "")
    try:
        created = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return time.time()
    return created.timestamp()
