"""The HelmRelease reconciler: a chart and its values → a Helm release, installed or
upgraded by lockstep's own apply engine and stored in Helm's own format.

The outer shell (cache, finalizer, suspend, conditions, status, events) is the one
reconciler shell. The pipeline:

1. **Chart.** ``spec.chart`` makes (and keeps in step) the HelmChart
   ``<namespace>-<name>`` in the source's namespace, as Flux's helm-controller does (or,
   with ``kind: OCIRepository``, the OCIRepository ``<namespace>-<name>`` in its own);
   ``spec.chartRef`` names a HelmChart, or an OCIRepository holding a chart pushed by
   ``helm push`` (its layer copied or extracted; unpacked once per digest, the most
   recently used kept). The chart is read from the artifact store; until it is there
   the release waits, and is enqueued when it changes.
2. **Values.** ``spec.valuesFrom`` and ``spec.values`` (:mod:`.values`).
3. **Decide.** The release's history in its storage namespace (Helm's Secrets,
   :mod:`.storage`) says what to do: a release left pending by a crash is unlocked
   (marked failed) first; no deployed release → install; a deployed one with the same
   chart version, values, post-renderers and common metadata → nothing (no render, no
   write; drift detection aside); otherwise → upgrade.
4. **Render** with Helm's engine (:mod:`lockstep.render.helm`), as ``helm install`` or
   ``helm upgrade`` would, at the next revision, post-rendered, and read into objects
   (:mod:`.rendering`): a chart, values or post-renderer that gives no release fails here,
   before anything is stored or applied.
5. **Lock, apply, prune, wait.** The new revision is stored ``pending-install`` or
   ``pending-upgrade`` first (Helm's lock: a crash leaves it pending, and the next
   reconcile unlocks it). CRDs of the chart's ``crds/`` are applied per the ``crds``
   policy (``Create`` by default, as Flux's controller does for both actions), then the
   objects (with ``commonMetadata``), in stages, by the apply engine under the
   HelmRelease's owner (Flux's labels and Helm's ownership metadata,
   :func:`lockstep.apply.helm_release_owner`); objects of the previous revision the
   chart no longer renders are deleted (``helm.sh/resource-policy: keep`` keeps them),
   and so are those of revisions after the deployed one (failed, or left pending by a
   killed engine) that it does not render: beyond Helm, which leaves them unless
   ``cleanupOnFail``, since no later revision would list them;
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
disabled`` opt-out; a release without drift costs the dry-runs and writes nothing. Beyond
Flux, which looks at the interval only, the release's objects are watched while drift
detection is on (:mod:`lockstep.controllers.drift`): a field the release set, changed
by someone else, or an object of it deleted, reconciles the release within about a
second.

``upgrade.preserveValues`` is Helm's ``--reuse-values``: the user's values go over the
deployed revision's, whose chart values replace the new chart's own, and the values so
merged are what tells whether anything changed. ``install.replace`` needs nothing: a
release name whose revisions all failed or were uninstalled is always installed anew,
as ``helm install --replace`` does. ``rollback.recreate`` has no effect, as in Flux
(deprecated there, with a warning in the log here too). ``disableOpenAPIValidation``
needs nothing: objects are validated by the API server's dry-run, never on the client.

Not yet, each refused with Stalled and a message naming it, never ignored
(:func:`_refuse_unsupported`): ``serverSideApply: false``, ``chartNameChangeStrategy:
Reinstall``, the ``legacy`` wait strategy, post-rendered hooks.

Existing objects a release renders are adopted (Flux's default); with
``disableTakeOwnership`` one that the previous revision did not have must carry Helm's
ownership metadata of the release, as Helm requires, or the action fails naming it.

With ``spec.kubeConfig`` the release is made on another cluster: the one whose
kubeconfig the named Secret of the HelmRelease's namespace holds, read at every
reconcile (:mod:`lockstep.runtime.clusters`, as for a Kustomization). Its objects,
hooks, tests, release Secrets and ``.Capabilities`` are there, and
``serviceAccountName`` is impersonated there; the chart, the values and the
HelmRelease's status stay on the local cluster. A Secret that is missing or
unusable, or a cluster that cannot be reached, fails the reconcile before anything
is rendered or written, naming the Secret, and never falls back to the local cluster.

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
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from lockstep.api.conditions import remove_condition, set_condition
from lockstep.api.helm import (
    HelmAction,
    HelmRelease,
    HelmReleaseStatus,
    ReleaseAction,
    Snapshot,
)
from lockstep.api.meta import Artifact, ConditionReason, duration_seconds
from lockstep.apply import (
    ApplyError,
    ApplyOptions,
    IgnoreRule,
    InventoryEntry,
    Owner,
    PruneOptions,
    apply_all,
    default_prune_options,
    helm_ownership_problems,
    helm_release_owner,
    ignored_pointers,
    plan_all,
    prune,
    sort_for_apply,
    stale_entries,
    wait_healthy,
    with_default_namespace,
)
from lockstep.apply.health_wait import HealthCheckFailed
from lockstep.controllers.clusters import reconciled_cluster
from lockstep.controllers.dependencies import (
    DependencyNotReady,
    InvalidReadyExpr,
    check_ready_expr,
)
from lockstep.controllers.drift import DriftWatcher
from lockstep.controllers.helm.hooks import HookFailed, TestResult, run_hooks, run_tests
from lockstep.controllers.helm.rendering import (
    ReleaseRenderFailed,
    RenderedRelease,
    chart_in,
    render_release,
)
from lockstep.controllers.helm.storage import (
    Release,
    ReleaseStatus,
    ReleaseStorage,
    release_digest,
    release_from_render,
    written_since_deployed,
)
from lockstep.controllers.helm.values import (
    ComposedValues,
    ValuesUnavailable,
    compose_values,
    config_digest,
)
from lockstep.controllers.ignore import apply_ignore_rules
from lockstep.controllers.shell import (
    WAITING,
    Failure,
    Ready,
    ReconcilerShell,
    Waiting,
)
from lockstep.egress import OPEN, Egress
from lockstep.health import (
    GroupKind,
    HealthCheck,
    HealthCheckExpr,
    HealthCheckExprError,
    compile_health_check_exprs,
)
from lockstep.kube import KubeClient, KubeError, KubeObject, NotFound, ObjectRef, Propagation
from lockstep.kube.impersonation import service_account_user
from lockstep.render.errors import RenderError
from lockstep.render.helm import (
    HelmRenderError,
    Hook,
    ReleaseContext,
    Rendered,
    RenderOptions,
    ReusedRelease,
    manifest_objects,
    merge_values,
    shared_helm_renderer,
)
from lockstep.runtime.clusters import (
    Cluster,
    ClusterRegistry,
    ClusterTarget,
    ClusterUnavailable,
    kube_config_target,
)
from lockstep.runtime.informer import ObjectCache, ObjectKey
from lockstep.sources.artifact_fetch import SOURCE_ARTIFACT
from lockstep.sources.extract import extract_tarball
from lockstep.sources.store import ArtifactStore

KIND = "HelmRelease"
PROPAGATIONS: dict[str, Propagation] = {
    "background": "Background",
    "foreground": "Foreground",
    "orphan": "Orphan",
}
"""``uninstall.deletionPropagation`` as the API server's propagation policies."""
CHART_STORED_LOOK_AGAIN_SECONDS = 2.0
"""How soon a release looks again for a chart artifact advertised but not stored yet, or
for the artifact of a chart object it has just changed."""
MAX_UNPACKED_CHARTS = 64
"""How many charts of OCIRepository artifacts stay unpacked, the most recently used: far
more than the chart versions a fleet deploys at once."""
API_VERSION = "helm.toolkit.fluxcd.io/v2"
FINALIZER = "finalizers.fluxcd.io"
CHART_API_VERSION = "source.toolkit.fluxcd.io/v1"

RELEASED = "Released"
INSTALL_SUCCEEDED = "InstallSucceeded"
UPGRADE_SUCCEEDED = "UpgradeSucceeded"
INSTALL_FAILED = "InstallFailed"
UPGRADE_FAILED = "UpgradeFailed"
ARTIFACT_FAILED = "ArtifactFailed"
SOURCE_NOT_READY = "SourceNotReady"
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

    def __init__(
        self,
        kube: KubeClient,
        cache: ObjectCache,
        store: ArtifactStore,
        charts: ObjectCache,
        oci_repositories: ObjectCache,
        *,
        default_service_account: str = "",
        egress: Egress = OPEN,
        drift: DriftWatcher | None = None,
        no_cross_namespace_refs: bool = False,
    ) -> None:
        """``charts`` and ``oci_repositories`` are the caches of HelmCharts and
        OCIRepositories: a release reads its chart's artifact there.
        ``default_service_account``: the account releases without ``serviceAccountName``
        are made as (``lockstep run --default-service-account``); empty for the engine's.
        ``egress``: which servers the clusters of ``spec.kubeConfig`` may be on.
        ``drift``: the watches of the local cluster that report drift of releases'
        objects (one is made from it for each remote cluster).
        ``no_cross_namespace_refs``: refuse charts and dependencies in other namespaces
        (``lockstep run --no-cross-namespace-refs``)."""
        super().__init__(kube, cache)
        self._store = store
        self._charts = charts
        self._oci_repositories = oci_repositories
        self._unpacked = Path(tempfile.mkdtemp(prefix="lockstep-charts-"))
        """Charts of OCIRepository artifacts, unpacked once per digest (the least recently
        used removed beyond :data:`MAX_UNPACKED_CHARTS`, all at exit)."""
        atexit.register(shutil.rmtree, self._unpacked, True)
        self._default_service_account = default_service_account
        self._no_cross_namespace_refs = no_cross_namespace_refs
        self._chart_keys: dict[ObjectKey, tuple[int | None, ObjectKey]] = {}
        """Each release's chart key at a generation of its spec (:meth:`using_chart`)."""
        self._oci_chart_versions: OrderedDict[str, str] = OrderedDict()
        """The chart version of each unpacked OCIRepository artifact, by digest."""
        self._clusters: ClusterRegistry[DriftWatcher] = ClusterRegistry(
            kube, drift, drift.for_cluster if drift is not None else None, egress=egress
        )
        """The clusters releases are made on (``spec.kubeConfig``), by HelmRelease."""
        self._kube_versions: dict[ClusterTarget, str] = {}
        """Each cluster's Kubernetes version, read once (``.Capabilities.KubeVersion``)."""

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
        if self._no_cross_namespace_refs:
            refuse_foreign_references(obj)
        if obj.spec.rollback is not None and obj.spec.rollback.recreate:
            _log.warning("%s: spec.rollback.recreate is deprecated and has no effect", _name(obj))
        self._check_dependencies(obj)
        try:
            chart_path, chart_revision = await self._chart(obj, status)
        except _LookAgain:
            return Waiting(look_again_after=CHART_STORED_LOOK_AGAIN_SECONDS)
        if chart_path is None:
            return WAITING
        cluster = await self._cluster(obj)
        kube_version = await self._server_version(cluster)
        return await self._release(
            self._client(obj, cluster), obj, status, chart_path, chart_revision, kube_version
        )

    async def forget(self, key: ObjectKey) -> None:
        self._chart_keys.pop(key, None)
        await self._clusters.release(key)

    async def close(self) -> None:
        """Stop the drift watches (those of the local cluster, given to the reconciler,
        included) and close the remote clusters' clients."""
        local = self._clusters.local.watches
        if local is not None:
            await local.stop()
        await self._clusters.close()

    async def _cluster(self, obj: HelmRelease) -> Cluster[DriftWatcher]:
        """The cluster the release is made on: the local one, or the one whose kubeconfig
        the Secret of ``spec.kubeConfig`` holds, read at every reconcile so that new
        credentials are used and a deleted Secret stops the release."""
        return await reconciled_cluster(
            self._clusters, _key(obj), partial(self._target, obj), _name(obj)
        )

    async def _deletion_cluster(self, obj: HelmRelease) -> Cluster[DriftWatcher] | None:
        """The cluster to uninstall from; ``None`` (after a Warning event saying the
        release is left in place) when it cannot be reached. A kubeconfig Secret deleted
        with the HelmRelease (its namespace is being deleted) leaves the cluster
        connected with the credentials last read from it: the release is uninstalled
        there, never anywhere else."""
        try:
            return await self._clusters.for_deletion(_key(obj), partial(self._target, obj))
        except ClusterUnavailable as error:
            await self._events.record(
                obj.to_manifest(),
                "Warning",
                "UninstallFailed",
                f"{_name(obj)}: {error}; release {obj.release_namespace()}/"
                f"{obj.release_name()} left in place",
            )
            return None

    async def _target(self, obj: HelmRelease) -> ClusterTarget:
        reference = obj.spec.kube_config
        written = reference.model_dump(by_alias=True, exclude_none=True) if reference else None
        return await kube_config_target(self._kube, obj.metadata.namespace or "", written)

    def _client(self, obj: HelmRelease, cluster: Cluster[DriftWatcher]) -> KubeClient:
        """The client the release is made with on ``cluster``: the engine's own, or one
        acting as the HelmRelease's service account (``spec.serviceAccountName``, else
        the engine's ``--default-service-account``) in its namespace, as Flux's
        helm-controller does, for the objects, the hooks and the release's storage alike."""
        account = obj.spec.service_account_name or self._default_service_account
        if not account:
            return cluster.client
        return cluster.as_user(service_account_user(obj.metadata.namespace or "", account))

    async def _server_version(self, cluster: Cluster[DriftWatcher]) -> str | None:
        """The cluster's Kubernetes version (``.Capabilities.KubeVersion``), read once
        per cluster."""
        version = self._kube_versions.get(cluster.target)
        if version is None:
            version = self._kube_versions[cluster.target] = await cluster.client.server_version()
        return version or None

    async def _release(
        self,
        kube: KubeClient,
        obj: HelmRelease,
        status: HelmReleaseStatus,
        chart_path: Path,
        chart_revision: str,
        kube_version: str | None,
    ) -> Ready:
        """Steps 2 to 6 of the module docstring, with ``kube`` (:meth:`_client`) on a
        cluster of Kubernetes ``kube_version``."""
        try:
            composed = await compose_values(
                self._kube,
                obj.metadata.namespace or "",
                [ref.model_dump(by_alias=True, exclude_none=True) for ref in obj.spec.values_from],
                obj.spec.values,
            )
        except (ValuesUnavailable, KubeError) as error:
            raise Failure(VALUES_FAILED, f"{_name(obj)}: {error}") from error
        digest = config_digest(composed.values)
        name, namespace = obj.release_name(), obj.release_namespace()
        storage = ReleaseStorage(kube, obj.storage_namespace())
        status.storage_namespace = obj.storage_namespace()
        history = await storage.history(name)
        if history and history[-1].status.is_pending:
            # Left pending by an engine that died mid-operation: Helm's lock, released.
            await storage.unlock(name)
            history = await storage.history(name)
        # Left deployed beside the next revision by an engine that died recording it.
        history = await storage.supersede_older(history)
        deployed = next((r for r in reversed(history) if r.status == ReleaseStatus.DEPLOYED), None)
        reuse = None
        if deployed is not None and obj.upgrade_preserve_values():
            # Helm's --reuse-values: the values stored are the user's over the deployed
            # revision's, and they are what tells whether anything changed.
            reuse = ReusedRelease(deployed.chart, deployed.config)
            digest = config_digest(merge_values(deployed.config, composed.values))
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
        try:
            rendered = await self._render(
                obj,
                chart_path,
                composed,
                name,
                namespace,
                revision,
                upgrade,
                kube_version,
                reuse=reuse,
            )
        except Failure:
            # Nothing stored, nothing to remediate: a failure, not an install or upgrade
            # failure, as Flux counts it.
            status.failures = (status.failures or 0) + 1
            raise
        now = datetime.now(UTC)
        release = release_from_render(
            rendered.rendered,
            name=name,
            namespace=namespace,
            version=revision,
            status=ReleaseStatus.PENDING_UPGRADE if upgrade else ReleaseStatus.PENDING_INSTALL,
            description=f'Upgrade "{name}" underway' if upgrade else "Initial install underway",
            now=now,
            first_deployed=deployed.first_deployed if deployed is not None else None,
        )
        try:
            await storage.create(release)
        except KubeError as error:
            # Refused (a record too large for one Secret, say) or not reached: nothing
            # of the revision exists yet.
            raise Failure(
                _failed_reason(action),
                f"Helm {action} failed for release {namespace}/{name}: storing revision "
                f"{revision}: {error}",
                condition=RELEASED,
                condition_status="False",
            ) from error
        try:
            # Deletes what the deployed revision and those left unfinished since listed.
            previous = written_since_deployed(history)
            await self._install(kube, obj, rendered, release, previous, upgrade)
            tested = await self._test(kube, obj, rendered.rendered, release, status, action)
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
            if upgrade and obj.upgrade_cleanup_on_fail():
                await self._clean_up(kube, obj, rendered.objects, deployed)
            message = (
                f"Helm {action} failed for release {namespace}/{name} with chart "
                f"{rendered.rendered.chart_name}@{rendered.rendered.chart_version}: {failure}"
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
            exhausted = _retries_exhausted(obj, status, action)
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
            self._watch_drift(obj, [])
            status.conditions = remove_condition(status.conditions, DRIFTED)
            return
        objects = [
            o
            for o in await with_default_namespace(
                kube, _stored_objects(deployed), obj.release_namespace()
            )
            if not _drift_detection_disabled(o)
        ]
        self._watch_drift(obj, objects)
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

    def _watch_drift(self, obj: HelmRelease, objects: Sequence[KubeObject]) -> None:
        """With drift detection on, watch the release's ``objects`` on its cluster, so that
        a change of one by someone else reconciles the release within about a second
        (:mod:`lockstep.controllers.drift`) instead of at its interval; else watch none."""
        cluster = self._clusters.held(_key(obj))
        if cluster is None or cluster.watches is None:
            return
        if obj.drift_detection_mode() == "disabled":
            cluster.watches.forget(_key(obj))
            return
        entries = [
            InventoryEntry.of(ObjectRef.of(o)) for o in objects if not _drift_detection_disabled(o)
        ]
        cluster.watches.track(_key(obj), entries)

    def _expect_deletion(self, obj: HelmRelease, entries: Sequence[InventoryEntry]) -> None:
        """The release is about to delete ``entries`` itself: their deletion is no drift."""
        cluster = self._clusters.held(_key(obj))
        if cluster is not None and cluster.watches is not None:
            cluster.watches.expect_deletion(entries)

    # --- remediation -----------------------------------------------------------------

    async def _clean_up(
        self,
        kube: KubeClient,
        obj: HelmRelease,
        objects: Sequence[KubeObject],
        previous: Release | None,
    ) -> None:
        """``cleanupOnFail`` of an upgrade or a rollback: delete what the failed action
        created, the ``objects`` of its manifest the ``previous`` revision did not have, as
        Helm does; one that cannot be deleted is logged, and the action's failure stays
        what is told."""
        namespace = obj.release_namespace()
        new = await with_default_namespace(kube, copy.deepcopy(list(objects)), namespace)
        old = (
            await with_default_namespace(kube, _stored_objects(previous), namespace)
            if previous
            else []
        )
        created = stale_entries(
            [InventoryEntry.of(ObjectRef.of(o)) for o in new],
            [InventoryEntry.of(ObjectRef.of(o)) for o in old],
        )
        self._expect_deletion(obj, created)
        pruned = await prune(kube, created, default_prune_options(self._owner(obj)))
        for failure in pruned.failures:
            _log.warning("%s: cleaning up after a failed action: %s", _name(obj), failure)

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
        hooks = _recorded_hooks(target)
        objects = _stored_objects(rollback)
        try:
            await self._hooks(kube, obj, hooks, "pre-rollback", rollback, "rollback")
            await self._apply_manifest(
                kube,
                obj,
                objects,
                failed,
                wait=not obj.wait_disabled("rollback"),
                action="rollback",
            )
            await self._hooks(kube, obj, hooks, "post-rollback", rollback, "rollback")
        except (Failure, KubeError, ApplyError) as error:
            description = f'Rollback "{rollback.name}" failed: {_one_line(error)}'
            await storage.update(rollback.with_status(ReleaseStatus.FAILED, description))
            if obj.rollback_cleanup_on_fail():
                await self._clean_up(kube, obj, objects, failed)
            raise
        # Deployed first: a writer killed in between leaves two deployed, which the next
        # reconcile sets right (ReleaseStorage.supersede_older), never none.
        await storage.update(replace(rollback, status=ReleaseStatus.DEPLOYED))
        await storage.update(replace(target, status=ReleaseStatus.SUPERSEDED))
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
        objects = await with_default_namespace(kube, _stored_objects(release), namespace)
        entries = [InventoryEntry.of(ObjectRef.of(o)) for o in objects]
        self._expect_deletion(obj, entries)
        options = PruneOptions(owner, PROPAGATIONS[obj.deletion_propagation()])
        pruned = await prune(kube, stale_entries(entries, []), options)
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
        if obj.spec.chart is not None and await self._ensure_helm_chart(obj):
            # Its artifact is the old spec's until the chart's controller has caught up
            # (the cached copy, read below, may not even show the new spec yet).
            raise _LookAgain()
        reference = obj.chart_reference()
        namespace, name = reference.namespace, reference.name
        status.helm_chart = reference.status_form()
        cache = self._charts if reference.kind == "HelmChart" else self._oci_repositories
        raw = cache.get((namespace, name))
        artifact = ((raw or {}).get("status") or {}).get("artifact")
        if raw is not None and not _chart_current(raw):
            # The HelmChart has not caught up with its spec (a new version range, values
            # files): its artifact is the old chart. A new artifact would enqueue this
            # release, but a change that keeps the artifact (the interval) would not.
            raise _LookAgain()
        if raw is None or not artifact:
            if raw is not None and _not_ready_message(raw):
                # A chart that fails anew enqueues nothing (its Ready stays False): look
                # again later, as Flux does, so the message follows the chart's.
                raise Failure(
                    SOURCE_NOT_READY,
                    f"{_name(obj)}: {reference.kind} '{namespace}/{name}' is not ready: "
                    f"{_not_ready_message(raw)}",
                    retry=False,
                    requeue_after=DEPENDENCY_REQUEUE_SECONDS,
                )
            return None, ""
        parsed = Artifact.model_validate(artifact)
        if not self._store.has(parsed):
            # Advertised but not in the store (an engine started on empty storage): the
            # chart's controller stores it again, often without a change that would tell.
            raise _LookAgain()
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
            self._evict_unpacked(keep=folder.name)
        chart = chart_in(folder)
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
        if version is not None:
            self._oci_chart_versions.move_to_end(folder.name)
        else:
            try:
                info = await asyncio.to_thread(shared_helm_renderer().inspect, chart)
            except HelmRenderError as error:
                raise Failure(
                    ARTIFACT_FAILED,
                    f"{_name(obj)}: the chart cannot be loaded: {_one_line(error)}",
                ) from error
            version = self._oci_chart_versions[folder.name] = info.version
        return chart, version

    def _evict_unpacked(self, keep: str) -> None:
        """Remove the unpacked charts used least recently beyond
        :data:`MAX_UNPACKED_CHARTS`, so that a registry pushing new chart digests does not
        fill the disk; ``keep`` is the one just unpacked."""
        while len(self._oci_chart_versions) >= MAX_UNPACKED_CHARTS:
            oldest = next(iter(self._oci_chart_versions))
            if oldest == keep:
                return
            del self._oci_chart_versions[oldest]
            shutil.rmtree(self._unpacked / oldest, ignore_errors=True)

    async def _ensure_helm_chart(self, obj: HelmRelease) -> bool:
        """Create or update the chart object ``spec.chart`` describes: a HelmChart, or
        with ``kind: OCIRepository`` an OCIRepository (the chart layer copied, unless the
        template selects otherwise), labelled with the HelmRelease as Flux labels it.
        Whether it was written: the cache holds the object as it was until then."""
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
            return False
        await self._kube.apply(manifest)
        return True

    # --- render and install -------------------------------------------------------------

    async def _render(
        self,
        obj: HelmRelease,
        chart: Path,
        values: ComposedValues,
        name: str,
        namespace: str,
        revision: int,
        upgrade: bool,
        kube_version: str | None,
        *,
        reuse: ReusedRelease | None = None,
    ) -> RenderedRelease:
        """The release's objects (:func:`.rendering.render_release`), before anything of
        it is stored or applied; ``.Capabilities.APIVersions`` are those the release's
        cluster serves now (CRDs installed since the last render included), as Helm reads
        them from discovery at each install and upgrade, and ``lookup`` reads that
        cluster with the release's rights (its service account's, if it names one), as
        Flux's helm-controller does."""
        cluster = self._clusters.held(_key(obj))
        try:
            api_versions = tuple(await cluster.client.api_versions()) if cluster else None
        except KubeError as error:
            raise Failure(
                ConditionReason.RECONCILIATION_FAILED,
                f"{_name(obj)}: the API versions of the cluster cannot be read: {error}",
            ) from error
        options = RenderOptions(
            kube_version=kube_version or None,
            api_versions=api_versions,
            kubeconfig=self._client(obj, cluster).self_contained_kubeconfig() if cluster else None,
            skip_schema_validation=obj.schema_validation_disabled(
                "upgrade" if upgrade else "install"
            ),
        )
        try:
            return await asyncio.to_thread(
                render_release,
                chart,
                values.values,
                ReleaseContext(name, namespace, revision=revision, upgrade=upgrade),
                options,
                obj.spec.post_renderers,
                within=duration_seconds(obj.timeout()),
                reuse=reuse,
            )
        except ReleaseRenderFailed as error:
            action = "upgrade" if upgrade else "install"
            # Helm quotes a value its chart refuses: one from a Secret is masked, and the
            # error quoting it is not chained, so no traceback can show it.
            shown = values.masked(str(error))
            with_chart = f" with chart {error.chart}" if error.chart else ""
            raise Failure(
                UPGRADE_FAILED if upgrade else INSTALL_FAILED,
                f"Helm {action} failed for release {namespace}/{name}{with_chart}: {shown}",
                terminal=error.post_render,
                condition=RELEASED,
                condition_status="False",
            ) from None

    async def _install(
        self,
        kube: KubeClient,
        obj: HelmRelease,
        rendered: RenderedRelease,
        release: Release,
        previous: Release | None,
        upgrade: bool,
    ) -> None:
        """Install or upgrade: the namespace (``createNamespace``), the chart's CRDs per the
        ``crds`` policy, the ``pre-`` hooks, the manifest (:meth:`_apply_manifest`), the
        ``post-`` hooks; the hooks' runs are recorded in ``release.hooks``."""
        action: ReleaseAction = "upgrade" if upgrade else "install"
        namespace = obj.release_namespace()
        if obj.create_namespace() and not upgrade:
            await kube.apply(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
            )
        policy = obj.crds_policy(action)
        if policy != "Skip" and rendered.crds:
            crd_objects = rendered.crds
            if policy == "Create":
                crd_objects = [c for c in crd_objects if not await self._exists(kube, c)]
            try:
                await apply_all(kube, crd_objects, ApplyOptions(owner=self._owner(obj)))
            except ApplyError as error:
                raise Failure(_failed_reason(action), f"CRDs: {error}") from error
        await self._hooks(kube, obj, rendered.rendered.hooks, f"pre-{action}", release, action)
        await self._apply_manifest(
            kube,
            obj,
            rendered.objects,
            previous,
            wait=not obj.wait_disabled(action),
            action=action,
        )
        await self._hooks(kube, obj, rendered.rendered.hooks, f"post-{action}", release, action)

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
        manifest: list[KubeObject],
        previous: Release | None,
        *,
        wait: bool,
        action: HelmAction,
    ) -> None:
        """Apply the objects of a manifest in stages, delete those only ``previous`` had,
        and with ``wait`` wait until they are healthy within the release's timeout."""
        owner = self._owner(obj)
        options = ApplyOptions(owner=owner, recreate_immutable=obj.upgrade_force())
        namespace = obj.release_namespace()
        objects = [
            _with_common_metadata(o, obj)
            for o in await with_default_namespace(kube, copy.deepcopy(manifest), namespace)
        ]
        if (action == "install" or action == "upgrade") and obj.take_ownership_disabled(action):
            await self._check_ownership(kube, obj, objects, previous, action)
        self._watch_drift(obj, objects)
        try:
            applied = await apply_all(kube, objects, options)
        except ApplyError as error:
            raise Failure(_failed_reason(action), str(error)) from error
        new = [InventoryEntry.of(ObjectRef.of(o)) for o in sort_for_apply(objects)]
        if previous is not None:
            old_objects = await with_default_namespace(kube, _stored_objects(previous), namespace)
            old = [InventoryEntry.of(ObjectRef.of(o)) for o in old_objects]
            stale = stale_entries(old, new)
            self._expect_deletion(obj, stale)
            pruned = await prune(kube, stale, default_prune_options(owner))
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
                # What the apply answered counts as a read: healthy objects are not read.
                observed=applied.observed,
            )
        except HealthCheckFailed as error:
            raise Failure(_failed_reason(action), _one_line(error)) from error

    async def _check_ownership(
        self,
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
            {InventoryEntry.of(ObjectRef.of(o)).id for o in _stored_objects(previous)}
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
                    _failed_reason(action),
                    f'Unable to continue with {action}: {ref.kind} "{ref.name}"{where} exists '
                    "and cannot be imported into the current release: invalid ownership "
                    f"metadata; {'; '.join(problems)}",
                )

    def _owner(self, obj: HelmRelease) -> Owner:
        return helm_release_owner(
            obj.metadata.name,
            obj.metadata.namespace or "",
            obj.release_name(),
            obj.release_namespace(),
        )

    async def _exists(self, kube: KubeClient, obj: KubeObject) -> bool:
        try:
            await kube.get(ObjectRef.of(obj))
        except NotFound:
            return False
        return True

    # --- deletion -----------------------------------------------------------------------

    async def finalize(self, obj: HelmRelease) -> float | None:
        """Deleting the HelmRelease uninstalls its release (a suspended one is left as it
        is, as in Flux), on the cluster it was made on, then removes the HelmChart made
        for it."""
        if obj.spec.suspend:
            return None
        cluster = await self._deletion_cluster(obj)
        if cluster is not None:
            if cluster.watches is not None:
                cluster.watches.forget(_key(obj))
            kube = self._client(obj, cluster)
            storage = ReleaseStorage(kube, obj.storage_namespace())
            # The deployed revision's objects, and those revisions after it (failed, or
            # left pending by a killed engine) may have written.
            written = written_since_deployed(await storage.history(obj.release_name()))
            if written is not None:
                await self._uninstall(kube, obj, storage, written, keep_history=obj.keep_history())
        await self._clusters.release(_key(obj))
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
    install, upgrade = spec.install, spec.upgrade
    unsupported = [
        field
        for field, used in (
            (
                f"spec.chartRef to an {obj.chart_reference().kind}",
                obj.chart_reference().kind not in ("HelmChart", "OCIRepository"),
            ),
            (
                "spec.install.serverSideApply: false",
                bool(install and install.server_side_apply is False),
            ),
            (
                "spec.upgrade.serverSideApply other than enabled or auto",
                bool(upgrade and upgrade.server_side_apply not in (None, "enabled", "auto")),
            ),
            (
                "spec.upgrade.chartNameChangeStrategy: Reinstall",
                bool(upgrade and upgrade.chart_name_change_strategy == "Reinstall"),
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


def _retries_exhausted(obj: HelmRelease, status: HelmReleaseStatus, action: ReleaseAction) -> bool:
    """Whether the failures of ``action`` counted in ``status``, this attempt's included,
    exceed its retries (never with negative retries)."""
    retries = obj.remediation_retries(action)
    return retries >= 0 and _failure_count(status, action) > retries


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


def drift_ignored_pointers(owner: KubeObject, obj: KubeObject) -> list[str]:
    """The ``driftDetection.ignore`` pointers of the HelmRelease ``owner`` that apply to
    ``obj``: changes there are no drift (for :class:`~lockstep.controllers.drift.DriftWatcher`)."""
    try:
        rules = _drift_ignore_rules(HelmRelease.model_validate(owner))
    except (ValueError, Failure):
        return []
    return ignored_pointers(obj, rules)


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


def _chart_current(raw: KubeObject) -> bool:
    """Whether the HelmChart's status was written for its current spec."""
    generation = (raw.get("metadata") or {}).get("generation")
    return bool((raw.get("status") or {}).get("observedGeneration") == generation)


def _not_ready_message(raw: KubeObject) -> str:
    for condition in (raw.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready" and condition.get("status") == "False":
            return str(condition.get("message", ""))
    return ""


def _stored_objects(release: Release) -> list[KubeObject]:
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
                api_version=metadata.get("apiVersion"),
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


def refuse_foreign_references(obj: HelmRelease) -> None:
    """``--no-cross-namespace-refs``: the chart's source (or the chart object ``chartRef``
    names) and every ``dependsOn`` must be in the HelmRelease's namespace, as Flux's
    helm-controller requires with that flag; else AccessDenied, Stalled."""
    own = obj.metadata.namespace or ""
    foreign = []
    chart = obj.chart_reference()
    if chart.namespace != own:
        foreign.append(f"{chart.kind} {chart.namespace}/{chart.name}")
    foreign += [
        f"dependsOn {d.namespace}/{d.name}"
        for d in obj.spec.depends_on
        if d.namespace not in (None, own)
    ]
    if foreign:
        raise Failure(
            ConditionReason.ACCESS_DENIED,
            f"{_name(obj)}: {foreign[0]} is in another namespace and cross-namespace references "
            "are disabled on this engine; move it to the HelmRelease's namespace",
            terminal=True,
        )


class _LookAgain(Exception):
    """The chart is not there yet, and nothing will tell when it is."""


def _key(obj: HelmRelease) -> ObjectKey:
    return (obj.metadata.namespace or "", obj.metadata.name)


def _name(obj: HelmRelease) -> str:
    return f"{KIND} {obj.metadata.namespace}/{obj.metadata.name}"
