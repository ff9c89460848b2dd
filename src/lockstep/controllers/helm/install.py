"""Install and upgrade, apply and wait: what a Helm action does on the cluster once its
revision is rendered and stored pending.

The namespace (``createNamespace``), the chart's CRDs per the ``crds`` policy, the
hooks of the action (:mod:`.hooks`), the manifest applied in stages under the
HelmRelease's owner with ``commonMetadata`` (``disableTakeOwnership`` checked first),
the objects only the previous revision had deleted, and the wait until the objects are
healthy (``healthCheckExprs`` included), cancelled when the HelmRelease is deleted or
given a new spec; then the chart's tests (``spec.test``). The release's objects are
watched on its cluster (:mod:`lockstep.controllers.drift`) for the health wait and, with
drift detection on, for drift.

Called by :mod:`.release`, and by :mod:`.remediation` (rollback, uninstall) and
:mod:`.drift_detection`.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from lockstep.api.conditions import remove_condition, set_condition
from lockstep.api.helm import HelmAction, HelmRelease, HelmReleaseStatus, ReleaseAction
from lockstep.api.meta import ConditionReason, duration_seconds
from lockstep.apply import (
    ApplyError,
    ApplyOptions,
    InventoryEntry,
    Owner,
    apply_all,
    default_prune_options,
    helm_ownership_problems,
    helm_release_owner,
    prune,
    sort_for_apply,
    stale_entries,
    wait_healthy,
    with_default_namespace,
)
from lockstep.apply.health_wait import HealthCheckFailed
from lockstep.controllers.drift import DriftWatcher
from lockstep.controllers.helm.hooks import HookFailed, TestResult, run_hooks, run_tests
from lockstep.controllers.helm.reasons import (
    TEST_FAILED,
    TEST_SUCCEEDED,
    TEST_SUCCESS,
    UPGRADE_FAILED,
    failed_reason,
    helmrelease_key,
    helmrelease_name,
    one_line,
)
from lockstep.controllers.helm.rendering import RenderedRelease
from lockstep.controllers.helm.storage import Release
from lockstep.controllers.shell import Failure
from lockstep.health import (
    GroupKind,
    HealthCheck,
    HealthCheckExpr,
    HealthCheckExprError,
    compile_health_check_exprs,
)
from lockstep.kube import KubeClient, KubeObject, NotFound, ObjectRef
from lockstep.render.errors import RenderError
from lockstep.render.helm import Hook, Rendered, manifest_objects

DRIFT_DETECTION_KEY = "helm.toolkit.fluxcd.io/driftDetection"


def release_owner(obj: HelmRelease) -> Owner:
    return helm_release_owner(
        obj.metadata.name,
        obj.metadata.namespace or "",
        obj.release_name(),
        obj.release_namespace(),
    )


async def resource_exists(kube: KubeClient, obj: KubeObject) -> bool:
    try:
        await kube.get(ObjectRef.of(obj))
    except NotFound:
        return False
    return True


def stored_objects(release: Release) -> list[KubeObject]:
    """The objects of a stored revision's manifest; one that cannot be read (a revision
    Helm or an older engine stored) fails the reconcile, naming the revision."""
    try:
        return manifest_objects(release.manifest)
    except RenderError as error:
        raise Failure(
            ConditionReason.RECONCILIATION_FAILED,
            f"release {release.namespace}/{release.name}.v{release.version} holds a manifest "
            f"that cannot be read: {error}",
        ) from error


def watch_objects(
    watches: DriftWatcher | None, obj: HelmRelease, objects: Sequence[KubeObject]
) -> None:
    """Watch the release's ``objects`` on its cluster (``watches``, ``None`` when its
    cluster is not held or not watched): the health wait judges their watched copies;
    with drift detection on, a change of one by someone else also reconciles the release
    within about a second (:mod:`lockstep.controllers.drift`) instead of at its interval,
    and without it no change does."""
    if watches is None:
        return
    if obj.drift_detection_mode() == "disabled":
        entries = [InventoryEntry.of(ObjectRef.of(o)) for o in objects]
        watches.track(helmrelease_key(obj), entries, drift=False)
        return
    entries = [
        InventoryEntry.of(ObjectRef.of(o)) for o in objects if not drift_detection_disabled(o)
    ]
    watches.track(helmrelease_key(obj), entries)


def expect_deletion(watches: DriftWatcher | None, entries: Sequence[InventoryEntry]) -> None:
    """The release is about to delete ``entries`` itself: their deletion is no drift."""
    if watches is not None:
        watches.expect_deletion(entries)


def drift_detection_disabled(obj: KubeObject) -> bool:
    metadata = obj.get("metadata") or {}
    marks = {**(metadata.get("labels") or {}), **(metadata.get("annotations") or {})}
    return marks.get(DRIFT_DETECTION_KEY) == "disabled"


async def install_release(
    kube: KubeClient,
    obj: HelmRelease,
    rendered: RenderedRelease,
    release: Release,
    previous: Release | None,
    upgrade: bool,
    *,
    watches: DriftWatcher | None,
    cancelled: asyncio.Event,
) -> None:
    """Install or upgrade: the namespace (``createNamespace``), the chart's CRDs per the
    ``crds`` policy, the ``pre-`` hooks, the manifest (:func:`apply_manifest`, with
    ``watches`` and ``cancelled``), the ``post-`` hooks; the hooks' runs are recorded in
    ``release.hooks``."""
    action: ReleaseAction = "upgrade" if upgrade else "install"
    namespace = obj.release_namespace()
    if obj.create_namespace() and not upgrade:
        await kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    policy = obj.crds_policy(action)
    if policy != "Skip" and rendered.crds:
        crd_objects = rendered.crds
        if policy == "Create":
            crd_objects = [c for c in crd_objects if not await resource_exists(kube, c)]
        try:
            await apply_all(kube, crd_objects, ApplyOptions(owner=release_owner(obj)))
        except ApplyError as error:
            raise Failure(failed_reason(action), f"CRDs: {error}") from error
    await run_action_hooks(kube, obj, rendered.rendered.hooks, f"pre-{action}", release, action)
    await apply_manifest(
        kube,
        obj,
        rendered.objects,
        previous,
        wait=not obj.wait_disabled(action),
        action=action,
        watches=watches,
        cancelled=cancelled,
    )
    await run_action_hooks(kube, obj, rendered.rendered.hooks, f"post-{action}", release, action)


async def run_action_hooks(
    kube: KubeClient,
    obj: HelmRelease,
    hooks: Sequence[Hook],
    event: str,
    release: Release,
    action: HelmAction,
) -> None:
    """Run the hooks of ``event`` unless the action disables hooks; a failing hook fails
    the action."""
    if not hooks or obj.hooks_disabled(action):
        return
    try:
        await run_hooks(
            kube,
            hooks,
            event,
            namespace=obj.release_namespace(),
            owner=release_owner(obj),
            timeout=duration_seconds(obj.action_timeout(action)),
            records=release.hooks,
        )
    except HookFailed as error:
        raise Failure(failed_reason(action), str(error)) from error


async def run_release_tests(
    kube: KubeClient,
    obj: HelmRelease,
    rendered: Rendered,
    release: Release,
    status: HelmReleaseStatus,
    action: ReleaseAction,
) -> TestResult | None:
    """With ``spec.test.enable``, run the chart's tests (Helm's ``helm test``) and set
    TestSuccess; failed tests fail the action unless failures are ignored."""
    test = obj.spec.test
    if test is None or not test.enable:
        status.conditions = remove_condition(status.conditions, TEST_SUCCESS)
        return None
    timeout = duration_seconds(test.timeout) if test.timeout else duration_seconds(obj.timeout())
    result = await run_tests(
        kube,
        rendered.hooks,
        namespace=obj.release_namespace(),
        owner=release_owner(obj),
        timeout=timeout,
        records=release.hooks,
        filters=test.filters or (),
    )
    now = datetime.now(UTC)
    name = f"{release.namespace}/{release.name}.v{release.version}"
    if result.succeeded:
        message = f"Helm test succeeded for release {name} with chart {release.chart_name}@{release.chart_version}"
        if not result.runs:
            message += ": no test hooks"
        status.conditions = set_condition(
            status.conditions,
            TEST_SUCCESS,
            "True",
            TEST_SUCCEEDED,
            message,
            generation=obj.metadata.generation,
            now=now,
        )
        return result
    message = (
        f"Helm test failed for release {name} with chart "
        f"{release.chart_name}@{release.chart_version}: {result.failure}"
    )
    status.conditions = set_condition(
        status.conditions,
        TEST_SUCCESS,
        "False",
        TEST_FAILED,
        message,
        generation=obj.metadata.generation,
        now=now,
    )
    if not obj.ignores_test_failures(action):
        raise Failure(TEST_FAILED, message)
    return result


async def apply_manifest(
    kube: KubeClient,
    obj: HelmRelease,
    manifest: list[KubeObject],
    previous: Release | None,
    *,
    wait: bool,
    action: HelmAction,
    watches: DriftWatcher | None,
    cancelled: asyncio.Event,
) -> None:
    """Apply the objects of a manifest in stages, delete those only ``previous`` had,
    and with ``wait`` wait until they are healthy within the release's timeout, or until
    ``cancelled`` is set (the HelmRelease deleted or given a new spec). ``watches``: the
    drift watches of the release's cluster, if any (:func:`watch_objects`)."""
    owner = release_owner(obj)
    options = ApplyOptions(owner=owner, recreate_immutable=obj.upgrade_force())
    namespace = obj.release_namespace()
    objects = [
        with_common_metadata(o, obj)
        for o in await with_default_namespace(kube, copy.deepcopy(manifest), namespace)
    ]
    if (action == "install" or action == "upgrade") and obj.take_ownership_disabled(action):
        await check_ownership(kube, obj, objects, previous, action)
    watch_objects(watches, obj, objects)
    try:
        applied = await apply_all(kube, objects, options)
    except ApplyError as error:
        raise Failure(failed_reason(action), str(error)) from error
    new = [InventoryEntry.of(ObjectRef.of(o)) for o in sort_for_apply(objects)]
    if previous is not None:
        old_objects = await with_default_namespace(kube, stored_objects(previous), namespace)
        old = [InventoryEntry.of(ObjectRef.of(o)) for o in old_objects]
        stale = stale_entries(old, new)
        expect_deletion(watches, stale)
        pruned = await prune(kube, stale, default_prune_options(owner))
        if pruned.failures:
            raise Failure(failed_reason(action), f"deleting removed objects: {pruned.failures[0]}")
    if not wait:
        return
    overrides = health_overrides(obj)
    try:
        await wait_healthy(
            kube,
            [ObjectRef.of(o) for o in objects],
            overrides,
            within=duration_seconds(obj.action_timeout(action)),
            cancelled=cancelled,
            # What the apply answered counts as a read: healthy objects are not read.
            observed=applied.observed,
            # Watched by watch_objects, drift detection on or not.
            cached=watches.health_copies(overrides.keys()) if watches is not None else None,
        )
    except HealthCheckFailed as error:
        raise Failure(failed_reason(action), one_line(error)) from error


async def check_ownership(
    kube: KubeClient,
    obj: HelmRelease,
    objects: Sequence[KubeObject],
    previous: Release | None,
    action: ReleaseAction,
) -> None:
    """``disableTakeOwnership``: an object the previous revision did not have that
    exists already must carry Helm's ownership metadata of this release, as Helm
    requires without ``--take-ownership``; else the action fails naming it."""
    name, namespace = obj.release_name(), obj.release_namespace()
    known = (
        {InventoryEntry.of(ObjectRef.of(o)).id for o in stored_objects(previous)}
        if previous is not None
        else set()
    )
    for manifest in objects:
        ref = ObjectRef.of(manifest)
        if InventoryEntry.of(ref).id in known:
            continue
        try:
            live = await kube.get(ref)
        except NotFound:
            continue
        problems = helm_ownership_problems(live, name, namespace)
        if problems:
            where = f' in namespace "{ref.namespace}"' if ref.namespace else ""
            raise Failure(
                failed_reason(action),
                f'Unable to continue with {action}: {ref.kind} "{ref.name}"{where} exists '
                "and cannot be imported into the current release: invalid ownership "
                f"metadata; {'; '.join(problems)}",
            )


def with_common_metadata(manifest: KubeObject, obj: HelmRelease) -> KubeObject:
    """``spec.commonMetadata``: its labels and annotations set on the object, over its own."""
    common = obj.spec.common_metadata
    if common is None or not (common.labels or common.annotations):
        return manifest
    metadata = manifest.setdefault("metadata", {})
    if common.labels:
        metadata["labels"] = {**(metadata.get("labels") or {}), **common.labels}
    if common.annotations:
        metadata["annotations"] = {**(metadata.get("annotations") or {}), **common.annotations}
    return manifest


def health_overrides(obj: HelmRelease) -> Mapping[GroupKind, HealthCheck]:
    """``spec.healthCheckExprs`` for the health wait."""
    try:
        return compile_health_check_exprs(
            HealthCheckExpr(
                e.api_version, e.kind or "", e.current, e.in_progress or "", e.failed or ""
            )
            for e in obj.spec.health_check_exprs
        )
    except HealthCheckExprError as error:
        raise Failure(
            UPGRADE_FAILED,
            f"{helmrelease_name(obj)}: spec.healthCheckExprs: {error}",
            terminal=True,
        ) from error
