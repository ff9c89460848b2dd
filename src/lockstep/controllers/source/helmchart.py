"""The HelmChart reconciler: a chart from a HelmRepository or a GitRepository → a packaged
chart in the store.

The outer shell (cache, finalizer, suspend, conditions, status, events) is
:class:`~lockstep.controllers.source.base.SourceReconciler` in the one reconciler shell.
The pipeline follows Flux's source-controller, so that HelmReleases (lockstep's or
Flux's) find the same artifact:

- **From an HTTP HelmRepository:** the chart version is chosen in the repository's
  stored index (the highest match of ``spec.version``, a Masterminds range, ``*`` the
  latest stable), downloaded with the repository's credentials and checked against the
  index digest. The artifact is the package as downloaded ("pulled"), or, with
  ``spec.valuesFiles``, the chart packaged again with those files merged into its
  values.yaml ("packaged").
- **From an OCI HelmRepository:** the chart ``<url>/<chart>`` is resolved in the registry
  (a version, or the highest tag matching the range, ``_`` read as ``+``), its cosign
  signature checked first when ``spec.verify`` asks, and its chart layer pulled.
- **From a GitRepository:** the chart is the folder ``spec.chart`` of the source's
  artifact, packaged with its dependencies: those vendored under ``charts/`` as they are,
  the others built from where ``Chart.yaml`` says (``file://`` folders of the same
  artifact, chart repositories, OCI registries; credentials from a HelmRepository of the
  namespace with the same URL). Values files are read relative to the artifact's root.
- **Bucket** sources are not served by lockstep yet: Stalled, saying so.

Revisions and files are Flux's: the artifact is ``<chart>-<version>.tgz`` and its
revision the chart version. The version carries build metadata when the artifact must
change without a new chart version: ``+<12 hex of the commit>`` with
``reconcileStrategy: Revision`` for a GitRepository, and ``.<generation>`` (or
``+<generation>``) with ``valuesFiles``, so HelmReleases see the change. With the
default ``ChartVersion`` strategy a new commit that keeps the chart version keeps the
artifact, as in Flux. A chart whose version (with metadata), name and values files match
the current artifact is not fetched again; a HelmRepository's new index or a
GitRepository's new artifact enqueues the charts that use it.

Ready says ``pulled '<chart>' chart with version '<version>'`` (reason
``ChartPullSucceeded``) or ``packaged ...`` (``ChartPackageSucceeded``), as Flux's does.

Failures by stage, with Flux's reasons (tests/oracle/test_helm_sources_parity.py):

- **source:** ``SourceUnavailable``, ``NoSourceArtifact`` (FetchFailed, retried when the
  source changes), ``UnsupportedSourceKind`` (FetchFailed, Stalled);
- **chart reference:** ``InvalidChartReference`` (FetchFailed, Stalled): no such chart,
  no version in the range, a malformed range;
- **download:** the sources library's failures (FetchFailed, retried);
- **build:** ``ValuesFilesError`` (BuildFailed, Stalled), ``ChartPackageError``
  (BuildFailed, retried).

As in Flux, a failure of one stage clears the other stage's condition: a chart that
now fails to build has been fetched, so FetchFailed goes.

Run by :class:`lockstep.controllers.manager.ControllerManager`, which hands it the
caches of the source kinds; fetching and packaging run in a thread.
"""

from __future__ import annotations

import asyncio
import shutil
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from pydantic import ValidationError

from lockstep.api.conditions import remove_condition, set_condition
from lockstep.api.meta import Artifact, ConditionType, duration_seconds
from lockstep.api.source import (
    GitRepository,
    HelmChart,
    HelmChartStatus,
    HelmRepository,
)
from lockstep.controllers.shell import Failure, Ready
from lockstep.controllers.source.base import (
    VERIFICATION_ERROR,
    SourceReconciler,
    fetch_failure,
)
from lockstep.controllers.source.helmrepository import repository_options
from lockstep.egress import OPEN, Egress
from lockstep.kube import KubeClient, KubeObject
from lockstep.render.helm import (
    ChartDependency,
    ChartInfo,
    HelmRenderError,
    merge_values,
    shared_helm_renderer,
)
from lockstep.runtime.informer import ObjectCache, ObjectKey
from lockstep.sources.artifact_fetch import SOURCE_ARTIFACT
from lockstep.sources.cosign import public_keys_from_secret, verify_cosign
from lockstep.sources.errors import InvalidRef, NoSemverMatch, RefNotFound, SourceError
from lockstep.sources.extract import extract_tarball
from lockstep.sources.helm_oci import ResolvedChart, pull_oci_chart, resolve_oci_chart
from lockstep.sources.helm_repository import (
    HelmRepositoryOptions,
    download_chart,
    fetch_index,
    load_index,
    select_chart,
)
from lockstep.sources.registry_auth import auth_from_docker_config
from lockstep.sources.registry_client import RegistryOptions, parse_oci_url
from lockstep.sources.store import ArtifactStore
from lockstep.sources.transport import tls_from_secret

KIND = "HelmChart"

CHART_PULL_SUCCEEDED = "ChartPullSucceeded"
"""Reason of Ready=True for a chart stored as it was downloaded."""

CHART_PACKAGE_SUCCEEDED = "ChartPackageSucceeded"
"""Reason of Ready=True for a chart packaged by lockstep (values files, a Git folder)."""

SOURCE_UNAVAILABLE = "SourceUnavailable"
"""Reason of Ready=False and FetchFailed while the source object does not exist."""

NO_SOURCE_ARTIFACT = "NoSourceArtifact"
"""Reason of Ready=False and FetchFailed while the source has no artifact yet."""

UNSUPPORTED_SOURCE_KIND = "UnsupportedSourceKind"
"""Reason of Ready=False and Stalled for a Bucket source."""

INVALID_CHART_REFERENCE = "InvalidChartReference"
"""Reason of Ready=False, FetchFailed and Stalled for a chart name or version that the
repository cannot serve: only a change of spec (or a new index) helps."""

BUILD_FAILED = "ChartPackageError"
"""Reason of Ready=False and BuildFailed for a chart that cannot be packaged."""

MISSING_VALUES_FILE = "ValuesFilesError"
"""Reason of Ready=False, BuildFailed and Stalled for a values file the chart lacks."""

_OTHER_STAGE: dict[str, str] = {
    ConditionType.FETCH_FAILED: ConditionType.BUILD_FAILED,
    ConditionType.BUILD_FAILED: ConditionType.FETCH_FAILED,
}
"""The condition a failure of each stage clears: the other stage's."""


@dataclass(frozen=True)
class Build:
    """A chart ready to store: its package, name and version (with metadata), and whether
    lockstep packaged it; the values files merged (those found)."""

    path: Path
    name: str
    version: str
    packaged: bool
    values_files: tuple[str, ...]


class HelmChartReconciler(SourceReconciler[HelmChart, HelmChartStatus]):
    """Reconciles HelmChart objects into packaged charts."""

    kind = KIND
    name = "helmchart"
    model = HelmChart
    status_model = HelmChartStatus
    failure_conditions = (*SourceReconciler.failure_conditions, ConditionType.BUILD_FAILED)

    def __init__(
        self,
        kube: KubeClient,
        store: ArtifactStore,
        cache: ObjectCache,
        scratch: Path,
        sources: Mapping[str, ObjectCache],
        *,
        egress: Egress = OPEN,
    ) -> None:
        """``sources`` holds the caches of HelmRepositories and GitRepositories by kind."""
        super().__init__(kube, store, cache, scratch, egress=egress)
        self._sources = sources
        self._built: dict[ObjectKey, Build] = {}

    def using_source(self, kind: str, key: ObjectKey) -> list[ObjectKey]:
        """The HelmCharts whose ``spec.sourceRef`` names the ``kind`` object at ``key``."""
        namespace, name = key
        found = []
        for raw in self._cache.items():
            metadata, spec = raw.get("metadata") or {}, raw.get("spec") or {}
            ref = spec.get("sourceRef") or {}
            if (
                metadata.get("namespace") == namespace
                and ref.get("kind") == kind
                and ref.get("name") == name
            ):
                found.append((namespace, metadata.get("name", "")))
        return found

    async def pipeline(self, obj: HelmChart, status: HelmChartStatus) -> Ready:
        try:
            return await super().pipeline(obj, status)
        except Failure as failure:
            cleared = _OTHER_STAGE.get(failure.condition or "")
            if cleared is not None:
                status.conditions = remove_condition(status.conditions, cleared)
            raise

    async def build(self, source: HelmChart, status: HelmChartStatus) -> Artifact:
        spec = source.spec
        if spec.source_ref.kind == "Bucket":
            raise Failure(
                UNSUPPORTED_SOURCE_KIND,
                f"{KIND} {_name(source)}: Bucket sources are not supported by lockstep yet; "
                "serve the chart from a HelmRepository or a GitRepository",
                terminal=True,
                condition=ConditionType.FETCH_FAILED,
            )
        raw = self._source_object(source)
        if spec.source_ref.kind == "HelmRepository":
            repository = _parse(HelmRepository, raw, source)
            if repository.spec.type == "oci":
                build = await self._from_oci(source, status, repository)
            else:
                build = await self._from_index(source, status, repository)
        else:
            git = _parse(GitRepository, raw, source)
            build = await self._from_git(source, status, git)
        current = status.artifact
        if isinstance(build, Artifact):
            return build
        if current is not None and current.revision != build.version:
            self.mark_outdated(status, build.version, source.metadata.generation)
        stored = await asyncio.to_thread(self._store_chart, source, build)
        status.observed_chart_name = build.name
        status.observed_values_files = (
            list(build.values_files) if spec.ignore_missing_values_files else []
        )
        status.url = stored.url
        self._built[(source.metadata.namespace or "", source.metadata.name)] = build
        return stored

    def stored(
        self, obj: HelmChart, status: HelmChartStatus, artifact: Artifact
    ) -> tuple[str, str]:
        key = (obj.metadata.namespace or "", obj.metadata.name)
        build = self._built.pop(key, None)
        packaged = build.packaged if build is not None else _was_packaged(status)
        action = "packaged" if packaged else "pulled"
        name = status.observed_chart_name or obj.spec.chart
        message = f"{action} '{name}' chart with version '{artifact.revision}'"
        files = build.values_files if build is not None else tuple(obj.spec.values_files)
        if files:
            message += f" and merged values files [{' '.join(files)}]"
        return (CHART_PACKAGE_SUCCEEDED if packaged else CHART_PULL_SUCCEEDED), message

    async def forget(self, key: ObjectKey) -> None:
        self._built.pop(key, None)
        await super().forget(key)

    # --- sources -------------------------------------------------------------------

    def _source_object(self, chart: HelmChart) -> KubeObject:
        ref = chart.spec.source_ref
        cache = self._sources.get(ref.kind)
        raw = cache.get((chart.metadata.namespace or "", ref.name)) if cache else None
        if raw is None:
            raise Failure(
                SOURCE_UNAVAILABLE,
                f"{KIND} {_name(chart)}: {ref.kind} '{ref.name}' not found in namespace "
                f"'{chart.metadata.namespace}'; create it or correct spec.sourceRef",
                retry=False,
                condition=ConditionType.FETCH_FAILED,
            )
        return raw

    def _no_artifact(self, chart: HelmChart, advertised: Artifact | None) -> Failure:
        """The source has no artifact yet (its own artifact event enqueues the chart), or
        advertises one the store does not hold (an engine started on empty storage):
        the source stores it again soon, without a change of its status that would tell,
        so the chart tries again with backoff."""
        ref = chart.spec.source_ref
        return Failure(
            NO_SOURCE_ARTIFACT,
            f"no artifact available for {ref.kind} source '{ref.name}'",
            retry=advertised is not None,
            condition=ConditionType.FETCH_FAILED,
        )

    async def _from_index(
        self, chart: HelmChart, status: HelmChartStatus, repository: HelmRepository
    ) -> Build | Artifact:
        index_artifact = repository.status.artifact if repository.status else None
        if index_artifact is None or not self._store.has(index_artifact):
            raise self._no_artifact(chart, index_artifact)
        status.observed_source_artifact_revision = index_artifact.revision
        index = await asyncio.to_thread(
            load_index, self._store.local_path(index_artifact), repository.spec.url
        )
        try:
            entry = select_chart(index, chart.spec.chart, chart.spec.version)
        except (RefNotFound, InvalidRef) as error:
            raise _invalid_reference(error) from error
        version = _with_metadata(entry.version, chart, None)
        kept = self._kept(chart, status, entry.name, version)
        if kept is not None:
            return kept
        options = await repository_options(self, repository)
        work = Path(tempfile.mkdtemp(prefix="chart-", dir=self._scratch))
        try:
            downloaded = await asyncio.to_thread(
                download_chart,
                repository.spec.url,
                entry,
                work,
                options,
                self._store.max_content_bytes,
            )
            return await self._finish(chart, downloaded, entry.name, version, work, root=None)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise

    async def _from_oci(
        self, chart: HelmChart, status: HelmChartStatus, repository: HelmRepository
    ) -> Build | Artifact:
        options = await self._registry_options(repository)
        try:
            resolved = await asyncio.to_thread(
                resolve_oci_chart,
                repository.spec.url,
                chart.spec.chart,
                chart.spec.version,
                options,
            )
        except (NoSemverMatch, InvalidRef) as error:
            # A tag that is missing is not among them: Flux retries its pull.
            raise _invalid_reference(error) from error
        await self._verify(chart, status, resolved, options)
        version = _with_metadata(resolved.version, chart, None)
        kept = self._kept(chart, status, _chart_name(chart.spec.chart), version)
        if kept is not None:
            return kept
        work = Path(tempfile.mkdtemp(prefix="chart-", dir=self._scratch))
        try:
            pulled = await asyncio.to_thread(
                pull_oci_chart, resolved, work, options, self._store.max_content_bytes
            )
            return await self._finish(
                chart, pulled, _chart_name(chart.spec.chart), version, work, root=None
            )
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise

    async def _from_git(
        self, chart: HelmChart, status: HelmChartStatus, git: GitRepository
    ) -> Build | Artifact:
        artifact = git.status.artifact if git.status else None
        if artifact is None or not self._store.has(artifact):
            raise self._no_artifact(chart, artifact)
        current = status.artifact
        if (
            current is not None
            and status.observed_source_artifact_revision == artifact.revision
            and _ready_at_generation(chart)
            and status.observed_chart_name
            and self._store.has(current)
        ):
            return current
        work = Path(tempfile.mkdtemp(prefix="chart-", dir=self._scratch))
        try:
            tree = work / "source"
            await asyncio.to_thread(self._extract, artifact, tree)
            folder = _inside(tree, chart.spec.chart, chart, "spec.chart")
            if not (folder / "Chart.yaml").is_file():
                raise Failure(
                    BUILD_FAILED,
                    f"{KIND} {_name(chart)}: no chart at '{chart.spec.chart}' in GitRepository "
                    f"'{git.metadata.name}' (revision {artifact.revision}): it has no Chart.yaml; "
                    "correct spec.chart",
                    condition=ConditionType.BUILD_FAILED,
                )
            info = await asyncio.to_thread(_inspect, chart, folder)
            version = _with_metadata(info.version, chart, artifact.revision)
            status.observed_source_artifact_revision = artifact.revision
            kept = self._kept(chart, status, info.name, version)
            if kept is not None:
                shutil.rmtree(work, ignore_errors=True)
                return kept
            dependencies = await self._dependencies(chart, info, folder, tree, work)
            return await self._finish(
                chart, folder, info.name, version, work, root=tree, dependencies=dependencies
            )
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise

    def _kept(
        self, chart: HelmChart, status: HelmChartStatus, name: str, version: str
    ) -> Artifact | None:
        """The current artifact when it is this chart version, built from this spec."""
        current = status.artifact
        if (
            current is not None
            and current.revision == version
            and status.observed_chart_name == name
            and _ready_at_generation(chart)
            and self._store.has(current)
        ):
            return current
        return None

    # --- packaging -----------------------------------------------------------------

    async def _finish(
        self,
        chart: HelmChart,
        package: Path,
        name: str,
        version: str,
        work: Path,
        *,
        root: Path | None,
        dependencies: tuple[Path, ...] = (),
    ) -> Build:
        """The chart at ``package`` (an archive, or a folder of a Git artifact at ``root``)
        as a build: stored as it is when nothing changes it, else packaged again."""
        values_files = chart.spec.values_files
        if not values_files and await asyncio.to_thread(_archive_version, package) == version:
            return Build(package, name, version, packaged=False, values_files=())
        merged, found = await asyncio.to_thread(_merged_values, chart, package, root)
        try:
            packaged = await asyncio.to_thread(
                shared_helm_renderer().package,
                package,
                work / "out",
                values=merged,
                dependencies=dependencies,
                version=version,
            )
        except HelmRenderError as error:
            raise Failure(
                BUILD_FAILED,
                f"{KIND} {_name(chart)}: the chart cannot be packaged: {error}",
                condition=ConditionType.BUILD_FAILED,
            ) from error
        return Build(packaged.path, packaged.name, packaged.version, True, tuple(found))

    def _store_chart(self, chart: HelmChart, build: Build) -> Artifact:
        namespace, name = chart.metadata.namespace or "", chart.metadata.name
        try:
            stored = self._store.store_file(
                KIND,
                namespace,
                name,
                build.version,
                build.path,
                f"{build.name}-{build.version}.tgz",
            )
        finally:
            work = next(
                (parent for parent in build.path.parents if parent.parent == self._scratch), None
            )
            if work is not None:
                shutil.rmtree(work, ignore_errors=True)
        self._store.garbage_collect(KIND, namespace, name)
        return stored.artifact

    def _extract(self, artifact: Artifact, tree: Path) -> None:
        with self._store.local_path(artifact).open("rb") as archive:
            extract_tarball(
                archive,
                tree,
                max_bytes=self._store.max_content_bytes,
                source=f"artifact {artifact.url}",
                wording=SOURCE_ARTIFACT,
            )

    async def _dependencies(
        self, chart: HelmChart, info: ChartInfo, folder: Path, tree: Path, work: Path
    ) -> tuple[Path, ...]:
        """Archives of the dependencies ``Chart.yaml`` lists and ``charts/`` lacks."""
        built: list[Path] = []
        vendored = set(info.vendored)
        for index, dependency in enumerate(info.dependencies):
            if dependency.name in vendored or (dependency.alias and dependency.alias in vendored):
                continue
            where = work / f"dependency-{index}"
            where.mkdir()
            repository = dependency.repository
            if repository.startswith("file://") or not repository:
                local = _inside(
                    tree,
                    str(folder.relative_to(tree) / repository.removeprefix("file://")),
                    chart,
                    f"the dependency {dependency.name}",
                )
                packaged = await asyncio.to_thread(
                    shared_helm_renderer().package, local, where, values=None
                )
                built.append(packaged.path)
            elif repository.startswith("oci://"):
                options = await self._dependency_registry_options(chart, repository)
                resolved = await asyncio.to_thread(
                    resolve_oci_chart, repository, dependency.name, dependency.version, options
                )
                built.append(
                    await asyncio.to_thread(
                        pull_oci_chart, resolved, where, options, self._store.max_content_bytes
                    )
                )
            else:
                built.append(await self._dependency_from_index(chart, dependency, where))
        return tuple(built)

    async def _dependency_from_index(
        self, chart: HelmChart, dependency: ChartDependency, where: Path
    ) -> Path:
        repository = self._repository_with_url(chart, dependency.repository)
        if repository is not None:
            options = await repository_options(self, repository)
        else:
            options = HelmRepositoryOptions(egress=self.egress)
        index = await asyncio.to_thread(
            fetch_index, dependency.repository, options, self._store.max_content_bytes
        )
        entry = select_chart(index, dependency.name, dependency.version or "*")
        return await asyncio.to_thread(
            download_chart,
            dependency.repository,
            entry,
            where,
            options,
            self._store.max_content_bytes,
        )

    def _repository_with_url(self, chart: HelmChart, url: str) -> HelmRepository | None:
        """A HelmRepository of the chart's namespace serving ``url``: its credentials are
        used for a dependency from there, as Flux does."""
        cache = self._sources.get("HelmRepository")
        for raw in cache.items() if cache is not None else []:
            metadata, spec = raw.get("metadata") or {}, raw.get("spec") or {}
            if metadata.get("namespace") != chart.metadata.namespace:
                continue
            if str(spec.get("url", "")).rstrip("/") == url.rstrip("/"):
                try:
                    return HelmRepository.model_validate(raw)
                except ValidationError:
                    return None
        return None

    # --- OCI ----------------------------------------------------------------------

    async def _registry_options(self, repository: HelmRepository) -> RegistryOptions:
        spec = repository.spec
        registry = parse_oci_url(spec.url).registry
        auth = None
        if spec.secret_ref is not None:
            data = await self.secret_data(repository, spec.secret_ref.name, "spec.secretRef")
            auth = auth_from_docker_config(data, registry)
        tls = None
        if spec.cert_secret_ref is not None:
            name = spec.cert_secret_ref.name
            data = await self.secret_data(repository, name, "spec.certSecretRef")
            tls = tls_from_secret(data, f"{repository.metadata.namespace}/{name}")
        timeout = repository.spec.timeout
        return RegistryOptions(
            auth=auth,
            insecure=spec.insecure,
            skip_tls_verify=False,
            tls=tls,
            timeout=duration_seconds(timeout) if timeout else 60.0,
            egress=self.egress,
        )

    async def _dependency_registry_options(self, chart: HelmChart, url: str) -> RegistryOptions:
        repository = self._repository_with_url(chart, url)
        if repository is not None:
            return await self._registry_options(repository)
        return RegistryOptions(egress=self.egress)

    async def _verify(
        self,
        chart: HelmChart,
        status: HelmChartStatus,
        resolved: ResolvedChart,
        options: RegistryOptions,
    ) -> None:
        verify = chart.spec.verify
        if verify is None:
            status.conditions = remove_condition(status.conditions, ConditionType.SOURCE_VERIFIED)
            return
        if verify.provider != "cosign" or verify.secret_ref is None:
            raise Failure(
                VERIFICATION_ERROR,
                f"{KIND} {_name(chart)}: only key-based cosign verification is supported "
                "(spec.verify.provider: cosign with spec.verify.secretRef); nothing is pulled "
                "unverified",
                terminal=True,
                condition=ConditionType.SOURCE_VERIFIED,
                condition_status="False",
            )
        data = await self.secret_data(chart, verify.secret_ref.name, "spec.verify.secretRef")
        keys = public_keys_from_secret(data)
        await asyncio.to_thread(verify_cosign, resolved.artifact, keys, options)
        status.conditions = set_condition(
            status.conditions,
            ConditionType.SOURCE_VERIFIED,
            "True",
            "Succeeded",
            f"verified signature of version {resolved.version}",
            generation=chart.metadata.generation,
            now=datetime.now(UTC),
        )


def _invalid_reference(error: SourceError) -> Failure:
    return Failure(
        INVALID_CHART_REFERENCE,
        f"invalid chart reference: {error}",
        terminal=True,
        condition=ConditionType.FETCH_FAILED,
    )


def _parse(model: Any, raw: KubeObject, chart: HelmChart) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        ref = chart.spec.source_ref
        raise fetch_failure(
            f"{KIND} {_name(chart)}: {ref.kind} '{ref.name}' is invalid: "
            f"{error.errors()[0]['msg']}; correct it"
        ) from error


def _with_metadata(version: str, chart: HelmChart, source_revision: str | None) -> str:
    """The chart version with the build metadata Flux adds: the commit (``Revision``
    strategy, GitRepository) and the generation (``valuesFiles``)."""
    metadata = ""
    if chart.spec.reconcile_strategy == "Revision" and source_revision is not None:
        commit = source_revision.rsplit(":", 1)[-1]
        metadata = commit[:12]
    if chart.spec.values_files:
        metadata = (
            f"{metadata}.{chart.metadata.generation}"
            if metadata
            else str(chart.metadata.generation)
        )
    if not metadata:
        return version
    base, plus, existing = version.partition("+")
    return f"{base}+{existing}.{metadata}" if plus and existing else f"{base}+{metadata}"


def _chart_name(reference: str) -> str:
    return PurePosixPath(reference).name


def _archive_version(package: Path) -> str | None:
    """The version in the Chart.yaml of the chart archive ``package``; None for a folder."""
    if not package.is_file():
        return None
    try:
        with tarfile.open(package, "r:gz") as archive:
            for member in archive:
                parts = PurePosixPath(member.name).parts
                if len(parts) == 2 and parts[1] == "Chart.yaml":
                    handle = archive.extractfile(member)
                    if handle is None:
                        return None
                    data = yaml.safe_load(handle.read())
                    return str(data.get("version")) if isinstance(data, dict) else None
    except (tarfile.TarError, OSError, yaml.YAMLError):
        return None
    return None


def _inspect(chart: HelmChart, folder: Path) -> ChartInfo:
    try:
        return shared_helm_renderer().inspect(folder)
    except HelmRenderError as error:
        raise Failure(
            BUILD_FAILED,
            f"{KIND} {_name(chart)}: the chart at '{chart.spec.chart}' cannot be loaded: {error}",
            condition=ConditionType.BUILD_FAILED,
        ) from error


def _inside(root: Path, relative: str, chart: HelmChart, what: str) -> Path:
    path = (root / relative.lstrip("/")).resolve()
    if not path.is_relative_to(root.resolve()):
        raise Failure(
            BUILD_FAILED,
            f"{KIND} {_name(chart)}: {what} ('{relative}') leaves the source artifact; correct it",
            terminal=True,
            condition=ConditionType.BUILD_FAILED,
        )
    return path


def _merged_values(
    chart: HelmChart, package: Path, root: Path | None
) -> tuple[str | None, list[str]]:
    """The values files of ``spec.valuesFiles`` merged in order (later keys win, maps
    merged deeply), as YAML; and the files found. Files of a Git chart are read relative
    to the artifact's root, those of a downloaded chart inside the chart."""
    files = chart.spec.values_files
    if not files:
        return None, []
    merged: dict[str, Any] = {}
    found: list[str] = []
    for name in files:
        data = (
            _read_tree_file(root, name, chart)
            if root is not None
            else _read_chart_file(package, name)
        )
        if data is None:
            if chart.spec.ignore_missing_values_files:
                continue
            raise Failure(
                MISSING_VALUES_FILE,
                f"{KIND} {_name(chart)}: no values file found at path '{name}'; add it to the "
                "chart, correct spec.valuesFiles or set spec.ignoreMissingValuesFiles",
                terminal=True,
                condition=ConditionType.BUILD_FAILED,
            )
        try:
            values = yaml.safe_load(data) or {}
        except yaml.YAMLError as error:
            raise Failure(
                MISSING_VALUES_FILE,
                f"{KIND} {_name(chart)}: values file '{name}' is not valid YAML: "
                f"{str(error).splitlines()[0]}",
                terminal=True,
                condition=ConditionType.BUILD_FAILED,
            ) from error
        if not isinstance(values, dict):
            raise Failure(
                MISSING_VALUES_FILE,
                f"{KIND} {_name(chart)}: values file '{name}' is not a mapping of values",
                terminal=True,
                condition=ConditionType.BUILD_FAILED,
            )
        merged = merge_values(merged, values)
        found.append(name)
    return yaml.safe_dump(merged, sort_keys=True, default_flow_style=False), found


def _read_tree_file(root: Path, name: str, chart: HelmChart) -> bytes | None:
    path = _inside(root, name, chart, "a values file")
    return path.read_bytes() if path.is_file() else None


def _read_chart_file(package: Path, name: str) -> bytes | None:
    wanted = PurePosixPath(name.removeprefix("./"))
    if package.is_dir():
        path = package / wanted
        return path.read_bytes() if path.is_file() else None
    with tarfile.open(package, "r:gz") as archive:
        for member in archive:
            parts = PurePosixPath(member.name).parts
            if member.isfile() and len(parts) > 1 and PurePosixPath(*parts[1:]) == wanted:
                handle = archive.extractfile(member)
                return handle.read() if handle is not None else None
    return None


def _ready_at_generation(chart: HelmChart) -> bool:
    """Whether the stored status says the current artifact was made for this generation of
    the spec: Ready=True, observed at it (a failed attempt observes it too)."""
    if chart.status is None:
        return False
    ready = next((c for c in chart.status.conditions if c.type == ConditionType.READY), None)
    return (
        ready is not None
        and ready.status == "True"
        and ready.observed_generation == chart.metadata.generation
    )


def _was_packaged(status: HelmChartStatus) -> bool:
    for condition in status.conditions:
        if condition.type == ConditionType.ARTIFACT_IN_STORAGE:
            return condition.reason == CHART_PACKAGE_SUCCEEDED
    return False


def _name(chart: HelmChart) -> str:
    return f"{chart.metadata.namespace}/{chart.metadata.name}"
