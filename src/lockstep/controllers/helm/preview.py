"""What a HelmRelease would release now, without releasing it: the chart of its HelmChart's
(or OCIRepository's) artifact, the values composed from the cluster, rendered by Helm's
engine as the next install or upgrade.

The steps are those of the reconciler's pipeline (:mod:`.release`), read-only:

1. **Chart.** The artifact in the ``status.artifact`` of the HelmChart or OCIRepository
   the release reads, downloaded from the engine's artifact server and checked against
   its digest (:func:`lockstep.sources.artifact_fetch.fetch_artifact`); one without an
   artifact, or an artifact without a chart, is a :class:`PreviewUnavailable`.
2. **Values.** ``spec.valuesFrom`` then ``spec.values`` (:func:`.values.compose_values`).
3. **Render** at the next revision of the release's history (:mod:`.storage`): an
   upgrade when a revision is deployed, else an install; with the cluster's
   capabilities, ``preserveValues``, the post-renderers and the manifest read into
   objects in the reconciler's own step (:func:`.rendering.render_release`). The history
   and the capabilities are those of the cluster ``spec.kubeConfig`` names, when it
   names one.

The :class:`Preview` holds the objects with the release namespace set as Helm's client
sets it, and the objects of the deployed revision the new one no longer renders (what an
upgrade deletes). Every failure is one :class:`PreviewUnavailable` line naming the
HelmRelease.

Called by ``lockstep build helmrelease`` and ``lockstep diff helmrelease``
(:mod:`lockstep.cli.helm`).
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lockstep.api.helm import HelmRelease
from lockstep.api.meta import Artifact, duration_seconds
from lockstep.apply import InventoryEntry, stale_entries, with_default_namespace
from lockstep.controllers.helm.rendering import ReleaseRenderFailed, chart_in, render_release
from lockstep.controllers.helm.storage import Release, ReleaseStatus, ReleaseStorage
from lockstep.controllers.helm.values import ValuesUnavailable, compose_values
from lockstep.kube import KubeClient, KubeError, KubeObject, NotFound, ObjectRef
from lockstep.render.errors import RenderError
from lockstep.render.helm import (
    ReleaseContext,
    Rendered,
    RenderOptions,
    ReusedRelease,
    manifest_objects,
)
from lockstep.sources.artifact_fetch import fetch_artifact
from lockstep.sources.errors import SourceError

CHART_API_VERSION = "source.toolkit.fluxcd.io/v1"
CHART_KINDS = ("HelmChart", "OCIRepository")
"""The kinds whose artifact holds a release's chart."""


class PreviewUnavailable(Exception):
    """The release cannot be rendered now: no chart artifact, missing values, a chart Helm
    refuses. The message names the HelmRelease and what to do."""


@dataclass(frozen=True)
class Preview:
    """A HelmRelease rendered as its next install or upgrade."""

    rendered: Rendered
    objects: list[KubeObject]
    """The objects of the manifest, in Helm's order, namespaced as Helm's client does."""
    crds: list[KubeObject]
    """The objects of the chart's ``crds/`` files."""
    revision: int
    upgrade: bool
    stale: list[InventoryEntry]
    """Objects of the deployed revision that the new one does not render."""


async def chart_artifact(kube: KubeClient, release: HelmRelease) -> Artifact:
    """The artifact of the release's HelmChart, as its status advertises it."""
    ref = release.chart_reference()
    if ref.kind not in CHART_KINDS:
        raise PreviewUnavailable(
            f"{_name(release)}: a chart from an {ref.kind} cannot be previewed; "
            "use a HelmChart, an OCIRepository or spec.chart"
        )
    try:
        chart = await kube.get(ObjectRef(CHART_API_VERSION, ref.kind, ref.name, ref.namespace))
    except NotFound as error:
        raise PreviewUnavailable(
            f"{_name(release)}: {ref.kind} {ref.namespace}/{ref.name} not found; "
            "is lockstep run reconciling the HelmRelease?"
        ) from error
    artifact = (chart.get("status") or {}).get("artifact")
    if not artifact:
        command = "chart" if ref.kind == "HelmChart" else "oci"
        raise PreviewUnavailable(
            f"{_name(release)}: {ref.kind} {ref.namespace}/{ref.name} has no artifact yet; "
            f"lockstep reconcile source {command} {ref.name} -n {ref.namespace}"
        )
    return Artifact.model_validate(artifact)


async def preview(
    kube: KubeClient, release: HelmRelease, artifact: Artifact, target: KubeClient | None = None
) -> Preview:
    """``release`` rendered from the chart at ``artifact``, with its values read from the
    cluster of ``kube``, as the next revision of its history on ``target`` (the cluster
    of its ``spec.kubeConfig``; ``kube``'s own by default)."""
    target = target or kube
    try:
        composed = await compose_values(
            kube,
            release.metadata.namespace or "",
            [ref.model_dump(by_alias=True, exclude_none=True) for ref in release.spec.values_from],
            release.spec.values,
        )
    except (ValuesUnavailable, KubeError) as error:
        raise PreviewUnavailable(f"{_name(release)}: {error}") from error
    name, namespace = release.release_name(), release.release_namespace()
    history = await ReleaseStorage(target, release.storage_namespace()).history(name)
    deployed = next((r for r in reversed(history) if r.status == ReleaseStatus.DEPLOYED), None)
    revision = (history[-1].version + 1) if history else 1
    context = ReleaseContext(name, namespace, revision=revision, upgrade=deployed is not None)
    options = RenderOptions(
        kube_version=await target.server_version() or None,
        api_versions=tuple(await target.api_versions()),
        # lookup reads the cluster with the rights of whoever asks for the preview.
        kubeconfig=target.self_contained_kubeconfig(),
        skip_schema_validation=release.schema_validation_disabled(
            "upgrade" if deployed is not None else "install"
        ),
    )
    with tempfile.TemporaryDirectory(prefix="lockstep-chart-") as scratch:
        chart = await asyncio.to_thread(_download_chart, release, artifact, Path(scratch))
        try:
            rendered = await asyncio.to_thread(
                render_release,
                chart,
                composed.values,
                context,
                options,
                release.spec.post_renderers,
                within=duration_seconds(release.timeout()),
                post_render_strategy=release.spec.post_render_strategy,
                reuse=(
                    ReusedRelease(deployed.chart, deployed.config)
                    if deployed is not None and release.upgrade_preserve_values()
                    else None
                ),
            )
        except ReleaseRenderFailed as error:
            # Helm quotes a value its chart refuses: one from a Secret is masked, and the
            # error quoting it is not chained (``lockstep -v`` prints the chain).
            shown = composed.masked(str(error))
            raise PreviewUnavailable(f"{_name(release)}: {shown}") from None
    objects = await with_default_namespace(target, rendered.objects, namespace)
    return Preview(
        rendered=rendered.rendered,
        objects=objects,
        crds=rendered.crds,
        revision=revision,
        upgrade=deployed is not None,
        stale=await _stale(target, deployed, objects, namespace),
    )


def stored_objects(release: Release) -> list[KubeObject]:
    """The objects of a stored revision's manifest, in its order."""
    try:
        return manifest_objects(release.manifest)
    except RenderError as error:
        raise PreviewUnavailable(
            f"release {release.namespace}/{release.name}.v{release.version} holds a "
            f"manifest that cannot be read: {error}"
        ) from error


async def _stale(
    kube: KubeClient, deployed: Release | None, objects: list[KubeObject], namespace: str
) -> list[InventoryEntry]:
    if deployed is None:
        return []
    old = await with_default_namespace(kube, stored_objects(deployed), namespace)
    return stale_entries(
        [InventoryEntry.of(ObjectRef.of(o)) for o in old],
        [InventoryEntry.of(ObjectRef.of(o)) for o in objects],
    )


def _download_chart(release: HelmRelease, artifact: Artifact, scratch: Path) -> Path:
    """The chart of the artifact, downloaded and unpacked under ``scratch``."""
    try:
        fetch_artifact(artifact.url, artifact.digest, scratch)
    except SourceError as error:
        raise PreviewUnavailable(f"{_name(release)}: {error}") from error
    chart = chart_in(scratch)
    if chart is None:
        raise PreviewUnavailable(
            f"{_name(release)}: artifact {artifact.url} holds no Helm chart; for an "
            "OCIRepository, select the chart layer (spec.layerSelector)"
        )
    return chart


def _name(release: HelmRelease) -> str:
    return f"HelmRelease {release.metadata.namespace}/{release.metadata.name}"
