"""Remediation of a failed Helm action, and uninstall: what undoes a release.

As Flux's helm-controller remediates: a failed install is uninstalled, a failed upgrade
rolled back to the deployed revision (a new revision copying it, its hooks run again),
or uninstalled with ``strategy: uninstall``; ``cleanupOnFail`` deletes what a failed
upgrade or rollback created. Uninstall deletes the objects of a revision (``keep`` ones
left), with its ``pre-``/``post-delete`` hooks, and removes its revisions or keeps them
``uninstalled``.

Called by :mod:`.release`: after a failed action, and when a HelmRelease is deleted.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from lockstep.api.helm import HelmRelease, ReleaseAction
from lockstep.apply import (
    ApplyError,
    InventoryEntry,
    PruneOptions,
    default_prune_options,
    prune,
    stale_entries,
    with_default_namespace,
)
from lockstep.apply.health_wait import HealthWaitCancelled
from lockstep.controllers.drift import DriftWatcher
from lockstep.controllers.helm.install import (
    apply_manifest,
    expect_deletion,
    release_owner,
    run_action_hooks,
    stored_objects,
)
from lockstep.controllers.helm.reasons import helmrelease_name, one_line
from lockstep.controllers.helm.storage import Release, ReleaseStatus, ReleaseStorage
from lockstep.controllers.shell import Failure
from lockstep.kube import KubeClient, KubeError, KubeObject, ObjectRef, Propagation
from lockstep.render.helm import Hook

PROPAGATIONS: dict[str, Propagation] = {
    "background": "Background",
    "foreground": "Foreground",
    "orphan": "Orphan",
}
"""``uninstall.deletionPropagation`` as the API server's propagation policies."""

_log = logging.getLogger(__name__)


async def clean_up(
    kube: KubeClient,
    obj: HelmRelease,
    objects: Sequence[KubeObject],
    previous: Release | None,
    *,
    watches: DriftWatcher | None,
) -> None:
    """``cleanupOnFail`` of an upgrade or a rollback: delete what the failed action
    created, the ``objects`` of its manifest the ``previous`` revision did not have, as
    Helm does; one that cannot be deleted is logged, and the action's failure stays
    what is told. ``watches``: those of the release's cluster, told of the deletions."""
    namespace = obj.release_namespace()
    new = await with_default_namespace(kube, copy.deepcopy(list(objects)), namespace)
    old = (
        await with_default_namespace(kube, stored_objects(previous), namespace) if previous else []
    )
    created = stale_entries(
        [InventoryEntry.of(ObjectRef.of(o)) for o in new],
        [InventoryEntry.of(ObjectRef.of(o)) for o in old],
    )
    expect_deletion(watches, created)
    pruned = await prune(kube, created, default_prune_options(release_owner(obj)))
    for failure in pruned.failures:
        _log.warning("%s: cleaning up after a failed action: %s", helmrelease_name(obj), failure)


async def remediate(
    kube: KubeClient,
    obj: HelmRelease,
    storage: ReleaseStorage,
    failed: Release,
    deployed: Release | None,
    action: ReleaseAction,
    *,
    watches: DriftWatcher | None,
    cancelled: asyncio.Event,
) -> str:
    """Undo a failed release as Flux's remediation does: a failed install is
    uninstalled, a failed upgrade rolled back to the deployed revision (or uninstalled,
    ``upgrade.remediation.strategy: uninstall``). Returns what was done, for the
    message; a remediation that fails too says so and leaves the failed release.
    ``watches`` and ``cancelled`` as for :func:`.install.apply_manifest`."""
    strategy = obj.remediation_strategy(action)
    try:
        if action == "upgrade" and strategy == "rollback" and deployed is not None:
            rolled = await roll_back(
                kube, obj, storage, failed, deployed, watches=watches, cancelled=cancelled
            )
            return f"; rolled back to revision {deployed.version} (revision {rolled})"
        await uninstall(
            kube, obj, storage, failed, keep_history=obj.keep_history(), watches=watches
        )
        return f"; uninstalled revision {failed.version}"
    except (Failure, KubeError, ApplyError) as error:
        _log.warning("%s: remediation failed: %s", helmrelease_name(obj), error)
        return f"; remediation failed: {one_line(error)}"


async def roll_back(
    kube: KubeClient,
    obj: HelmRelease,
    storage: ReleaseStorage,
    failed: Release,
    target: Release,
    *,
    watches: DriftWatcher | None,
    cancelled: asyncio.Event,
) -> int:
    """Helm's rollback: a new revision copying ``target``'s chart, values and manifest,
    applied; the objects only the failed revision had are deleted. A rollback that
    fails is stored as failed, as Helm stores it, and with ``rollback.cleanupOnFail``
    the objects it created are deleted again."""
    history = await storage.history(obj.release_name())
    revision = max(release.version for release in history) + 1
    now = datetime.now(UTC)
    rollback = replace(
        target,
        version=revision,
        status=ReleaseStatus.PENDING_ROLLBACK,
        description=f"Rollback to {target.version}",
        rollback_revision=target.version,
        last_deployed=now,
        hooks=copy.deepcopy(target.hooks),
        source=None,
        stored=None,
    )
    await storage.create(rollback)
    hooks = recorded_hooks(target)
    objects = stored_objects(rollback)
    try:
        await run_action_hooks(kube, obj, hooks, "pre-rollback", rollback, "rollback")
        await apply_manifest(
            kube,
            obj,
            objects,
            failed,
            wait=not obj.wait_disabled("rollback"),
            action="rollback",
            watches=watches,
            cancelled=cancelled,
        )
        await run_action_hooks(kube, obj, hooks, "post-rollback", rollback, "rollback")
    except (Failure, KubeError, ApplyError, HealthWaitCancelled) as error:
        description = f'Rollback "{rollback.name}" failed: {one_line(error)}'
        await storage.update(rollback.with_status(ReleaseStatus.FAILED, description))
        if obj.rollback_cleanup_on_fail():
            await clean_up(kube, obj, objects, failed, watches=watches)
        raise
    # Deployed first: a writer killed in between leaves two deployed, which the next
    # reconcile sets right (ReleaseStorage.supersede_older), never none.
    await storage.update(replace(rollback, status=ReleaseStatus.DEPLOYED))
    await storage.update(replace(target, status=ReleaseStatus.SUPERSEDED))
    return revision


async def uninstall(
    kube: KubeClient,
    obj: HelmRelease,
    storage: ReleaseStorage,
    release: Release,
    *,
    keep_history: bool,
    watches: DriftWatcher | None,
) -> None:
    """Helm's uninstall of ``release``: its objects deleted (``keep`` ones left), its
    revisions removed, or kept as ``uninstalled`` with ``keep_history``. ``watches``:
    those of the release's cluster, told of the deletions."""
    name, namespace = obj.release_name(), obj.release_namespace()
    owner = release_owner(obj)
    hooks = recorded_hooks(release)
    await run_action_hooks(kube, obj, hooks, "pre-delete", release, "uninstall")
    objects = await with_default_namespace(kube, stored_objects(release), namespace)
    entries = [InventoryEntry.of(ObjectRef.of(o)) for o in objects]
    expect_deletion(watches, entries)
    options = PruneOptions(owner, PROPAGATIONS[obj.deletion_propagation()])
    pruned = await prune(kube, stale_entries(entries, []), options)
    if pruned.failures:
        raise Failure(
            "UninstallFailed", f"{helmrelease_name(obj)}: uninstall failed: {pruned.failures[0]}"
        )
    await run_action_hooks(kube, obj, hooks, "post-delete", release, "uninstall")
    for revision in await storage.history(name):
        if keep_history:
            if revision.status in (ReleaseStatus.DEPLOYED, ReleaseStatus.FAILED):
                await storage.update(
                    revision.with_status(ReleaseStatus.UNINSTALLED, "Uninstallation complete")
                )
        else:
            await storage.delete(name, revision.version)


def recorded_hooks(release: Release) -> tuple[Hook, ...]:
    """The hooks a stored revision recorded, to run them again (rollback, uninstall)."""
    return tuple(
        Hook(
            name=str(record.get("name", "")),
            kind=str(record.get("kind", "")),
            path=str(record.get("path", "")),
            manifest=str(record.get("manifest", "")),
            events=tuple(record.get("events") or ()),
            weight=int(record.get("weight") or 0),
            delete_policies=tuple(record.get("delete_policies") or ()),
            output_log_policies=tuple(record.get("output_log_policies") or ()),
        )
        for record in release.hooks
    )
