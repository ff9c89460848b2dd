"""A HelmRelease's ``spec.postRenderers``: Kustomize patches and image replacements
applied to the rendered manifest before it is applied and stored, as Flux's
helm-controller applies them (Helm's post-render step).

Each post-renderer in order builds a kustomization whose only resource is the
manifest so far, with the renderer's ``patches`` and ``images``, on the engine's
resident Kustomize build service (:mod:`lockstep.render.kustomizer`): the same
Kustomize, bounds and deadline as a Kustomization's build. The result replaces the
manifest; hooks are not post-rendered (their manifests stay as the chart wrote them).

Called by :mod:`lockstep.controllers.helm.release` from a thread.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

from lockstep.api.helm import PostRenderer
from lockstep.render.kustomizer import KustomizeError, shared_kustomizer
from lockstep.render.resident import BuildDeadline

RESOURCES_FILE = "manifest.yaml"


class PostRenderFailed(Exception):
    """Kustomize refused a post-renderer; the message is one line, Kustomize's own."""


def post_render(manifest: str, renderers: Sequence[PostRenderer], within: float) -> str:
    """``manifest`` with every Kustomize post-renderer applied in order, within
    ``within`` seconds in all."""
    deadline = time.monotonic() + within
    for index, renderer in enumerate(renderers):
        kustomize = renderer.kustomize
        if kustomize is None or (not kustomize.patches and not kustomize.images):
            continue
        kustomization = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": [RESOURCES_FILE],
            "patches": [p.model_dump(by_alias=True, exclude_none=True) for p in kustomize.patches],
            "images": [i.model_dump(by_alias=True, exclude_none=True) for i in kustomize.images],
        }
        with tempfile.TemporaryDirectory(prefix="postrender-") as folder:
            root = Path(folder)
            (root / RESOURCES_FILE).write_text(manifest)
            (root / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
            try:
                manifest = shared_kustomizer().build(root, root, deadline)
            except (KustomizeError, BuildDeadline) as error:
                text = " ".join(str(error).split())
                raise PostRenderFailed(f"spec.postRenderers[{index}]: {text}") from error
    return manifest
