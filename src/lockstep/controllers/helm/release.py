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
5. **Lock, apply, prune, wait** (:mod:`.install`). The new revision is stored
   ``pending-install`` or ``pending-upgrade`` first (Helm's lock: a crash leaves it
   pending, and the next reconcile unlocks it). CRDs of the chart's ``crds/`` are
   applied per the ``crds`` policy (``Create`` by default, as Flux's controller does for
   both actions), then the objects (with ``commonMetadata``), in stages, by the apply
   engine under the HelmRelease's owner (Flux's labels and Helm's ownership metadata,
   :func:`lockstep.apply.helm_release_owner`); objects of the previous revision the
   chart no longer renders are deleted (``helm.sh/resource-policy: keep`` keeps them),
   and so are those of revisions after the deployed one (failed, or left pending by a
   killed engine) that it does not render: beyond Helm, which leaves them unless
   ``cleanupOnFail``, since no later revision would list them;
   unless ``disableWait``, the objects are waited for until healthy (``healthCheckExprs``
   included) within the action's timeout, judged from the copies the apply answered,
   then from the watched copies (:mod:`lockstep.controllers.drift`, drift detection on
   or off), read from the API server only while neither shows them healthy. Deleting
   the HelmRelease, or a new generation of its spec, cancels the wait
   (:mod:`lockstep.controllers.interruptions`): the revision is stored ``failed``, as
   Helm stores an action whose context was cancelled, without counting a failure or
   remediating, and the release runs again at once, to be uninstalled or upgraded.
6. **Record.** The revision becomes ``deployed`` and the previous ``superseded``;
   history beyond ``maxHistory`` is removed. A failure marks the revision ``failed`` and
   counts it (``failures``, ``installFailures``, ``upgradeFailures``).

Status as Flux writes it: Ready and Released (``InstallSucceeded``/``UpgradeSucceeded``,
``Helm install succeeded for release <ns>/<name>.v<rev> with chart <chart>@<version>``;
``InstallFailed``/``UpgradeFailed``; the reasons in :mod:`.reasons`), ``history``
snapshots newest first (:mod:`.attempts`), ``lastAttemptedRevision``,
``lastAttemptedConfigDigest``, ``lastAttemptedGeneration``,
``lastAttemptedReleaseAction``, ``helmChart``, ``storageNamespace``.

Deleting a HelmRelease uninstalls its release (:mod:`.remediation`): the objects of the
deployed revision are deleted (``keep`` ones left), and its Secrets removed
(``uninstall.keepHistory`` keeps them, marked ``uninstalled``).

Hooks run as Helm runs them (:mod:`.hooks`): ``pre-``/``post-`` install, upgrade,
rollback and delete, unless the action disables hooks; with ``spec.test.enable`` the
chart's tests run after a release (TestSuccess, ``history[0].testHooks``), and failed
tests fail it unless ignored. ``dependsOn`` waits for other HelmReleases to be Ready
(or their ``readyExpr``). Remediation follows Flux (:mod:`.remediation`): a failed
action is retried up to its ``remediation.retries``; before each retry (and after the
last failure with ``remediateLastFailure``) a failed install is uninstalled and a
failed upgrade rolled back to the deployed revision (or uninstalled, ``strategy:
uninstall``); retries exhausted → Stalled, until the chart, the values or the spec
change. With the ``RetryOnFailure`` strategy nothing is remediated and the action is
tried again after its ``retryInterval``.

With ``spec.serviceAccountName`` (or the engine's ``--default-service-account``) the
release is made as that service account of the HelmRelease's namespace: objects,
hooks and release Secrets alike.

``spec.postRenderers`` (Kustomize patches and images) rewrite the manifest, and the hooks
as ``spec.postRenderStrategy`` says (``combined`` by default, as in Flux), before they
are applied and stored (:mod:`.postrender`).

``driftDetection`` (``enabled``: drifted objects applied again at each reconcile,
``warn``: Drifted=True names them; :mod:`.drift_detection`) compares the cluster with
the deployed revision by a dry-run plan, with its ``ignore`` rules and the
``helm.toolkit.fluxcd.io/driftDetection: disabled`` opt-out; a release without drift
costs the dry-runs and writes nothing. Beyond Flux, which looks at the interval only,
the release's objects are watched
(:mod:`lockstep.controllers.drift`): while drift detection is on, a field the release
set, changed by someone else, or an object of it deleted, reconciles the release within
about a second; while it is off, they are watched for the health wait alone, and no
change of them reconciles the release.

``upgrade.preserveValues`` is Helm's ``--reuse-values``: the user's values go over the
deployed revision's, whose chart values replace the new chart's own, and the values so
merged are what tells whether anything changed. ``install.replace`` needs nothing: a
release name whose revisions all failed or were uninstalled is always installed anew,
as ``helm install --replace`` does. ``rollback.recreate`` has no effect, as in Flux
(deprecated there, with a warning in the log here too). ``disableOpenAPIValidation``
needs nothing: objects are validated by the API server's dry-run, never on the client.

Not yet, each refused with Stalled and a message naming it, never ignored
(:mod:`.refusals`): ``serverSideApply: false``, ``chartNameChangeStrategy:
Reinstall``, the ``legacy`` wait strategy.

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

This module holds the reconciler: the shell's pipeline, the chart (step 1), the
decision, rendering and recording (steps 3, 4 and 6) and the deletion; the other steps
are functions of :mod:`.install`, :mod:`.remediation` and :mod:`.drift_detection`, given
the release's client and the drift watches of its cluster.

Run by :class:`lockstep.controllers.manager.ControllerManager`.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import shutil
import tempfile
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Protocol

from lockstep.api.conditions import set_condition
from lockstep.api.helm import (
    HelmRelease,
    HelmReleaseStatus,
    ReleaseAction,
)
from lockstep.api.meta import Artifact, ConditionReason, ConditionType, duration_seconds
from lockstep.apply.health_wait import HealthWaitCancelled
from lockstep.controllers.clusters import reconciled_cluster
from lockstep.controllers.dependencies import (
    DependencyNotReady,
    InvalidReadyExpr,
    check_ready_expr,
)
from lockstep.controllers.drift import DriftWatcher
from lockstep.controllers.helm.attempts import (
    chart_version,
    failure_count,
    history_snapshots,
    last_failure,
    new_attempt,
    retries_exhausted,
    success_message,
)
from lockstep.controllers.helm.drift_detection import correct_drift
from lockstep.controllers.helm.install import install_release, run_release_tests
from lockstep.controllers.helm.reasons import (
    ARTIFACT_FAILED,
    DEPENDENCY_NOT_READY,
    INSTALL_FAILED,
    INSTALL_SUCCEEDED,
    KIND,
    RELEASED,
    RETRIES_EXCEEDED,
    SOURCE_NOT_READY,
    UPGRADE_FAILED,
    UPGRADE_SUCCEEDED,
    VALUES_FAILED,
    failed_reason,
    helmrelease_key,
    helmrelease_name,
    one_line,
)
from lockstep.controllers.helm.refusals import refuse_foreign_references, refuse_unsupported
from lockstep.controllers.helm.remediation import clean_up, remediate, uninstall
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
    release_from_render,
    written_since_deployed,
)
from lockstep.controllers.helm.values import (
    ComposedValues,
    ValuesUnavailable,
    compose_values,
    config_digest,
)
from lockstep.controllers.interruptions import Interruptions
from lockstep.controllers.shell import (
    RERUN,
    WAITING,
    Failure,
    Ready,
    ReconcilerShell,
    Rerun,
    Waiting,
)
from lockstep.egress import OPEN, Egress
from lockstep.kube import KubeClient, KubeError, KubeObject, NotFound, ObjectRef
from lockstep.kube.impersonation import service_account_user
from lockstep.render.helm import (
    HelmRenderError,
    ReleaseContext,
    RenderOptions,
    ReusedRelease,
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
from lockstep.runtime.informer import ObjectCache, ObjectKey, Subscriber
from lockstep.sources.artifact_fetch import SOURCE_ARTIFACT
from lockstep.sources.extract import extract_tarball
from lockstep.sources.store import ArtifactStore

CHART_STORED_LOOK_AGAIN_SECONDS = 2.0
"""How soon a release looks again for a chart artifact advertised but not stored yet, or
for the artifact of a chart object it has just changed."""
MAX_UNPACKED_CHARTS = 64
"""How many charts of OCIRepository artifacts stay unpacked, the most recently used: far
more than the chart versions a fleet deploys at once."""
API_VERSION = "helm.toolkit.fluxcd.io/v2"
FINALIZER = "finalizers.fluxcd.io"
CHART_API_VERSION = "source.toolkit.fluxcd.io/v1"
HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
DEPENDENCY_REQUEUE_SECONDS = 30.0
"""When a release waiting for a dependency looks again at the latest (Flux's
``--requeue-dependency``); a dependency that becomes ready enqueues it at once."""

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


class HelmReleaseCache(ObjectCache, Protocol):
    """The HelmRelease informer as the reconciler uses it: the cached objects, and their
    changes, which interrupt the health wait of a release being deleted or changed."""

    def subscribe(self, subscriber: Subscriber) -> None: ...


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
        cache: HelmReleaseCache,
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
        self._interruptions = Interruptions()
        """The running pipelines, whose health wait a deletion or a new spec cancels."""
        cache.subscribe(self._interruptions.observe)
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

    async def pipeline(
        self, obj: HelmRelease, status: HelmReleaseStatus
    ) -> Ready | Waiting | Rerun:
        """The release (:meth:`_release`), or waiting for its chart; deleted or given a new
        spec while it waits for health, it runs again at once
        (:mod:`lockstep.controllers.interruptions`)."""
        with self._interruptions.running(helmrelease_key(obj), obj.metadata.generation):
            try:
                return await self._reconcile_release(obj, status)
            except HealthWaitCancelled:
                return RERUN

    async def _reconcile_release(
        self, obj: HelmRelease, status: HelmReleaseStatus
    ) -> Ready | Waiting:
        """Steps 1 to 6 of the module docstring."""
        refuse_unsupported(obj)
        if self._no_cross_namespace_refs:
            refuse_foreign_references(obj)
        if obj.spec.rollback is not None and obj.spec.rollback.recreate:
            _log.warning(
                "%s: spec.rollback.recreate is deprecated and has no effect", helmrelease_name(obj)
            )
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
            self._clusters, helmrelease_key(obj), partial(self._target, obj), helmrelease_name(obj)
        )

    async def _deletion_cluster(self, obj: HelmRelease) -> Cluster[DriftWatcher] | None:
        """The cluster to uninstall from; ``None`` (after a Warning event saying the
        release is left in place) when it cannot be reached. A kubeconfig Secret deleted
        with the HelmRelease (its namespace is being deleted) leaves the cluster
        connected with the credentials last read from it: the release is uninstalled
        there, never anywhere else."""
        try:
            return await self._clusters.for_deletion(
                helmrelease_key(obj), partial(self._target, obj)
            )
        except ClusterUnavailable as error:
            await self._events.record(
                obj.to_manifest(),
                "Warning",
                "UninstallFailed",
                f"{helmrelease_name(obj)}: {error}; release {obj.release_namespace()}/"
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

    def _watches(self, obj: HelmRelease) -> DriftWatcher | None:
        """The drift watches of the cluster the release is made on, while it is held
        and watched (:func:`.install.watch_objects`)."""
        cluster = self._clusters.held(helmrelease_key(obj))
        return cluster.watches if cluster is not None else None

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
            raise Failure(VALUES_FAILED, f"{helmrelease_name(obj)}: {error}") from error
        # Flux's lastAttemptedConfigDigest: of the values given, even when preserved.
        digest = attempted = config_digest(composed.values)
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
            and chart_version(deployed) == chart_revision
            and config_digest(deployed.config) == digest
            and (obj.status.observed_post_renderers_digest if obj.status else None) == renderers
            and (obj.status.observed_common_metadata_digest if obj.status else None) == common
        ):
            status.history = history_snapshots(history, digest_of=config_digest)
            status.last_attempted_revision = chart_revision
            status.last_attempted_config_digest = attempted
            status.last_attempted_generation = obj.metadata.generation
            upgraded = deployed.version > 1
            await correct_drift(kube, obj, deployed, status, watches=self._watches(obj))
            return Ready(
                success_message(obj, deployed, upgrade=upgraded),
                reason=UPGRADE_SUCCEEDED if upgraded else INSTALL_SUCCEEDED,
            )
        upgrade = deployed is not None
        action: ReleaseAction = "upgrade" if upgrade else "install"
        if new_attempt(obj, status, chart_revision, attempted):
            # A new chart, new values or a new spec: the failures of the last ones do not count.
            status.failures = status.install_failures = status.upgrade_failures = None
        elif obj.action_strategy(action) != "RetryOnFailure" and obj.retries_exhausted(action):
            # Told already by the attempt that exhausted them: its failure stays the message.
            reason, message = last_failure(obj) or (
                RETRIES_EXCEEDED,
                f"{helmrelease_name(obj)}: failed to {action} after {failure_count(status, action)} "
                "attempt(s); change the chart, its values or spec."
                f"{action}.remediation.retries to try again",
            )
            raise Failure(reason, message, terminal=True)
        status.last_attempted_revision = chart_revision
        status.last_attempted_config_digest = attempted
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
                failed_reason(action),
                f"Helm {action} failed for release {namespace}/{name}: storing revision "
                f"{revision}: {error}",
                condition=RELEASED,
                condition_status="False",
            ) from error
        watches = self._watches(obj)
        cancelled = self._interruptions.event(helmrelease_key(obj))
        try:
            # Deletes what the deployed revision and those left unfinished since listed.
            previous = written_since_deployed(history)
            await install_release(
                kube,
                obj,
                rendered,
                release,
                previous,
                upgrade,
                watches=watches,
                cancelled=cancelled,
            )
            tested = await run_release_tests(kube, obj, rendered.rendered, release, status, action)
        except HealthWaitCancelled:
            await self._record_cancelled(obj, storage, release, status, action)
            raise
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
                await clean_up(kube, obj, rendered.objects, deployed, watches=watches)
            message = (
                f"Helm {action} failed for release {namespace}/{name} with chart "
                f"{rendered.rendered.chart_name}@{rendered.rendered.chart_version}: {failure}"
            )
            reason = UPGRADE_FAILED if upgrade else INSTALL_FAILED
            if obj.action_strategy(action) == "RetryOnFailure":
                # Flux's RetryOnFailure: no remediation, the action again after the interval.
                status.history = history_snapshots(
                    await storage.history(name), digest_of=config_digest
                )
                raise Failure(
                    reason,
                    message,
                    retry=False,
                    requeue_after=duration_seconds(obj.retry_interval(action)),
                    condition=RELEASED,
                    condition_status="False",
                ) from failure
            exhausted = retries_exhausted(obj, status, action)
            if not exhausted or obj.remediates_last_failure(action):
                message += await remediate(
                    kube,
                    obj,
                    storage,
                    failed,
                    deployed,
                    action,
                    watches=watches,
                    cancelled=cancelled,
                )
            status.history = history_snapshots(await storage.history(name), digest_of=config_digest)
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
        status.history = history_snapshots(await storage.history(name), digest_of=config_digest)
        if tested is not None and status.history:
            status.history[0].test_hooks = tested.test_hooks()
        status.failures = status.install_failures = status.upgrade_failures = None
        message = success_message(obj, done, upgrade=upgrade)
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

    async def _record_cancelled(
        self,
        obj: HelmRelease,
        storage: ReleaseStorage,
        release: Release,
        status: HelmReleaseStatus,
        action: ReleaseAction,
    ) -> None:
        """The wait for the health of ``release`` was cancelled (the HelmRelease is being
        deleted or has a new spec): the revision is stored failed, as Helm stores an action
        whose context was cancelled, and Released and Ready say so until the next run. No
        failure is counted and nothing is remediated: the next run uninstalls the release,
        or makes a new attempt of the new spec."""
        why = f"{helmrelease_name(obj)} {self._interruptions.why(helmrelease_key(obj))}"
        what = "Upgrade" if action == "upgrade" else "Release"
        await storage.update(
            release.with_status(
                ReleaseStatus.FAILED, f'{what} "{release.name}" failed: wait cancelled: {why}'
            )
        )
        status.history = history_snapshots(
            await storage.history(release.name), digest_of=config_digest
        )
        message = (
            f"Helm {action} of release {release.namespace}/{release.name}.v{release.version} "
            f"cancelled while waiting for health: {why}"
        )
        generation, now = obj.metadata.generation, datetime.now(UTC)
        for condition, reason in (
            (RELEASED, failed_reason(action)),
            (ConditionType.READY, ConditionReason.HEALTH_CHECK_CANCELED),
        ):
            status.conditions = set_condition(
                status.conditions,
                condition,
                "False",
                reason,
                message,
                generation=generation,
                now=now,
            )

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
            raise Failure(
                DEPENDENCY_NOT_READY, f"{helmrelease_name(obj)}: {error}", terminal=True
            ) from error
        except DependencyNotReady as error:
            raise Failure(
                DEPENDENCY_NOT_READY,
                f"{helmrelease_name(obj)}: {error}",
                retry=False,
                requeue_after=DEPENDENCY_REQUEUE_SECONDS,
            ) from error

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
                    f"{helmrelease_name(obj)}: {reference.kind} '{namespace}/{name}' is not ready: "
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
                f"{helmrelease_name(obj)}: the artifact of OCIRepository "
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
                    f"{helmrelease_name(obj)}: the chart cannot be loaded: {one_line(error)}",
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

    # --- render -------------------------------------------------------------------------

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
        cluster = self._clusters.held(helmrelease_key(obj))
        try:
            api_versions = tuple(await cluster.client.api_versions()) if cluster else None
        except KubeError as error:
            raise Failure(
                ConditionReason.RECONCILIATION_FAILED,
                f"{helmrelease_name(obj)}: the API versions of the cluster cannot be read: {error}",
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
                post_render_strategy=obj.spec.post_render_strategy,
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
                cluster.watches.forget(helmrelease_key(obj))
            kube = self._client(obj, cluster)
            storage = ReleaseStorage(kube, obj.storage_namespace())
            # The deployed revision's objects, and those revisions after it (failed, or
            # left pending by a killed engine) may have written.
            written = written_since_deployed(await storage.history(obj.release_name()))
            if written is not None:
                await uninstall(
                    kube,
                    obj,
                    storage,
                    written,
                    keep_history=obj.keep_history(),
                    watches=self._watches(obj),
                )
        await self._clusters.release(helmrelease_key(obj))
        if obj.spec.chart is not None:
            reference = obj.chart_reference()
            with contextlib.suppress(NotFound):
                await self._kube.delete(
                    ObjectRef(
                        CHART_API_VERSION, reference.kind, reference.name, reference.namespace
                    )
                )
        return None


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


class _LookAgain(Exception):
    """The chart is not there yet, and nothing will tell when it is."""
