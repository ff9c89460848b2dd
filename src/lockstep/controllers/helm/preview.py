"""What a HelmRelease would release now, without releasing it: the chart of its HelmChart's
artifact, the values composed from the cluster, rendered by Helm's engine as the next
install or upgrade.

The steps are those of the reconciler's pipeline (:mod:`.release`), read-only:

1. **Chart.** The artifact in the HelmChart's ``status.artifact``, downloaded from the
   engine's artifact server and checked against its digest
   (:func:`lockstep.sources.artifact_fetch.fetch_artifact`); a HelmChart without an
   artifact, or a ``chartRef`` to another kind, is a :class:`PreviewUnavailable`.
2. **Values.** ``spec.valuesFrom`` then ``spec.values`` (:func:`.values.compose_values`).
3. **Render** at the next revision of the release's history (:mod:`.storage`): an
   upgrade when a revision is deployed, else an install.

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

import yaml

from lockstep.api.helm import HelmRelease
from lockstep.api.meta import Artifact
from lockstep.apply import InventoryEntry, stale_entries
from lockstep.controllers.helm.storage import Release, ReleaseStatus, ReleaseStorage
from lockstep.controllers.helm.values import ValuesUnavailable, compose_values
from lockstep.kube import KubeClient, KubeError, KubeObject, NotFound, ObjectRef
from lockstep.render.helm import (
    HelmRenderError,
    ReleaseContext,
    Rendered,
    RenderOptions,
    shared_helm_renderer,
)
from lockstep.render.resident import BuildDeadline
from lockstep.sources.artifact_fetch import fetch_artifact
from lockstep.sources.errors import SourceError

CHART_API_VERSION = "source.toolkit.fluxcd.io/v1"


class PreviewUnavailable(Exception):
    """The release cannot be rendered now: no chart artifact, missing values, a chart Helm
    refuses. The message names the HelmRelease and what to do."""


@dataclass(frozen=True)
class Preview:
    """A HelmRelease rendered as its next install or upgrade."""

    rendered: Rendered
    objects: list[KubeObject]
    """The objects of the manifest, in Helm's order, namespaced as Helm's client does."""
    revision: int
    upgrade: bool
    stale: list[InventoryEntry]
    """Objects of the deployed revision that the new one does not render."""


async def chart_artifact(kube: KubeClient, release: HelmRelease) -> Artifact:
    """The artifact of the release's HelmChart, as its status advertises it."""
    ref = release.chart_reference()
    if ref.kind != "HelmChart":
        raise PreviewUnavailable(
            f"{_name(release)}: a chart from an {ref.kind} cannot be previewed yet; "
            "use a HelmChart or spec.chart"
        )
    try:
        chart = await kube.get(ObjectRef(CHART_API_VERSION, "HelmChart", ref.name, ref.namespace))
    except NotFound as error:
        raise PreviewUnavailable(
            f"{_name(release)}: HelmChart {ref.namespace}/{ref.name} not found; "
            "is lockstep run reconciling the HelmRelease?"
        ) from error
    artifact = (chart.get("status") or {}).get("artifact")
    if not artifact:
        raise PreviewUnavailable(
            f"{_name(release)}: HelmChart {ref.namespace}/{ref.name} has no artifact yet; "
            f"lockstep reconcile source chart {ref.name} -n {ref.namespace}"
        )
    return Artifact.model_validate(artifact)


async def preview(kube: KubeClient, release: HelmRelease, artifact: Artifact) -> Preview:
    """``release`` rendered from the chart at ``artifact``, with its values read from the
    cluster, as the next revision of its history."""
    try:
        values = await compose_values(
            kube,
            release.metadata.namespace or "",
            [ref.model_dump(by_alias=True, exclude_none=True) for ref in release.spec.values_from],
            release.spec.values,
        )
    except (ValuesUnavailable, KubeError) as error:
        raise PreviewUnavailable(f"{_name(release)}: {error}") from error
    name, namespace = release.release_name(), release.release_namespace()
    history = await ReleaseStorage(kube, release.storage_namespace()).history(name)
    deployed = next((r for r in reversed(history) if r.status == ReleaseStatus.DEPLOYED), None)
    revision = (history[-1].version + 1) if history else 1
    context = ReleaseContext(name, namespace, revision=revision, upgrade=deployed is not None)
    options = RenderOptions(kube_version=await kube.server_version() or None)
    with tempfile.TemporaryDirectory(prefix="lockstep-chart-") as scratch:
        chart = await asyncio.to_thread(_download_chart, release, artifact, Path(scratch))
        try:
            rendered = await asyncio.to_thread(
                shared_helm_renderer().render, chart, values, context, options
            )
        except (HelmRenderError, BuildDeadline) as error:
            raise PreviewUnavailable(
                f"{_name(release)}: Helm cannot render the chart: {' '.join(str(error).split())}"
            ) from error
    objects = await namespaced(kube, manifest_objects(rendered.manifest), namespace)
    return Preview(
        rendered=rendered,
        objects=objects,
        revision=revision,
        upgrade=deployed is not None,
        stale=await _stale(kube, deployed, objects, namespace),
    )


def manifest_objects(manifest: str) -> list[KubeObject]:
    """The objects of a release manifest, in its order."""
    return [doc for doc in yaml.safe_load_all(manifest) if isinstance(doc, dict) and doc]


async def namespaced(
    kube: KubeClient, objects: list[KubeObject], namespace: str
) -> list[KubeObject]:
    """``objects`` with ``namespace`` set on the namespaced ones that name none, as Helm's
    client sets it; a kind the cluster does not serve counts as namespaced."""
    for obj in objects:
        metadata = obj.setdefault("metadata", {})
        if metadata.get("namespace"):
            continue
        try:
            info = await kube.resource_info(obj["apiVersion"], obj["kind"])
        except NotFound:
            info = None
        if info is None or info.namespaced:
            metadata["namespace"] = namespace
    return objects


async def _stale(
    kube: KubeClient, deployed: Release | None, objects: list[KubeObject], namespace: str
) -> list[InventoryEntry]:
    if deployed is None:
        return []
    old = await namespaced(kube, manifest_objects(deployed.manifest), namespace)
    return stale_entries(
        [InventoryEntry.of(ObjectRef.of(o)) for o in old],
        [InventoryEntry.of(ObjectRef.of(o)) for o in objects],
    )


def _download_chart(release: HelmRelease, artifact: Artifact, scratch: Path) -> Path:
    """The chart folder of the artifact, downloaded and unpacked under ``scratch``."""
    try:
        fetch_artifact(artifact.url, artifact.digest, scratch)
    except SourceError as error:
        raise PreviewUnavailable(f"{_name(release)}: {error}") from error
    folders = [path for path in scratch.iterdir() if path.is_dir()]
    if len(folders) != 1:
        raise PreviewUnavailable(
            f"{_name(release)}: artifact {artifact.url} is not one chart folder; "
            "reconcile the HelmChart to store it again"
        )
    return folders[0]


def _name(release: HelmRelease) -> str:
    return f"HelmRelease {release.metadata.namespace}/{release.metadata.name}"
