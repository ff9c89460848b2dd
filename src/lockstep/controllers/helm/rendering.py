"""A release rendered into the objects it applies: Helm's render of the chart, the
HelmRelease's post-renderers, and the manifest read into objects within the engine's
bounds, in one step for the reconciler (:mod:`.release`) and for the preview of
``lockstep build`` and ``diff`` (:mod:`.preview`), so that a preview is what a release
applies.

Every refusal is one :class:`ReleaseRenderFailed` line: Helm's own message (a template
error names the template and line), a post-renderer's, the template of a rendered
document that is not an object the engine reads (no kind, YAML nested too deep), or the
limit the render went past. Nothing is stored or applied before this step returns.

Called from a thread: every step blocks.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockstep.api.helm import PostRenderer
from lockstep.controllers.helm.postrender import PostRenderFailed, post_render_release
from lockstep.kube import KubeObject
from lockstep.render.errors import RenderError
from lockstep.render.helm import (
    DEFAULT_DEADLINE_SECONDS,
    HelmRenderError,
    ReleaseContext,
    Rendered,
    RenderOptions,
    ReusedRelease,
    manifest_objects,
    shared_helm_renderer,
)
from lockstep.render.resident import BuildDeadline


class ReleaseRenderFailed(Exception):
    """The chart, its values or the post-renderers give no release; the message is one
    line. ``chart``: the chart's ``name@version`` once it has loaded; ``post_render``: a
    post-renderer failed, which only a change of the HelmRelease's spec repairs."""

    def __init__(
        self, message: str, *, chart: str | None = None, post_render: bool = False
    ) -> None:
        super().__init__(message)
        self.chart = chart
        self.post_render = post_render


@dataclass(frozen=True)
class RenderedRelease:
    """What one install or upgrade would store and apply."""

    rendered: Rendered
    """Helm's render, post-rendered (its manifest, and its hooks unless the strategy
    leaves them out)."""
    objects: list[KubeObject]
    """The manifest's objects in its order, as the chart wrote them (no namespace set)."""
    crds: list[KubeObject]
    """The objects of the chart's ``crds/`` files."""


def render_release(
    chart: Path,
    values: Mapping[str, Any],
    context: ReleaseContext,
    options: RenderOptions,
    post_renderers: Sequence[PostRenderer] = (),
    *,
    within: float = DEFAULT_DEADLINE_SECONDS,
    reuse: ReusedRelease | None = None,
    post_render_strategy: str | None = None,
) -> RenderedRelease:
    """``chart`` (an archive or a folder) rendered with ``values`` for ``context`` (over
    those of ``reuse``, an upgrade's ``preserveValues``), then post-rendered as
    ``post_render_strategy`` says (``spec.postRenderStrategy``; Flux's default when
    None), within ``within`` seconds in all."""
    deadline = time.monotonic() + within
    try:
        rendered = shared_helm_renderer().render(
            chart, values, context, options, deadline=deadline, reuse=reuse
        )
    except BuildDeadline:
        raise ReleaseRenderFailed(f"Helm did not render the chart within {within:.0f}s") from None
    except HelmRenderError as error:
        raise ReleaseRenderFailed(str(error), chart=error.chart) from error
    chart_named = f"{rendered.chart_name}@{rendered.chart_version}"
    if post_renderers:
        try:
            rendered = post_render_release(
                rendered,
                post_renderers,
                post_render_strategy,
                max(0.0, deadline - time.monotonic()),
            )
        except PostRenderFailed as error:
            raise ReleaseRenderFailed(str(error), chart=chart_named, post_render=True) from error
    try:
        objects = manifest_objects(rendered.manifest, "the post-rendered manifest")
        crds = [obj for crd in rendered.crds for obj in manifest_objects(crd.content, crd.name)]
    except RenderError as error:
        raise ReleaseRenderFailed(str(error), chart=chart_named) from error
    return RenderedRelease(rendered, objects, crds)


def chart_in(folder: Path) -> Path | None:
    """The chart of an unpacked artifact: the one file of a copied OCI layer (the chart's
    archive), or the folder holding Chart.yaml nearest the top (a HelmChart's archive or
    an extracted OCI layer)."""
    files = [path for path in folder.rglob("*") if path.is_file()]
    if len(files) == 1 and files[0].name != "Chart.yaml":
        return files[0]
    charts = sorted(path.parent for path in files if path.name == "Chart.yaml")
    return min(charts, key=lambda path: len(path.parts)) if charts else None
