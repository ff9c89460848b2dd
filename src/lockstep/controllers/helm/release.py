"""The HelmRelease reconciler: a chart and its values → a Helm release, installed or
upgraded by lockstep's own apply engine and stored in Helm's own format.

The outer shell (cache, finalizer, suspend, conditions, status, events) is the one
reconciler shell. The pipeline:

1. **Chart.** ``spec.chart`` makes (and keeps in step) the HelmChart
   ``<namespace>-<name>`` in the source's namespace, as Flux's helm-controller does (or,
   with ``kind: OCIRepository``, the OCIRepository ``<namespace>-<name>`` in its own);
   ``spec.chartRef`` names a HelmChart, or an OCIRepository holding a chart pushed by
   ``helm push`` (its layer copied or extracted; unpacked once per digest). The chart
   is read from the artifact store; until it is there the release waits, and is
   enqueued when it changes.
2. **Values.** ``spec.valuesFrom`` and ``spec.values`` (:mod:`.values`).
3. **Decide.** The release's history in its storage namespace (Helm's Secrets,
   :mod:`.storage`) says what to do: a release left pending by a crash is unlocked
   (marked failed) first; no deployed release → install; a deployed one with the same
   chart version, values, post-renderers and common metadata → nothing (no render, no
   write; drift detection aside); otherwise → upgrade.
4. **Render** with Helm's engine (:mod:`lockstep.render.helm`), as ``helm install`` or
   ``helm upgrade`` would, at the next revision.
5. **Lock, apply, prune, wait.** The new revision is stored ``pending-install`` or
   ``pending-upgrade`` first (Helm's lock: a crash leaves it pending, and the next
   reconcile unlocks it). CRDs of the chart's ``crds/`` are applied per the ``crds``
   policy (``Create`` by default, as Flux's controller does for both actions), then the
   objects (with ``commonMetadata``), in stages, by the apply engine under the
   HelmRelease's owner (Flux's labels and Helm's ownership metadata,
   :func:`lockstep.apply.helm_release_owner`); objects of the previous revision the
   chart no longer renders are deleted (``helm.sh/resource-policy: keep`` keeps them);
   unless ``disableWait``, the objects are waited for until healthy (``healthCheckExprs``
   included) within the action's timeout.
6. **Record.** The revision becomes ``deployed`` and the previous ``superseded``;
   history beyond ``maxHistory`` is removed. A failure marks the revision ``failed`` and
   counts it (``failures``, ``installFailures``, ``upgradeFailures``).

Status as Flux writes it: Ready and Released (``InstallSucceeded``/``UpgradeSucceeded``,
``Helm install succeeded for release <ns>/<name>.v<rev> with chart <chart>@<version>``;
``InstallFailed``/``UpgradeFailed``), ``history`` snapshots newest first,
``lastAttemptedRevision``, ``lastAttemptedConfigDigest``, ``lastAttemptedGeneration``,
``lastAttemptedReleaseAction``, ``helmChart``, ``storageNamespace``.

Deleting a HelmRelease uninstalls its release: the objects of the deployed revision are
deleted (``keep`` ones left), and its Secrets removed (``uninstall.keepHistory`` keeps
them, marked ``uninstalled``).

Hooks run as Helm runs them (:mod:`.hooks`): ``pre-``/``post-`` install, upgrade,
rollback and delete, unless the action disables hooks; with ``spec.test.enable`` the
chart's tests run after a release (TestSuccess, ``history[0].testHooks``), and failed
tests fail it unless ignored. ``dependsOn`` waits for other HelmReleases to be Ready
(or their ``readyExpr``). Remediation follows Flux: a failed action is retried up to
its ``remediation.retries``; before each retry (and after the last failure with
``remediateLastFailure``) a failed install is uninstalled and a failed upgrade rolled
back to the deployed revision (or uninstalled, ``strategy: uninstall``); retries
exhausted → Stalled, until the chart, the values or the spec change. With the
``RetryOnFailure`` strategy nothing is remediated and the action is tried again after
its ``retryInterval``.

With ``spec.serviceAccountName`` (or the engine's ``--default-service-account``) the
release is made as that service account of the HelmRelease's namespace: objects,
hooks and release Secrets alike.

``spec.postRenderers`` (Kustomize patches and images) rewrite the manifest before it is
applied and stored (:mod:`.postrender`).

``driftDetection`` (``enabled``: drifted objects applied again at each reconcile,
``warn``: Drifted=True names them) compares the cluster with the deployed revision by a
dry-run plan, with its ``ignore`` rules and the ``helm.toolkit.fluxcd.io/driftDetection:
disabled`` opt-out; a release without drift costs the dry-runs and writes nothing.

Not yet, each refused with Stalled and a message naming it, never ignored
(:func:`_refuse_unsupported`): ``kubeConfig``,
``install.replace``, ``upgrade.cleanupOnFail``, ``upgrade.preserveValues``,
``disableSchemaValidation``, ``disableTakeOwnership``, ``rollback.recreate`` and
``cleanupOnFail``, a ``deletionPropagation`` other than background, the ``legacy`` wait
strategy, post-rendered hooks. ``disableOpenAPIValidation`` needs nothing: objects are
validated by the API server's dry-run, never on the client. Drift is looked for at the
interval, as Flux does, not yet by watches.

Run by :class:`lockstep.controllers.manager.ControllerManager`.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import copy
import logging
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import yaml

from lockstep.api.conditions import remove_condition, set_condition
from lockstep.api.helm import (
    HelmAction,
    HelmRelease,
    HelmReleaseStatus,
    ReleaseAction,
    Snapshot,
)
from lockstep.api.meta import Artifact, duration_seconds
from lockstep.apply import (
    ApplyError,
    ApplyOptions,
    IgnoreRule,
    InventoryEntry,
    Owner,
    apply_all,
    default_prune_options,
    helm_release_owner,
    plan_all,
    prune,
    sort_for_apply,
    stale_entries,
    wait_healthy,
)
from lockstep.apply.health_wait import HealthCheckFailed
from lockstep.controllers.dependencies import (
    DependencyNotReady,
    InvalidReadyExpr,
    check_ready_expr,
)
from lockstep.controllers.helm.hooks import HookFailed, TestResult, run_hooks, run_tests
from lockstep.controllers.helm.postrender import PostRenderFailed, post_render
from lockstep.controllers.helm.storage import (
    Release,
    ReleaseStatus,
    ReleaseStorage,
    release_digest,
    release_from_render,
)
from lockstep.controllers.helm.values import ValuesUnavailable, compose_values, config_digest
from lockstep.controllers.ignore import apply_ignore_rules
from lockstep.controllers.shell import (
    WAITING,
    Failure,
    Ready,
    ReconcilerShell,
    Waiting,
)
from lockstep.health import (
    GroupKind,
    HealthCheck,
    HealthCheckExpr,
    HealthCheckExprError,
    compile_health_check_exprs,
)
from lockstep.kube import KubeClient, KubeError, KubeObject, NotFound, ObjectRef
from lockstep.kube.impersonation import service_account_user
from lockstep.render.helm import (
    HelmRenderError,
    Hook,
    ReleaseContext,
    Rendered,
    RenderOptions,
    shared_helm_renderer,
)
from lockstep.render.resident import BuildDeadline
from lockstep.runtime.informer import ObjectCache, ObjectKey
from lockstep.sources.artifact_fetch import SOURCE_ARTIFACT
from lockstep.sources.extract import extract_tarball
from lockstep.sources.store import ArtifactStore

KIND = "HelmRelease"
API_VERSION = "helm.toolkit.fluxcd.io/v2"
FINALIZER = "finalizers.fluxcd.io"
CHART_API_VERSION = "source.toolkit.fluxcd.io/v1"

RELEASED = "Released"
INSTALL_SUCCEEDED = "InstallSucceeded"
UPGRADE_SUCCEEDED = "UpgradeSucceeded"
INSTALL_FAILED = "InstallFailed"
UPGRADE_FAILED = "UpgradeFailed"
ARTIFACT_FAILED = "ArtifactFailed"
VALUES_FAILED = "InitFailed"
UNSUPPORTED = "UnsupportedField"
RETRIES_EXCEEDED = "RetriesExceeded"
HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
DRIFTED = "Drifted"
DRIFT_DETECTION_KEY = "helm.toolkit.fluxcd.io/driftDetection"
DEPENDENCY_NOT_READY = "DependencyNotReady"
DEPENDENCY_REQUEUE_SECONDS = 30.0
"""When a release waiting for a dependency looks again at the latest (Flux's
``--requeue-dependency``); a dependency that becomes ready enqueues it at once."""
TEST_SUCCESS = "TestSuccess"
TEST_SUCCEEDED = "TestSucceeded"
TEST_FAILED = "TestFailed"
ROLLBACK_FAILED = "RollbackFailed"

_HELM_CHART_FIELDS = frozenset(
    {
        "chart",
        "version",
        "sourceRef",
        "reconcileStrategy",
        "valuesFiles",
        "ignoreMissingValuesFiles",
        "verify",
    }
)
"""The fields of a chart template that a HelmChart's spec has."""

_OCI_REPOSITORY_FIELDS = frozenset(
    {
        "url",
        "ref",
        "layerSelector",
        "provider",
        "secretRef",
        "verify",
        "serviceAccountName",
        "certSecretRef",
        "proxySecretRef",
        "timeout",
        "ignore",
        "insecure",
        "suspend",
    }
)
"""The fields of a ``kind: OCIRepository`` chart template that an OCIRepository has."""

_log = logging.getLogger(__name__)


class HelmReleaseReconciler(ReconcilerShell[HelmRelease, HelmReleaseStatus]):
    """Reconciles HelmRelease objects into Helm releases."""

    kind = KIND
    api_version = API_VERSION
    name = "helmrelease"
    model = HelmRelease
    status_model = HelmReleaseStatus
    finalizer: ClassVar[str | None] = FINALIZER
    ready_reason: ClassVar[str] = INSTALL_SUCCEEDED
    failure_conditions = (RELEASED,)

    def __init__(
        self,
        kube: KubeClient,
        cache: ObjectCache,
        store: ArtifactStore,
        charts: ObjectCache,
        oci_repositories: ObjectCache,
        *,
        default_service_account: str = "",
    ) -> None:
        """``charts`` and ``oci_repositories`` are the caches of HelmCharts and
        OCIRepositories: a release reads its chart's artifact there.
        ``default_service_account``: the account releases without ``serviceAccountName``
        are made as (``lockstep run --default-service-account``); empty for the engine's."""
        super().__init__(kube, cache)
        self._store = store
        self._charts = charts
        self._oci_repositories = oci_repositories
        self._unpacked = Path(tempfile.mkdtemp(prefix="lockstep-charts-"))
        """Charts of OCIRepository artifacts, unpacked once per digest (removed at exit)."""
        atexit.register(shutil.rmtree, self._unpacked, True)
        self._default_service_account = default_service_account
        self._chart_keys: dict[ObjectKey, tuple[int | None, ObjectKey]] = {}
        """Each release's chart key at a generation of its spec (:meth:`using_chart`)."""
        self._oci_chart_versions: dict[str, str] = {}
        """The chart version of each unpacked OCIRepository artifact, by digest."""
        self._kube_version: str | None = None
        """The API server's version, read once (``.Capabilities.KubeVersion``)."""

    def using_chart(self, key: ObjectKey) -> list[ObjectKey]:
        """The HelmReleases whose chart object (HelmChart or OCIRepository) is at ``key``.

        Called for every change of every chart object: each release's chart key is
        parsed once per generation of its spec, not at every call."""
        found = []
        for raw in self._cache.items():
            metadata = raw.get("metadata") or {}
            own = (str(metadata.get("namespace") or ""), str(metadata.get("name") or ""))
            generation = metadata.get("generation")
            known = self._chart_keys.get(own)
            if known is None or known[0] != generation:
                try:
                    chart = _chart_key(HelmRelease.model_validate(raw))
                except ValueError:
                    continue
                known = self._chart_keys[own] = (generation, chart)
            if known[1] == key:
                found.append(own)
        return found

    async def forget(self, key: ObjectKey) -> None:
        self._chart_keys.pop(key, None)

    def dependents(self, key: ObjectKey) -> list[ObjectKey]:
        """The HelmReleases whose ``dependsOn`` names the one at ``key``."""
        found = []
        for raw in self._cache.items():
            metadata = raw.get("metadata") or {}
            namespace = str(metadata.get("namespace") or "")
            for dependency in (raw.get("spec") or {}).get("dependsOn") or []:
                if not isinstance(dependency, Mapping):
                    continue
                if (dependency.get("namespace") or namespace, dependency.get("name")) == key:
                    found.append((namespace, str(metadata.get("name", ""))))
        return found

    async def pipeline(self, obj: HelmRelease, status: HelmReleaseStatus) -> Ready | Waiting:
        _refuse_unsupported(obj)
        self._check_dependencies(obj)
        chart_path, chart_revision = await self._chart(obj, status)
        if chart_path is None:
            return WAITING
        async with self._client(obj) as kube:
            return await self._release(kube, obj, status, chart_path, chart_revision)

    def _client(self, obj: HelmRelease) -> contextlib.AbstractAsyncContextManager[KubeClient]:
        """The client the release is made with: the engine's own, or one acting as the
        HelmRelease's service account (``spec.serviceAccountName``, else the engine's
        ``--default-service-account``) in its namespace, as Flux's helm-controller does,
        for the objects, the hooks and the release's storage alike."""
        account = obj.spec.service_account_name or self._default_service_account
        if not account:
            return contextlib.nullcontext(self._kube)
        user = service_account_user(obj.metadata.namespace or "", account)
        return self._kube.impersonating(user)

    async def _release(
        self,
        kube: KubeClient,
        obj: HelmRelease,
        status: HelmReleaseStatus,
        chart_path: Path,
        chart_revision: str,
    ) -> Ready:
        """Steps 2 to 6 of the module docstring, with ``kube`` (:meth:`_client`)."""
        try:
            values = await compose_values(
                self._kube,
                obj.metadata.namespace or "",
                [ref.model_dump(by_alias=True, exclude_none=True) for ref in obj.spec.values_from],
                obj.spec.values,
            )
        except (ValuesUnavailable, KubeError) as error:
            raise Failure(VALUES_FAILED, f"{_name(obj)}: {error}") from error
        digest = config_digest(values)
        name, namespace = obj.release_name(), obj.release_namespace()
        storage = ReleaseStorage(kube, obj.storage_namespace())
        status.storage_namespace = obj.storage_namespace()
        history = await storage.history(name)
        if history and history[-1].status.is_pending:
            # Left pending by an engine that died mid-operation: Helm's lock, released.
            await storage.unlock(name)
            history = await storage.history(name)
        deployed = next((r for r in reversed(history) if r.status == ReleaseStatus.DEPLOYED), None)
        renderers = _post_renderers_digest(obj)
        common = _common_metadata_digest(obj)
        if (
            deployed is not None
            and _chart_version(deployed) == chart_revision
            and config_digest(deployed.config) == digest
            and (obj.status.observed_post_renderers_digest if obj.status else None) == renderers
            and (obj.status.observed_common_metadata_digest if obj.status else None) == common
        ):
            status.history = _snapshots(history, digest_of=config_digest)
            status.last_attempted_revision = chart_revision
            status.last_attempted_config_digest = digest
            status.last_attempted_generation = obj.metadata.generation
            upgraded = deployed.version > 1
            await self._correct_drift(kube, obj, deployed, status)
            return Ready(
                _success_message(obj, deployed, upgrade=upgraded),
                reason=UPGRADE_SUCCEEDED if upgraded else INSTALL_SUCCEEDED,
            )
        upgrade = deployed is not None
        action: ReleaseAction = "upgrade" if upgrade else "install"
        if _new_attempt(obj, status, chart_revision, digest):
            # A new chart, new values or a new spec: the failures of the last ones do not count.
            status.failures = status.install_failures = status.upgrade_failures = None
        elif obj.action_strategy(action) != "RetryOnFailure" and obj.retries_exhausted(action):
            # Told already by the attempt that exhausted them: its failure stays the message.
            reason, message = _last_failure(obj) or (
                RETRIES_EXCEEDED,
                f"{_name(obj)}: failed to {action} after {_failure_count(status, action)} "
                "attempt(s); change the chart, its values or spec."
                f"{action}.remediation.retries to try again",
            )
            raise Failure(reason, message, terminal=True)
        status.last_attempted_revision = chart_revision
        status.last_attempted_config_digest = digest
        status.last_attempted_generation = obj.metadata.generation
        status.last_attempted_release_action = action
        revision = (history[-1].version + 1) if history else 1
        rendered = await self._render(obj, chart_path, values, name, namespace, revision, upgrade)
        if obj.spec.post_renderers:
            try:
                manifest = await asyncio.to_thread(
                    post_render,
                    rendered.manifest,
                    obj.spec.post_renderers,
                    duration_seconds(obj.timeout()),
                )
            except PostRenderFailed as error:
                raise Failure(
                    _failed_reason(action),
                    f"Helm {action} failed for release {namespace}/{name}: {error}",
                    terminal=True,
                    condition=RELEASED,
                    condition_status="False",
                ) from error
            rendered = replace(rendered, manifest=manifest)
        now = datetime.now(UTC)
        release = release_from_render(
            rendered,
            name=name,
            namespace=namespace,
            version=revision,
            status=ReleaseStatus.PENDING_UPGRADE if upgrade else ReleaseStatus.PENDING_INSTALL,
            description=f'Upgrade "{name}" underway' if upgrade else "Initial install underway",
            now=now,
            first_deployed=deployed.first_deployed if deployed is not None else None,
        )
        await storage.create(release)
        try:
            await self._install(kube, obj, rendered, release, deployed, upgrade)
            tested = await self._test(kube, obj, rendered, release, status, action)
        except Failure as failure:
            # Helm's own description of a failed install or upgrade.
            what = "Upgrade" if upgrade else "Release"
            failed = release.with_status(ReleaseStatus.FAILED, f'{what} "{name}" failed: {failure}')
            await storage.update(failed)
            status.failures = (status.failures or 0) + 1
            if upgrade:
                status.upgrade_failures = (status.upgrade_failures or 0) + 1
            else:
                status.install_failures = (status.install_failures or 0) + 1
            message = (
                f"Helm {action} failed for release {namespace}/{name} with chart "
                f"{rendered.chart_name}@{rendered.chart_version}: {failure}"
            )
            reason = UPGRADE_FAILED if upgrade else INSTALL_FAILED
            if obj.action_strategy(action) == "RetryOnFailure":
                # Flux's RetryOnFailure: no remediation, the action again after the interval.
                status.history = _snapshots(await storage.history(name), digest_of=config_digest)
                raise Failure(
                    reason,
                    message,
                    retry=False,
                    requeue_after=duration_seconds(obj.retry_interval(action)),
                    condition=RELEASED,
                    condition_status="False",
                ) from failure
            exhausted = obj.retries_exhausted(action)
            if not exhausted or obj.remediates_last_failure(action):
                message += await self._remediate(kube, obj, storage, failed, deployed, action)
            status.history = _snapshots(await storage.history(name), digest_of=config_digest)
            raise Failure(
                reason, message, terminal=exhausted, condition=RELEASED, condition_status="False"
            ) from failure
        done = replace(
            release,
            status=ReleaseStatus.DEPLOYED,
            description="Upgrade complete" if upgrade else "Install complete",
            last_deployed=datetime.now(UTC),
        )
        await storage.update(done)
        if deployed is not None:
            # Helm changes only the status: the description stays "Install complete".
            await storage.update(replace(deployed, status=ReleaseStatus.SUPERSEDED))
        await storage.prune(name, obj.max_history())
        status.observed_post_renderers_digest = renderers
        status.observed_common_metadata_digest = common
        status.history = _snapshots(await storage.history(name), digest_of=config_digest)
        if tested is not None and status.history:
            status.history[0].test_hooks = tested.test_hooks()
        status.failures = status.install_failures = status.upgrade_failures = None
        message = _success_message(obj, done, upgrade=upgrade)
        status.conditions = set_condition(
            status.conditions,
            RELEASED,
            "True",
            UPGRADE_SUCCEEDED if upgrade else INSTALL_SUCCEEDED,
            message,
            generation=obj.metadata.generation,
            now=datetime.now(UTC),
        )
        return Ready(message, reason=UPGRADE_SUCCEEDED if upgrade else INSTALL_SUCCEEDED)

    def _check_dependencies(self, obj: HelmRelease) -> None:
        """Every ``dependsOn`` HelmRelease must be Ready for its current generation (or
        satisfy its ``readyExpr``); otherwise wait, looking again after
        :data:`DEPENDENCY_REQUEUE_SECONDS` or as soon as the dependency becomes ready."""
        own_namespace = obj.metadata.namespace or ""
        own = self._cache.get((own_namespace, obj.metadata.name)) or obj.to_manifest()
        try:
            for dependency in obj.spec.depends_on:
                key = (dependency.namespace or own_namespace, dependency.name)
                shown = f"dependency '{key[0]}/{key[1]}'"
                raw = self._cache.get(key)
                if raw is None:
                    raise DependencyNotReady(f"{shown} does not exist")
                if dependency.ready_expr:
                    check_ready_expr(dependency.ready_expr, own, raw, shown)
                elif not _ready_now(raw):
                    raise DependencyNotReady(f"{shown} is not ready")
        except InvalidReadyExpr as error:
            raise Failure(DEPENDENCY_NOT_READY, f"{_name(obj)}: {error}", terminal=True) from error
        except DependencyNotReady as error:
            raise Failure(
                DEPENDENCY_NOT_READY,
                f"{_name(obj)}: {error}",
                retry=False,
                requeue_after=DEPENDENCY_REQUEUE_SECONDS,
            ) from error

    async def _correct_drift(
        self, kube: KubeClient, obj: HelmRelease, deployed: Release, status: HelmReleaseStatus
    ) -> None:
        """``driftDetection``: compare the cluster with the deployed revision's objects
        (a dry-run plan, ``ignore`` rules and objects labelled or annotated
        ``helm.toolkit.fluxcd.io/driftDetection: disabled`` left out); ``enabled`` applies
        the objects that drifted (nothing else is written), ``warn`` only reports them.
        Drifted=True names them until the cluster matches again."""
        mode = obj.drift_detection_mode()
        if mode == "disabled":
            status.conditions = remove_condition(status.conditions, DRIFTED)
            return
        objects = [
            o
            for o in await self._namespaced(
                kube, _documents(deployed.manifest), obj.release_namespace()
            )
            if not _drift_detection_disabled(o)
        ]
        options = ApplyOptions(
            owner=self._owner(obj),
            recreate_immutable=obj.upgrade_force(),
            ignore_rules=_drift_ignore_rules(obj),
        )
        plan = await plan_all(kube, objects, options)
        drifted = [str(planned.ref) for planned in plan.objects if planned.writes]
        now = datetime.now(UTC)
        if not drifted:
            status.conditions = remove_condition(status.conditions, DRIFTED)
            return
        shown = ", ".join(drifted[:5]) + (
            f" and {len(drifted) - 5} more" if len(drifted) > 5 else ""
        )
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
                UPGRADE_FAILED, f"{_name(obj)}: correcting drift of {shown}: {error}"
            ) from error
        status.conditions = remove_condition(status.conditions, DRIFTED)
        _log.info("%s: corrected drift of %s", _name(obj), shown)

    # --- remediation -----------------------------------------------------------------

    async def _remediate(
        self,
        kube: KubeClient,
        obj: HelmRelease,
        storage: ReleaseStorage,
        failed: Release,
        deployed: Release | None,
        action: ReleaseAction,
    ) -> str:
        """Undo a failed release as Flux's remediation does: a failed install is
        uninstalled, a failed upgrade rolled back to the deployed revision (or uninstalled,
        ``upgrade.remediation.strategy: uninstall``). Returns what was done, for the
        message; a remediation that fails too says so and leaves the failed release."""
        strategy = obj.remediation_strategy(action)
        try:
            if action == "upgrade" and strategy == "rollback" and deployed is not None:
                rolled = await self._rollback(kube, obj, storage, failed, deployed)
                return f"; rolled back to revision {deployed.version} (revision {rolled})"
            await self._uninstall(kube, obj, storage, failed, keep_history=obj.keep_history())
            return f"; uninstalled revision {failed.version}"
        except (Failure, KubeError, ApplyError) as error:
            _log.warning("%s: remediation failed: %s", _name(obj), error)
            return f"; remediation failed: {_one_line(error)}"

    async def _rollback(
        self,
        kube: KubeClient,
        obj: HelmRelease,
        storage: ReleaseStorage,
        failed: Release,
        target: Release,
    ) -> int:
        """Helm's rollback: a new revision copying ``target``'s chart, values and manifest,
        applied; the objects only the failed revision had are deleted."""
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
        hooks = _recorded_hooks(target)
        await self._hooks(kube, obj, hooks, "pre-rollback", rollback, "rollback")
        await self._apply_manifest(
            kube,
            obj,
            rollback.manifest,
            failed,
            wait=not obj.wait_disabled("rollback"),
            action="rollback",
        )
        await self._hooks(kube, obj, hooks, "post-rollback", rollback, "rollback")
        await storage.update(replace(target, status=ReleaseStatus.SUPERSEDED))
        await storage.update(replace(rollback, status=ReleaseStatus.DEPLOYED))
        return revision

    async def _uninstall(
        self,
        kube: KubeClient,
        obj: HelmRelease,
        storage: ReleaseStorage,
        release: Release,
        *,
        keep_history: bool,
    ) -> None:
        """Helm's uninstall of ``release``: its objects deleted (``keep`` ones left), its
        revisions removed, or kept as ``uninstalled`` with ``keep_history``."""
        name, namespace = obj.release_name(), obj.release_namespace()
        owner = self._owner(obj)
        hooks = _recorded_hooks(release)
        await self._hooks(kube, obj, hooks, "pre-delete", release, "uninstall")
        objects = await self._namespaced(kube, _documents(release.manifest), namespace)
        entries = [InventoryEntry.of(ObjectRef.of(o)) for o in objects]
        pruned = await prune(kube, stale_entries(entries, []), default_prune_options(owner))
        if pruned.failures:
            raise Failure(
                "UninstallFailed", f"{_name(obj)}: uninstall failed: {pruned.failures[0]}"
            )
        await self._hooks(kube, obj, hooks, "post-delete", release, "uninstall")
        for revision in await storage.history(name):
            if keep_history:
                if revision.status in (ReleaseStatus.DEPLOYED, ReleaseStatus.FAILED):
                    await storage.update(
                        revision.with_status(ReleaseStatus.UNINSTALLED, "Uninstallation complete")
                    )
            else:
                await storage.delete(name, revision.version)

    # --- chart -----------------------------------------------------------------------

    async def _chart(self, obj: HelmRelease, status: HelmReleaseStatus) -> tuple[Path | None, str]:
        """The chart archive and its revision; (None, "") while the chart is not ready."""
        if obj.spec.chart is not None:
            await self._ensure_helm_chart(obj)
        reference = obj.chart_reference()
        namespace, name = reference.namespace, reference.name
        status.helm_chart = reference.status_form()
        cache = self._charts if reference.kind == "HelmChart" else self._oci_repositories
        raw = cache.get((namespace, name))
        artifact = ((raw or {}).get("status") or {}).get("artifact")
        if raw is not None and not _chart_current(raw):
            # The HelmChart has not caught up with its spec (a new version range, values
            # files): its artifact is the old chart; its change enqueues this release.
            return None, ""
        if raw is None or not artifact:
            if raw is not None and _not_ready_message(raw):
                raise Failure(
                    ARTIFACT_FAILED,
                    f"{_name(obj)}: {reference.kind} '{namespace}/{name}' is not ready: "
                    f"{_not_ready_message(raw)}",
                    retry=False,
                )
            return None, ""
        parsed = Artifact.model_validate(artifact)
        if not self._store.has(parsed):
            return None, ""
        if reference.kind == "HelmChart":
            return self._store.local_path(parsed), parsed.revision or ""
        return await self._chart_of_oci_artifact(obj, parsed)

    async def _chart_of_oci_artifact(
        self, obj: HelmRelease, artifact: Artifact
    ) -> tuple[Path, str]:
        """The chart in an OCIRepository's artifact (a chart pushed by ``helm push``,
        its layer copied or extracted), unpacked once per artifact digest, and its
        version."""
        digest = (artifact.digest or "").removeprefix("sha256:")
        folder = self._unpacked / (digest or "undigested")
        if not folder.is_dir():
            await asyncio.to_thread(_unpack_chart_artifact, self._store, artifact, folder)
        chart = _chart_in(folder)
        if chart is None:
            raise Failure(
                ARTIFACT_FAILED,
                f"{_name(obj)}: the artifact of OCIRepository "
                f"'{obj.chart_reference().namespace}/{obj.chart_reference().name}' holds no "
                "Helm chart; select the chart layer with spec.layerSelector.mediaType "
                f"{HELM_CHART_LAYER} and operation copy",
                terminal=True,
            )
        version = self._oci_chart_versions.get(folder.name)
        if version is None:
            try:
                info = await asyncio.to_thread(shared_helm_renderer().inspect, chart)
            except HelmRenderError as error:
                raise Failure(
                    ARTIFACT_FAILED,
                    f"{_name(obj)}: the chart cannot be loaded: {_one_line(error)}",
                ) from error
            version = self._oci_chart_versions[folder.name] = info.version
        return chart, version

    async def _ensure_helm_chart(self, obj: HelmRelease) -> None:
        """Create or update the chart object ``spec.chart`` describes: a HelmChart, or
        with ``kind: OCIRepository`` an OCIRepository (the chart layer copied, unless the
        template selects otherwise), labelled with the HelmRelease as Flux labels it."""
        template = obj.spec.chart
        assert template is not None
        reference = obj.chart_reference()
        namespace, name = reference.namespace, reference.name
        written = template.spec.model_dump(by_alias=True, exclude_none=True)
        if reference.kind == "OCIRepository":
            spec = {key: value for key, value in written.items() if key in _OCI_REPOSITORY_FIELDS}
            spec.setdefault("layerSelector", {"mediaType": HELM_CHART_LAYER, "operation": "copy"})
        else:
            spec = {key: value for key, value in written.items() if key in _HELM_CHART_FIELDS}
            source = dict(spec.pop("sourceRef", {}))
            source.pop("namespace", None)
            spec["sourceRef"] = source
        spec["interval"] = obj.chart_interval()
        manifest: dict[str, Any] = {
            "apiVersion": CHART_API_VERSION,
            "kind": reference.kind,
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {
                    **((template.metadata.labels if template.metadata else None) or {}),
                    "helm.toolkit.fluxcd.io/name": obj.metadata.name,
                    "helm.toolkit.fluxcd.io/namespace": obj.metadata.namespace or "",
                },
            },
            "spec": spec,
        }
        annotations = template.metadata.annotations if template.metadata else None
        if annotations:
            manifest["metadata"]["annotations"] = dict(annotations)
        cache = self._charts if reference.kind == "HelmChart" else self._oci_repositories
        current = cache.get((namespace, name))
        if current is not None and _same_chart(current, manifest):
            return
        await self._kube.apply(manifest)

    # --- render and install -------------------------------------------------------------

    async def _render(
        self,
        obj: HelmRelease,
        chart: Path,
        values: Mapping[str, Any],
        name: str,
        namespace: str,
        revision: int,
        upgrade: bool,
    ) -> Any:
        if self._kube_version is None:
            self._kube_version = await self._kube.server_version()
        kube_version = self._kube_version
        try:
            return await asyncio.to_thread(
                shared_helm_renderer().render,
                chart,
                values,
                ReleaseContext(name, namespace, revision=revision, upgrade=upgrade),
                RenderOptions(kube_version=kube_version or None),
            )
        except (HelmRenderError, BuildDeadline) as error:
            action = "upgrade" if upgrade else "install"
            raise Failure(
                UPGRADE_FAILED if upgrade else INSTALL_FAILED,
                f"Helm {action} failed for release {namespace}/{name}: {_one_line(error)}",
                condition=RELEASED,
                condition_status="False",
            ) from error

    async def _install(
        self,
        kube: KubeClient,
        obj: HelmRelease,
        rendered: Rendered,
        release: Release,
        previous: Release | None,
        upgrade: bool,
    ) -> None:
        """Install or upgrade: the namespace (``createNamespace``), the chart's CRDs per the
        ``crds`` policy, the ``pre-`` hooks, the manifest (:meth:`_apply_manifest`), the
        ``post-`` hooks; the hooks' runs are recorded in ``release.hooks``."""
        action: ReleaseAction = "upgrade" if upgrade else "install"
        namespace = obj.release_namespace()
        crds = rendered.crds
        if obj.create_namespace() and not upgrade:
            await kube.apply(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
            )
        policy = obj.crds_policy(action)
        if policy != "Skip" and crds:
            crd_objects = [doc for crd in crds for doc in _documents(crd.content)]
            if policy == "Create":
                crd_objects = [c for c in crd_objects if not await self._exists(kube, c)]
            try:
                await apply_all(kube, crd_objects, ApplyOptions(owner=self._owner(obj)))
            except ApplyError as error:
                raise Failure(_failed_reason(action), f"CRDs: {error}") from error
        await self._hooks(kube, obj, rendered.hooks, f"pre-{action}", release, action)
        await self._apply_manifest(
            kube,
            obj,
            rendered.manifest,
            previous,
            wait=not obj.wait_disabled(action),
            action=action,
        )
        await self._hooks(kube, obj, rendered.hooks, f"post-{action}", release, action)

    async def _hooks(
        self,
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
                owner=self._owner(obj),
                timeout=duration_seconds(obj.action_timeout(action)),
                records=release.hooks,
            )
        except HookFailed as error:
            raise Failure(_failed_reason(action), str(error)) from error

    async def _test(
        self,
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
        timeout = (
            duration_seconds(test.timeout) if test.timeout else duration_seconds(obj.timeout())
        )
        result = await run_tests(
            kube,
            rendered.hooks,
            namespace=obj.release_namespace(),
            owner=self._owner(obj),
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

    async def _apply_manifest(
        self,
        kube: KubeClient,
        obj: HelmRelease,
        manifest: str,
        previous: Release | None,
        *,
        wait: bool,
        action: HelmAction,
    ) -> None:
        """Apply the objects of ``manifest`` in stages, delete those only ``previous`` had,
        and with ``wait`` wait until they are healthy within the release's timeout."""
        owner = self._owner(obj)
        options = ApplyOptions(owner=owner, recreate_immutable=obj.upgrade_force())
        namespace = obj.release_namespace()
        objects = [
            _with_common_metadata(o, obj)
            for o in await self._namespaced(kube, _documents(manifest), namespace)
        ]
        try:
            await apply_all(kube, objects, options)
        except ApplyError as error:
            raise Failure(_failed_reason(action), str(error)) from error
        new = [InventoryEntry.of(ObjectRef.of(o)) for o in sort_for_apply(objects)]
        if previous is not None:
            old_objects = await self._namespaced(kube, _documents(previous.manifest), namespace)
            old = [InventoryEntry.of(ObjectRef.of(o)) for o in old_objects]
            pruned = await prune(kube, stale_entries(old, new), default_prune_options(owner))
            if pruned.failures:
                raise Failure(
                    _failed_reason(action), f"deleting removed objects: {pruned.failures[0]}"
                )
        if not wait:
            return
        try:
            await wait_healthy(
                kube,
                [ObjectRef.of(o) for o in objects],
                _health_overrides(obj),
                within=duration_seconds(obj.action_timeout(action)),
                new_artifact=asyncio.Event(),
            )
        except HealthCheckFailed as error:
            raise Failure(_failed_reason(action), _one_line(error)) from error

    def _owner(self, obj: HelmRelease) -> Owner:
        return helm_release_owner(
            obj.metadata.name,
            obj.metadata.namespace or "",
            obj.release_name(),
            obj.release_namespace(),
        )

    async def _namespaced(
        self, kube: KubeClient, objects: list[KubeObject], namespace: str
    ) -> list[KubeObject]:
        """``objects`` with the release namespace set on namespaced ones that name none, as
        Helm's client does."""
        result = []
        for obj in objects:
            metadata = obj.setdefault("metadata", {})
            if not metadata.get("namespace"):
                try:
                    info = await kube.resource_info(obj["apiVersion"], obj["kind"])
                except NotFound:
                    info = None
                if info is None or info.namespaced:
                    metadata["namespace"] = namespace
            result.append(obj)
        return result

    async def _exists(self, kube: KubeClient, obj: KubeObject) -> bool:
        try:
            await kube.get(ObjectRef.of(obj))
        except NotFound:
            return False
        return True

    # --- deletion -----------------------------------------------------------------------

    async def finalize(self, obj: HelmRelease) -> float | None:
        """Deleting the HelmRelease uninstalls its release (a suspended one is left as it
        is, as in Flux), then removes the HelmChart made for it."""
        if obj.spec.suspend:
            return None
        name = obj.release_name()
        async with self._client(obj) as kube:
            storage = ReleaseStorage(kube, obj.storage_namespace())
            history = await storage.history(name)
            deployed = next(
                (r for r in reversed(history) if r.status == ReleaseStatus.DEPLOYED), None
            )
            if history:
                await self._uninstall(
                    kube, obj, storage, deployed or history[-1], keep_history=obj.keep_history()
                )
        if obj.spec.chart is not None:
            reference = obj.chart_reference()
            with contextlib.suppress(NotFound):
                await self._kube.delete(
                    ObjectRef(
                        CHART_API_VERSION, reference.kind, reference.name, reference.namespace
                    )
                )
        return None


def _refuse_unsupported(obj: HelmRelease) -> None:
    """Stalled, naming them, for the fields lockstep does not act on yet: never ignored."""
    spec = obj.spec
    install, upgrade, rollback = spec.install, spec.upgrade, spec.rollback
    unsupported = [
        field
        for field, used in (
            ("spec.kubeConfig", spec.kube_config is not None),
            (
                f"spec.chartRef to an {obj.chart_reference().kind}",
                obj.chart_reference().kind not in ("HelmChart", "OCIRepository"),
            ),
            ("spec.install.replace", bool(install and install.replace)),
            ("spec.install.disableTakeOwnership", bool(install and install.disable_take_ownership)),
            (
                "spec.install.disableSchemaValidation",
                bool(install and install.disable_schema_validation),
            ),
            (
                "spec.install.serverSideApply: false",
                bool(install and install.server_side_apply is False),
            ),
            ("spec.upgrade.cleanupOnFail", bool(upgrade and upgrade.cleanup_on_fail)),
            ("spec.upgrade.preserveValues", bool(upgrade and upgrade.preserve_values)),
            ("spec.upgrade.disableTakeOwnership", bool(upgrade and upgrade.disable_take_ownership)),
            (
                "spec.upgrade.disableSchemaValidation",
                bool(upgrade and upgrade.disable_schema_validation),
            ),
            (
                "spec.upgrade.serverSideApply other than enabled or auto",
                bool(upgrade and upgrade.server_side_apply not in (None, "enabled", "auto")),
            ),
            (
                "spec.upgrade.chartNameChangeStrategy: Reinstall",
                bool(upgrade and upgrade.chart_name_change_strategy == "Reinstall"),
            ),
            ("spec.rollback.recreate", bool(rollback and rollback.recreate)),
            ("spec.rollback.cleanupOnFail", bool(rollback and rollback.cleanup_on_fail)),
            (
                "spec.uninstall.deletionPropagation other than background",
                obj.deletion_propagation() != "background",
            ),
            (
                "spec.postRenderStrategy other than nohooks",
                spec.post_render_strategy not in (None, "nohooks"),
            ),
            (
                "spec.waitStrategy: legacy",
                bool(spec.wait_strategy and spec.wait_strategy.name == "legacy"),
            ),
            (
                "spec.healthCheckExprs without kind",
                any(check.kind is None for check in spec.health_check_exprs),
            ),
        )
        if used
    ]
    if unsupported:
        raise Failure(
            UNSUPPORTED,
            f"{_name(obj)}: {', '.join(unsupported)} not supported by lockstep yet; remove it "
            "or let Flux's helm-controller reconcile this HelmRelease",
            terminal=True,
        )


def _chart_key(obj: HelmRelease) -> ObjectKey:
    """The HelmChart of the release: the one ``chartRef`` names or ``chart`` generates."""
    ref = obj.chart_reference()
    return (ref.namespace, ref.name)


def _same_chart(current: KubeObject, desired: Mapping[str, Any]) -> bool:
    spec = dict(desired["spec"])
    live = dict(current.get("spec") or {})
    for key, value in spec.items():
        if live.get(key) != value:
            return False
    labels = (current.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in desired["metadata"]["labels"].items())


def _recorded_hooks(release: Release) -> tuple[Hook, ...]:
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


def _failed_reason(action: str) -> str:
    return {"install": INSTALL_FAILED, "upgrade": UPGRADE_FAILED}.get(action, ROLLBACK_FAILED)


def _new_attempt(obj: HelmRelease, status: HelmReleaseStatus, revision: str, digest: str) -> bool:
    """Whether this attempt differs from the last one (chart, values or spec), which
    starts the count of failures afresh, as Flux does."""
    return (
        status.last_attempted_generation != obj.metadata.generation
        or status.last_attempted_revision != revision
        or status.last_attempted_config_digest != digest
    )


def _last_failure(obj: HelmRelease) -> tuple[str, str] | None:
    """Reason and message of the stored Ready=False, if it is one."""
    if obj.status is None:
        return None
    for condition in obj.status.conditions:
        if condition.type == "Ready" and condition.status == "False":
            return condition.reason, condition.message
    return None


def _failure_count(status: HelmReleaseStatus, action: ReleaseAction) -> int:
    count = status.upgrade_failures if action == "upgrade" else status.install_failures
    return count or 0


def _drift_detection_disabled(obj: KubeObject) -> bool:
    metadata = obj.get("metadata") or {}
    marks = {**(metadata.get("labels") or {}), **(metadata.get("annotations") or {})}
    return marks.get(DRIFT_DETECTION_KEY) == "disabled"


def _drift_ignore_rules(obj: HelmRelease) -> tuple[IgnoreRule, ...]:
    """``driftDetection.ignore`` as the apply engine's rules."""
    detection = obj.spec.drift_detection
    if detection is None:
        return ()
    try:
        return apply_ignore_rules(detection.ignore)
    except ValueError as error:
        raise Failure(
            UPGRADE_FAILED, f"{_name(obj)}: spec.driftDetection.ignore: {error}", terminal=True
        ) from error


def _with_common_metadata(manifest: KubeObject, obj: HelmRelease) -> KubeObject:
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


def _health_overrides(obj: HelmRelease) -> Mapping[GroupKind, HealthCheck]:
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
            UPGRADE_FAILED, f"{_name(obj)}: spec.healthCheckExprs: {error}", terminal=True
        ) from error


def _common_metadata_digest(obj: HelmRelease) -> str | None:
    """The digest of ``spec.commonMetadata`` (Flux's ``observedCommonMetadataDigest``)."""
    common = obj.spec.common_metadata
    if common is None or not (common.labels or common.annotations):
        return None
    return config_digest({"commonMetadata": common.model_dump(by_alias=True)})


def _post_renderers_digest(obj: HelmRelease) -> str | None:
    """The digest of ``spec.postRenderers`` (Flux's ``observedPostRenderersDigest``): a
    change of them upgrades the release; None without any."""
    if not obj.spec.post_renderers:
        return None
    return config_digest(
        {"postRenderers": [r.model_dump(by_alias=True) for r in obj.spec.post_renderers]}
    )


def _ready_now(raw: KubeObject) -> bool:
    """Whether the object's Ready is True for its current generation."""
    status = raw.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    return bool(
        ready
        and ready.get("status") == "True"
        and status.get("observedGeneration") == (raw.get("metadata") or {}).get("generation")
    )


def _unpack_chart_artifact(store: ArtifactStore, artifact: Artifact, folder: Path) -> None:
    """Extract the artifact's tarball into ``folder``: written whole in a folder of its
    own, then renamed; when another release unpacked it meanwhile, theirs stays."""
    partial = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        with store.local_path(artifact).open("rb") as archive:
            extract_tarball(
                archive,
                partial,
                max_bytes=store.max_content_bytes,
                source=f"artifact {artifact.url}",
                wording=SOURCE_ARTIFACT,
            )
        with contextlib.suppress(OSError):
            partial.rename(folder)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _chart_in(folder: Path) -> Path | None:
    """The chart of an unpacked OCI artifact: the one file of a copied layer (the chart's
    archive), or the folder holding Chart.yaml of an extracted one."""
    files = [path for path in folder.rglob("*") if path.is_file()]
    if len(files) == 1 and files[0].name != "Chart.yaml":
        return files[0]
    charts = sorted(path.parent for path in files if path.name == "Chart.yaml")
    return min(charts, key=lambda path: len(path.parts)) if charts else None


def _chart_current(raw: KubeObject) -> bool:
    """Whether the HelmChart's status was written for its current spec."""
    generation = (raw.get("metadata") or {}).get("generation")
    return bool((raw.get("status") or {}).get("observedGeneration") == generation)


def _not_ready_message(raw: KubeObject) -> str:
    for condition in (raw.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready" and condition.get("status") == "False":
            return str(condition.get("message", ""))
    return ""


def _documents(text: str) -> list[KubeObject]:
    return [doc for doc in yaml.safe_load_all(text) if isinstance(doc, dict) and doc]


def _chart_version(release: Release) -> str:
    metadata = release.chart.get("metadata") or {}
    return str(metadata.get("version", ""))


def _success_message(obj: HelmRelease, release: Release, *, upgrade: bool) -> str:
    metadata = release.chart.get("metadata") or {}
    return (
        f"Helm {'upgrade' if upgrade else 'install'} succeeded for release "
        f"{release.namespace}/{release.name}.v{release.version} with chart "
        f"{metadata.get('name')}@{metadata.get('version')}"
    )


def _snapshots(history: list[Release], *, digest_of: Any) -> list[Snapshot]:
    snapshots = []
    for release in sorted(history, key=lambda r: r.version, reverse=True):
        metadata = release.chart.get("metadata") or {}
        snapshots.append(
            Snapshot(
                name=release.name,
                namespace=release.namespace,
                version=release.version,
                status=release.status,
                chart_name=str(metadata.get("name", "")),
                chart_version=str(metadata.get("version", "")),
                app_version=metadata.get("appVersion"),
                config_digest=digest_of(release.config),
                first_deployed=release.first_deployed,
                last_deployed=release.last_deployed,
                digest=release_digest(release),
            )
        )
    return snapshots


def _one_line(error: Exception) -> str:
    """Helm's message on one line (a template error spans several)."""
    return " ".join(str(error).split())


def _name(obj: HelmRelease) -> str:
    return f"{KIND} {obj.metadata.namespace}/{obj.metadata.name}"
