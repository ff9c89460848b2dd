"""An Application's sources rendered into objects, as Argo CD's repository server renders
them: the source type detected as Argo CD detects it, then a plain directory read, a
Kustomize build with the source's ``kustomize`` settings, or a Helm chart rendered as
``helm template`` renders it.

- **Type**: the one of ``helm``, ``kustomize``, ``directory`` the source sets (more
  than one is refused, as Argo CD refuses it); else a chart source (``chart``) or a path
  holding ``Chart.yaml`` is Helm, a path holding a kustomization file is Kustomize, and
  anything else is a directory. Config management plugins are refused.
- **Directory**: the ``.yaml``, ``.yml`` and ``.json`` files of the path (and of its
  folders with ``recurse``), ``include`` and ``exclude`` matched against each file's path
  from the source path with Argo CD's globs (:func:`~lockstep.controllers.argo.project.glob_match`:
  ``*`` crossing folders, ``{a,b}`` alternatives). Jsonnet files are refused: lockstep does not evaluate Jsonnet.
- **Kustomize**: the path built by :mod:`lockstep.render.kustomize` (Kustomize itself)
  with ``namePrefix``, ``nameSuffix``, ``namespace``, ``images``, ``commonLabels``,
  ``commonAnnotations``, ``replicas``, ``patches`` and ``components`` added to its
  kustomization, as ``kustomize edit`` adds them for Argo CD.
- **Helm**: the chart (a folder of the repository, or the archive a chart repository
  serves) rendered by the Helm rendering service (:mod:`lockstep.render.helm`) with the
  values files in order (relative to the chart, or ``$<ref>/<path>`` in the source named
  ``ref``), then ``values`` (``valuesObject`` over it), then ``parameters`` as ``--set``
  and ``--set-string``; the release named ``releaseName`` (else the Application) in
  ``namespace`` (else the destination's). The objects are what ``helm template`` prints:
  the chart's CRDs unless ``skipCrds``, the manifest, and the hooks with their
  annotations (test hooks left out with ``skipTests``).

Every refusal is a :class:`~lockstep.render.errors.RenderError` whose message names the
source and the file and says what to do. Called by the Application reconciler, in a
thread.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from lockstep.api.argo import (
    ApplicationSource,
    ApplicationSourceDirectory,
    ApplicationSourceHelm,
    ApplicationSourceKustomize,
)
from lockstep.controllers.argo.project import glob_match
from lockstep.kube import KubeObject
from lockstep.render.documents import Document, load_documents, reject_duplicates
from lockstep.render.errors import InvalidManifest, InvalidPath, RenderError
from lockstep.render.helm import (
    HelmRenderError,
    ReleaseContext,
    RenderOptions,
    manifest_objects,
    merge_values,
    shared_helm_renderer,
)
from lockstep.render.kustomize import BuildOptions, Image, Patch, PatchTarget, build_kustomization

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
HELM_TEST_EVENTS = frozenset({"test", "test-success", "test-failure"})


class SourceType(StrEnum):
    """How a source is rendered; the values of ``status.sourceType``."""

    HELM = "Helm"
    KUSTOMIZE = "Kustomize"
    DIRECTORY = "Directory"


class UnsupportedSource(RenderError):
    """The source asks for something lockstep does not render (a plugin, Jsonnet)."""


@dataclass(frozen=True)
class RenderContext:
    """What a render knows beyond the source: the Application and its cluster."""

    app_name: str
    namespace: str
    """The destination namespace."""
    kube_version: str | None = None
    api_versions: tuple[str, ...] | None = None
    refs: Mapping[str, Path] = field(default_factory=dict)
    """The root folder of every source that has a ``ref``, by that name."""


@dataclass(frozen=True)
class RenderedSource:
    source_type: SourceType
    objects: list[KubeObject]


def source_type_of(source: ApplicationSource, folder: Path | None) -> SourceType:
    """The source's type, as Argo CD detects it; ``folder`` is its path (None for a chart
    from a chart repository)."""
    explicit = [
        kind
        for kind, settings in (
            (SourceType.HELM, source.helm),
            (SourceType.KUSTOMIZE, source.kustomize),
            (SourceType.DIRECTORY, source.directory),
        )
        if settings is not None
    ]
    if source.plugin is not None:
        raise UnsupportedSource(
            f"source {source.repo_url}: config management plugins are not supported; "
            "render the manifests into the repository or use Helm or Kustomize"
        )
    if len(explicit) > 1:
        raise InvalidManifest(
            f"source {source.repo_url}: multiple source types set "
            f"({', '.join(explicit)}); keep one of helm, kustomize and directory"
        )
    if explicit:
        return explicit[0]
    if source.chart or folder is None or (folder / "Chart.yaml").is_file():
        return SourceType.HELM
    if any((folder / name).is_file() for name in KUSTOMIZATION_FILES):
        return SourceType.KUSTOMIZE
    return SourceType.DIRECTORY


def render_source(source: ApplicationSource, root: Path, context: RenderContext) -> RenderedSource:
    """The objects of ``source``, whose artifact is unpacked at ``root``: a repository's
    tree, or the unpacked chart archive for a chart source."""
    if source.chart:
        chart = _chart_folder(root, source)
        return RenderedSource(SourceType.HELM, _helm_objects(chart, source, context))
    folder = _source_folder(root, source)
    source_type = source_type_of(source, folder)
    if source_type is SourceType.HELM:
        objects = _helm_objects(folder, source, context)
    elif source_type is SourceType.KUSTOMIZE:
        objects = _kustomize_objects(root, source, source.kustomize)
    else:
        objects = directory_objects(folder, source.directory, shown=source.path or "")
    return RenderedSource(source_type, objects)


def _source_folder(root: Path, source: ApplicationSource) -> Path:
    path = (source.path or ".").strip("/") or "."
    folder = (root / path).resolve()
    if not folder.is_relative_to(root.resolve()):
        raise InvalidPath(
            f"source {source.repo_url}: path '{source.path}' leaves the repository; "
            "give a path inside it"
        )
    if not folder.is_dir():
        raise InvalidPath(
            f"source {source.repo_url}: path '{source.path}' is not a folder of revision "
            f"{source.target_revision or 'HEAD'}; fix spec.source.path"
        )
    return folder


def _chart_folder(root: Path, source: ApplicationSource) -> Path:
    """The chart unpacked from a chart repository's archive: ``root`` or its one folder
    holding a Chart.yaml."""
    if (root / "Chart.yaml").is_file():
        return root
    charts = sorted(folder for folder in root.iterdir() if (folder / "Chart.yaml").is_file())
    if not charts:
        raise InvalidPath(f"source {source.repo_url}: chart {source.chart} holds no Chart.yaml")
    return charts[0]


# --- directory --------------------------------------------------------------------------


def directory_objects(
    folder: Path, directory: ApplicationSourceDirectory | None, *, shown: str = ""
) -> list[KubeObject]:
    """The objects of the manifest files of ``folder``, in the order of their paths;
    messages name the files below ``shown``, the folder's path in the repository."""
    recurse = bool(directory and directory.recurse)
    include = directory.include if directory and directory.include else ""
    exclude = directory.exclude if directory and directory.exclude else ""
    files = sorted(folder.rglob("*") if recurse else folder.iterdir())
    documents: list[Document] = []
    for file in files:
        relative = file.relative_to(folder).as_posix()
        if not file.is_file() or any(part.startswith(".") for part in Path(relative).parts):
            continue
        if include and not glob_match(include, relative):
            continue
        if exclude and glob_match(exclude, relative):
            continue
        named = f"{shown.strip('/')}/{relative}" if shown.strip("/.") else relative
        if file.suffix == ".jsonnet":
            raise UnsupportedSource(
                f"{named}: Jsonnet is not supported; render it to YAML in the "
                "repository, or exclude it with directory.exclude"
            )
        if file.suffix not in MANIFEST_SUFFIXES:
            continue
        text = file.read_text(encoding="utf-8", errors="replace")
        documents.extend(
            document
            for document in load_documents(text, named)
            if not _is_kustomize_config(document.obj)
        )
    reject_duplicates(documents)
    return [document.obj for document in documents]


def _is_kustomize_config(obj: Mapping[str, Any]) -> bool:
    return str(obj.get("apiVersion", "")).startswith("kustomize.config.k8s.io/")


# --- kustomize ----------------------------------------------------------------------------


def _kustomize_objects(
    root: Path, source: ApplicationSource, settings: ApplicationSourceKustomize | None
) -> list[KubeObject]:
    folder = _source_folder(root, source)
    return build_kustomization(root, source.path or ".", kustomize_options(settings, folder))


def kustomize_options(settings: ApplicationSourceKustomize | None, folder: Path) -> BuildOptions:
    """The build options of a source's ``kustomize`` settings; a patch given by ``path``
    is read from ``folder``, the source's path."""
    if settings is None:
        return BuildOptions()
    return BuildOptions(
        target_namespace=settings.namespace or None,
        name_prefix=settings.name_prefix or None,
        name_suffix=settings.name_suffix or None,
        images=tuple(kustomize_image(image) for image in settings.images),
        patches=tuple(
            Patch(
                patch.patch or _patch_file(folder, patch.path),
                PatchTarget(**patch.target.model_dump(exclude_none=True)) if patch.target else None,
            )
            for patch in settings.patches
        ),
        components=tuple(settings.components),
        common_labels=tuple(sorted(settings.common_labels.items())),
        common_annotations=tuple(sorted(settings.common_annotations.items())),
        replicas=tuple(
            (replica.name, _count(replica.name, replica.count)) for replica in settings.replicas
        ),
    )


def _patch_file(folder: Path, path: str | None) -> str:
    file = (folder / (path or "")).resolve()
    if not path or not file.is_relative_to(folder.resolve()) or not file.is_file():
        raise InvalidPath(
            f"kustomize patch {path or '(without patch or path)'}: no such file in the "
            "source path; give an inline patch or the path of a file beside the kustomization"
        )
    return file.read_text(encoding="utf-8", errors="replace")


def _count(name: str, count: int | str) -> int:
    try:
        return int(count)
    except ValueError:
        raise InvalidManifest(
            f"kustomize replicas of {name}: count {count!r} is not a number; write a number"
        ) from None


_IMAGE = re.compile(r"^(?:(?P<name>[^=]+)=)?(?P<image>.+)$")


def kustomize_image(text: str) -> Image:
    """An image override as ``kustomize edit set image`` reads it: ``[name=]new[:tag]``
    or ``[name=]new@digest``; without ``name=`` the new image's name is the one replaced."""
    parts = _IMAGE.match(text)
    assert parts is not None, "the pattern matches any text"
    image, digest, tag = parts.group("image"), None, None
    if "@" in image:
        image, digest = image.split("@", 1)
    elif ":" in image.rsplit("/", 1)[-1]:
        image, tag = image.rsplit(":", 1)
    name = parts.group("name") or image
    return Image(name, new_name=image if image != name else None, new_tag=tag, digest=digest)


# --- helm ---------------------------------------------------------------------------------


def _helm_objects(
    chart: Path, source: ApplicationSource, context: RenderContext
) -> list[KubeObject]:
    settings = source.helm or ApplicationSourceHelm()
    values = helm_values(chart, source, settings, context)
    parameters = [p for p in settings.parameters if p.name]
    release = ReleaseContext(
        settings.release_name or context.app_name, settings.namespace or context.namespace
    )
    options = RenderOptions(
        kube_version=settings.kube_version or context.kube_version,
        api_versions=tuple(settings.api_versions) or context.api_versions,
    )
    try:
        rendered = shared_helm_renderer().render(
            chart,
            values,
            release,
            options,
            set_values=[f"{p.name}={p.value or ''}" for p in parameters if not p.force_string],
            set_strings=[f"{p.name}={p.value or ''}" for p in parameters if p.force_string],
        )
    except HelmRenderError as error:
        raise RenderError(f"source {source.repo_url}: helm template failed: {error}") from None
    objects: list[KubeObject] = []
    if not settings.skip_crds:
        for crd in rendered.crds:
            objects.extend(manifest_objects(crd.content, crd.name))
    objects.extend(manifest_objects(rendered.manifest, f"chart {rendered.chart_name}"))
    for hook in rendered.hooks:
        if settings.skip_tests and HELM_TEST_EVENTS.intersection(hook.events):
            continue
        objects.extend(manifest_objects(hook.manifest, hook.path))
    return objects


def helm_values(
    chart_folder: Path,
    source: ApplicationSource,
    settings: ApplicationSourceHelm,
    context: RenderContext,
) -> dict[str, Any]:
    """The values files in order, then ``values`` (``valuesObject`` over it): what the
    render gets before the parameters."""
    values: dict[str, Any] = {}
    for name in settings.value_files:
        text = _value_file(chart_folder, name, source, settings, context)
        if text is None:
            continue
        for document in parse_values(text, name):
            values = merge_values(values, document)
    if settings.values_object is not None:
        values = merge_values(values, settings.values_object)
    elif settings.values:
        for document in parse_values(settings.values, "helm.values"):
            values = merge_values(values, document)
    return values


def _value_file(
    chart_folder: Path,
    name: str,
    source: ApplicationSource,
    settings: ApplicationSourceHelm,
    context: RenderContext,
) -> str | None:
    if re.match(r"^[a-z][a-z0-9+.-]*://", name):
        raise UnsupportedSource(
            f"source {source.repo_url}: values file {name} is a URL; lockstep reads values "
            "files from sources only: add the repository as a source with a ref"
        )
    if name.startswith("$"):
        ref, _, rest = name[1:].partition("/")
        root = context.refs.get(ref)
        if root is None:
            raise InvalidPath(
                f"source {source.repo_url}: values file {name} names source ref '{ref}', "
                "which no source of the Application has; add it with ref: " + ref
            )
        base = root
    else:
        base, rest = chart_folder, name
    file = (base / rest).resolve()
    if not file.is_relative_to(base.resolve()):
        raise InvalidPath(
            f"source {source.repo_url}: values file {name} leaves its repository; "
            "give a path inside it"
        )
    if not file.is_file():
        if settings.ignore_missing_value_files:
            return None
        raise InvalidPath(
            f"source {source.repo_url}: values file {name} does not exist; add it, fix "
            "helm.valueFiles or set helm.ignoreMissingValueFiles"
        )
    return file.read_text(encoding="utf-8", errors="replace")


def parse_values(text: str, where: str) -> Sequence[dict[str, Any]]:
    """The mappings of a values text; anything else is refused, naming ``where``."""
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as error:
        problem = " ".join(str(error).split())
        raise InvalidManifest(f"{where}: invalid YAML: {problem}; fix the values") from None
    mappings = []
    for document in documents:
        if document is None:
            continue
        if not isinstance(document, dict):
            raise InvalidManifest(
                f"{where}: values must be a mapping, not a {type(document).__name__}"
            )
        mappings.append(document)
    return mappings
