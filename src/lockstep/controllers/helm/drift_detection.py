"""``driftDetection`` of a HelmRelease: the cluster compared with the deployed revision.

A dry-run plan of the deployed revision's objects, with the ``ignore`` rules and the
``helm.toolkit.fluxcd.io/driftDetection: disabled`` opt-out; ``enabled`` applies the
objects that drifted again (nothing else is written), ``warn`` only names them in
Drifted=True. A release without drift costs the dry-runs and writes nothing.

Called by :mod:`.release` for a release already deployed as its spec says;
:func:`drift_ignored_pointers` by :class:`lockstep.controllers.drift.DriftWatcher`
(through :class:`lockstep.controllers.manager.ControllerManager`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from lockstep.api.conditions import remove_condition, set_condition
from lockstep.api.helm import HelmRelease, HelmReleaseStatus
from lockstep.apply import (
    ApplyError,
    ApplyOptions,
    IgnoreRule,
    apply_all,
    ignored_pointers,
    plan_all,
    with_default_namespace,
)
from lockstep.controllers.drift import DriftWatcher
from lockstep.controllers.helm.install import (
    drift_detection_disabled,
    release_owner,
    stored_objects,
    watch_objects,
)
from lockstep.controllers.helm.reasons import DRIFTED, UPGRADE_FAILED, helmrelease_name
from lockstep.controllers.helm.storage import Release
from lockstep.controllers.ignore import apply_ignore_rules
from lockstep.controllers.shell import Failure
from lockstep.kube import KubeClient, KubeObject

_log = logging.getLogger(__name__)


async def correct_drift(
    kube: KubeClient,
    obj: HelmRelease,
    deployed: Release,
    status: HelmReleaseStatus,
    *,
    watches: DriftWatcher | None,
) -> None:
    """``driftDetection``: compare the cluster with the deployed revision's objects
    (a dry-run plan, ``ignore`` rules and objects labelled or annotated
    ``helm.toolkit.fluxcd.io/driftDetection: disabled`` left out); ``enabled`` applies
    the objects that drifted (nothing else is written), ``warn`` only reports them.
    Drifted=True names them until the cluster matches again. ``watches``: those of the
    release's cluster, which watch the objects compared (:func:`.install.watch_objects`)."""
    mode = obj.drift_detection_mode()
    if mode == "disabled":
        watch_objects(watches, obj, [])
        status.conditions = remove_condition(status.conditions, DRIFTED)
        return
    objects = [
        o
        for o in await with_default_namespace(
            kube, stored_objects(deployed), obj.release_namespace()
        )
        if not drift_detection_disabled(o)
    ]
    watch_objects(watches, obj, objects)
    options = ApplyOptions(
        owner=release_owner(obj),
        recreate_immutable=obj.upgrade_force(),
        ignore_rules=drift_ignore_rules(obj),
    )
    plan = await plan_all(kube, objects, options)
    drifted = [str(planned.ref) for planned in plan.objects if planned.writes]
    now = datetime.now(UTC)
    if not drifted:
        status.conditions = remove_condition(status.conditions, DRIFTED)
        return
    shown = ", ".join(drifted[:5]) + (f" and {len(drifted) - 5} more" if len(drifted) > 5 else "")
    if mode == "warn":
        status.conditions = set_condition(
            status.conditions,
            DRIFTED,
            "True",
            "DriftDetected",
            f"Cluster state of release {deployed.namespace}/{deployed.name}.v"
            f"{deployed.version} differs from the release: {shown}",
            generation=obj.metadata.generation,
            now=now,
        )
        return
    try:
        await apply_all(kube, objects, options)
    except ApplyError as error:
        raise Failure(
            UPGRADE_FAILED, f"{helmrelease_name(obj)}: correcting drift of {shown}: {error}"
        ) from error
    status.conditions = remove_condition(status.conditions, DRIFTED)
    _log.info("%s: corrected drift of %s", helmrelease_name(obj), shown)


def drift_ignore_rules(obj: HelmRelease) -> tuple[IgnoreRule, ...]:
    """``driftDetection.ignore`` as the apply engine's rules."""
    detection = obj.spec.drift_detection
    if detection is None:
        return ()
    try:
        return apply_ignore_rules(detection.ignore)
    except ValueError as error:
        raise Failure(
            UPGRADE_FAILED,
            f"{helmrelease_name(obj)}: spec.driftDetection.ignore: {error}",
            terminal=True,
        ) from error


def drift_ignored_pointers(owner: KubeObject, obj: KubeObject) -> list[str]:
    """The ``driftDetection.ignore`` pointers of the HelmRelease ``owner`` that apply to
    ``obj``: changes there are no drift (for :class:`~lockstep.controllers.drift.DriftWatcher`)."""
    try:
        rules = drift_ignore_rules(HelmRelease.model_validate(owner))
    except (ValueError, Failure):
        return []
    return ignored_pointers(obj, rules)
