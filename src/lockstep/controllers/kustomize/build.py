"""Rendering a Kustomization's objects from a folder: the one code path of the controller
and of ``lockstep build`` / ``lockstep diff``.

Kustomize with the spec's options (``targetNamespace``, prefixes, patches, images,
components and ``ignoreMissingComponents``, ``buildMetadata``, SOPS keys), then
postBuild substitution with the variables read by
:mod:`lockstep.controllers.kustomize.inputs`; then, in Flux's order, the digest that
keys ``status.history`` (:func:`lockstep.render.resmap_yaml.build_digest`) and last
``commonMetadata``: its labels and annotations set on every object's metadata,
overriding keys already present (only ``metadata``: selectors and pod templates are
left alone, and the values are not substituted; an object whose labels or annotations
are not a mapping fails the build, naming it). Raises
:class:`lockstep.render.errors.RenderError`. ``decryption.serviceAccountName`` is
accepted, but only the age keys of ``decryption.secretRef`` decrypt: a decryption that
fails with it set says that cloud KMS identities are not supported yet.

Called by the Kustomization reconciler (on the extracted artifact) and by the CLI
(on a local checkout).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lockstep.api.kustomize import Kustomization
from lockstep.controllers.kustomize.inputs import BuildInputs
from lockstep.kube import KubeObject
from lockstep.render.cache import BuildCache
from lockstep.render.documents import describe
from lockstep.render.errors import DecryptionFailed, InvalidManifest
from lockstep.render.kustomize import (
    BuildOptions,
    Image,
    Patch,
    PatchTarget,
    build_kustomization,
    kept_build,
)
from lockstep.render.resmap_yaml import build_digest
from lockstep.render.substitute import substitute


@dataclass(frozen=True)
class Rendered:
    """A Kustomization's objects and the digest of its build, as Flux records it."""

    objects: list[KubeObject]
    digest: str


def render_objects(
    kustomization: Kustomization,
    root: Path,
    path: str,
    inputs: BuildInputs,
    *,
    tree: str | None = None,
    cache: BuildCache | None = None,
) -> Rendered:
    """The objects of ``root/path`` as ``kustomization`` asks for them, substituted;
    ``tree`` is the digest of ``root`` when known
    (:func:`lockstep.render.cache.tree_digest`), ``cache`` keeps the build for the
    next same one (``None``: nothing is kept)."""
    try:
        objects = build_kustomization(
            root, path, build_options(kustomization, inputs), cache, tree=tree
        )
    except DecryptionFailed as error:
        raise _with_identity_hint(error, kustomization) from error.__cause__
    return _finished(kustomization, objects, inputs)


def _with_identity_hint(error: DecryptionFailed, kustomization: Kustomization) -> DecryptionFailed:
    decryption = kustomization.spec.decryption
    if decryption is None or not decryption.service_account_name:
        return error
    return DecryptionFailed(
        f"{error} (decryption.serviceAccountName {decryption.service_account_name}: "
        "decrypting with a cloud KMS identity is not supported yet; give age keys in "
        "decryption.secretRef)"
    )


def kept_objects(
    kustomization: Kustomization, tree: str, path: str, inputs: BuildInputs, cache: BuildCache
) -> Rendered | None:
    """What :func:`render_objects` gives for the tree whose digest is ``tree``, when its
    build is kept in ``cache``; ``None`` when the files are needed to build it."""
    objects = kept_build(tree, path, build_options(kustomization, inputs), cache)
    return None if objects is None else _finished(kustomization, objects, inputs)


def _finished(
    kustomization: Kustomization, objects: list[KubeObject], inputs: BuildInputs
) -> Rendered:
    """Substitution, the digest, then common metadata: the steps after Kustomize."""
    if inputs.variables is not None:
        objects = substitute(objects, inputs.variables, strict=inputs.strict_substitution)
    digest = build_digest(objects)
    metadata = kustomization.spec.common_metadata
    if metadata is not None:
        set_common_metadata(objects, metadata.labels, metadata.annotations)
    return Rendered(objects, digest)


def set_common_metadata(
    objects: list[KubeObject], labels: Mapping[str, str], annotations: Mapping[str, str]
) -> None:
    """Set ``labels`` and ``annotations`` on every object's metadata, overriding.

    Raises :class:`lockstep.render.errors.InvalidManifest` naming the object when the
    labels or annotations it would add to are not a mapping.
    """
    for obj in objects:
        metadata = obj["metadata"]
        for key, values in (("labels", labels), ("annotations", annotations)):
            if not values:
                continue
            present = metadata.get(key) or {}
            if not isinstance(present, dict):
                raise InvalidManifest(
                    f"{describe(obj)}: metadata.{key} is a {type(present).__name__}, not a "
                    f"mapping, so spec.commonMetadata cannot set {key} on it; write them as a "
                    "mapping of keys to values"
                )
            metadata[key] = {**present, **values}


def build_options(kustomization: Kustomization, inputs: BuildInputs) -> BuildOptions:
    spec = kustomization.spec
    return BuildOptions(
        target_namespace=spec.target_namespace,
        name_prefix=spec.name_prefix,
        name_suffix=spec.name_suffix,
        patches=tuple(
            Patch(
                patch.patch,
                PatchTarget(**patch.target.model_dump(exclude_none=True)) if patch.target else None,
            )
            for patch in spec.patches
        ),
        images=tuple(Image(i.name, i.new_name, i.new_tag, i.digest) for i in spec.images),
        components=tuple(spec.components),
        ignore_missing_components=spec.ignore_missing_components,
        build_metadata=tuple(spec.build_metadata),
        decryption_keys=inputs.age_keys,
    )
