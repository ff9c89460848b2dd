"""A HelmRelease's ``spec.postRenderers``: Kustomize patches and image replacements
applied to the rendered release before it is applied and stored, as Flux's
helm-controller applies them (Helm 4's post-render step).

Each post-renderer in order builds a kustomization whose only resource is the
manifest so far, with the renderer's ``patches`` and ``images``, on the engine's
resident Kustomize build service (:mod:`lockstep.render.kustomizer`): the same
Kustomize, bounds and deadline as a Kustomization's build (:func:`post_render`).

What the post-renderers see is ``spec.postRenderStrategy``'s choice, as in Helm 4
(:func:`post_render_release`):

- ``combined`` (Flux's default, as Helm 4's): the objects and the hooks in one stream,
  so a patch applies to a hook as to any object (a hook and an object of the same
  kind and name make Kustomize refuse the stream, as in Helm);
- ``separate``: the hooks in a stream of their own, then the objects;
- ``nohooks`` (Helm 3's way): the objects only, the hooks left as the chart wrote them.

Each document goes in with Helm's annotation naming its template, and comes back into
that template's file without it (a document a post-renderer made, into a file of its
own); the files are then sorted as Helm sorts them (:meth:`lockstep.render.helm.
HelmRenderer.sort`): hooks told by their annotations, which they keep, and the other
objects in install order.

Called by :mod:`lockstep.controllers.helm.rendering` from a thread.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from lockstep.api.helm import PostRenderer
from lockstep.render.documents import load_documents
from lockstep.render.errors import RenderError
from lockstep.render.helm import SOURCE_MARK, HelmRenderError, Rendered, shared_helm_renderer
from lockstep.render.kustomizer import KustomizeError, shared_kustomizer
from lockstep.render.resident import BuildDeadline

RESOURCES_FILE = "manifest.yaml"
FILENAME_ANNOTATION = "postrenderer.helm.sh/postrender-filename"
"""Helm's annotation naming the template of a document while it is post-rendered."""
DEFAULT_STRATEGY = "combined"
"""Flux's ``postRenderStrategy`` when none is set: Helm 4's default."""


class PostRenderFailed(Exception):
    """Kustomize refused a post-renderer; the message is one line, Kustomize's own."""


def post_render_release(
    rendered: Rendered,
    renderers: Sequence[PostRenderer],
    strategy: str | None,
    within: float,
) -> Rendered:
    """``rendered`` with its manifest and hooks post-rendered as ``strategy`` says (see
    the module docstring), within ``within`` seconds in all."""
    deadline = time.monotonic() + within
    objects, hooks = _manifest_files(rendered.manifest), _hook_files(rendered)
    strategy = strategy or DEFAULT_STRATEGY
    if strategy == "combined":
        groups = [("", _joined(hooks, objects), True)]
    else:
        groups = [("hooks", hooks, strategy == "separate"), ("manifests", objects, True)]
    files: dict[str, str] = {}
    for prefix, group, rendering in groups:
        if rendering and group:
            text = post_render(_annotated(group), renderers, max(0.0, deadline - time.monotonic()))
            group = _split(text, prefix)
        files = _joined(files, group)
    try:
        manifest, sorted_hooks = shared_helm_renderer().sort(files, deadline=deadline)
    except (HelmRenderError, BuildDeadline) as error:
        raise PostRenderFailed(f"the post-rendered release: {error}") from error
    return replace(rendered, manifest=manifest, hooks=sorted_hooks)


def _manifest_files(manifest: str) -> dict[str, str]:
    """The documents of a release manifest by the template each came from."""
    files: dict[str, str] = {}
    for document in manifest.split("---\n" + SOURCE_MARK)[1:]:
        name, _, content = document.partition("\n")
        files = _joined(files, {name.strip(): content})
    return files


def _hook_files(rendered: Rendered) -> dict[str, str]:
    files: dict[str, str] = {}
    for hook in rendered.hooks:
        files = _joined(files, {hook.path: hook.manifest})
    return files


def _joined(files: Mapping[str, str], more: Mapping[str, str]) -> dict[str, str]:
    """``files`` with the documents of ``more`` added to those of the same file."""
    joined = dict(files)
    for name, content in more.items():
        joined[name] = f"{joined[name]}\n---\n{content}" if name in joined else content
    return joined


def _annotated(files: Mapping[str, str]) -> str:
    """One stream of every object of ``files``, each annotated with its file."""
    documents = []
    for name, content in files.items():
        for obj in _objects(content, name):
            annotations = obj.setdefault("metadata", {}).setdefault("annotations", {}) or {}
            obj["metadata"]["annotations"] = {**annotations, FILENAME_ANNOTATION: name}
            documents.append(yaml.safe_dump(obj, sort_keys=False))
    return "---\n".join(documents)


def _split(text: str, prefix: str) -> dict[str, str]:
    """The post-rendered stream back into files by the annotation, which is removed; an
    object without it in a file of its own, named as Helm names it."""
    files: dict[str, str] = {}
    for index, obj in enumerate(_objects(text, "the post-rendered manifest")):
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        name = annotations.pop(FILENAME_ANNOTATION, None)
        if not annotations:
            obj["metadata"].pop("annotations", None)
        if name is None:
            name = f"generated-by-postrender-{prefix + '-' if prefix else ''}{index}.yaml"
        files = _joined(files, {name: yaml.safe_dump(obj, sort_keys=False).rstrip("\n")})
    return files


def _objects(text: str, source: str) -> Iterator[dict[str, Any]]:
    try:
        for entry in load_documents(text, source):
            yield entry.obj
    except RenderError as error:
        raise PostRenderFailed(str(error)) from error


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
