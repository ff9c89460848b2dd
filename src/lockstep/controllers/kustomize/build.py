"""Rendering a Kustomization's objects from a folder: the one code path of the controller
and of ``lockstep build`` / ``lockstep diff``.

Kustomize with the spec's options (``targetNamespace``, prefixes, patches, images,
components and ``ignoreMissingComponents``, ``buildMetadata``, common metadata, SOPS
keys), then postBuild substitution with the variables read by
:mod:`lockstep.controllers.kustomize.inputs`. Raises
:class:`lockstep.render.errors.RenderError`. ``decryption.serviceAccountName`` is
accepted, but only the age keys of ``decryption.secretRef`` decrypt: a decryption that
fails with it set says that cloud KMS identities are not supported yet.

Called by the Kustomization reconciler (on the extracted artifact) and by the CLI
(on a local checkout).
"""

from __future__ import annotations

from pathlib import Path

from lockstep.api.kustomize import Kustomization
from lockstep.controllers.kustomize.inputs import BuildInputs
from lockstep.kube import KubeObject
from lockstep.render.cache import BuildCache
from lockstep.render.errors import DecryptionFailed
from lockstep.render.kustomize import (
    BuildOptions,
    Image,
    Patch,
    PatchTarget,
    build_kustomization,
    kept_build,
)
from lockstep.render.substitute import substitute


def render_objects(
    kustomization: Kustomization,
    root: Path,
    path: str,
    inputs: BuildInputs,
    *,
    tree: str | None = None,
    cache: BuildCache | None = None,
) -> list[KubeObject]:
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
    return _substituted(objects, inputs)


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
) -> list[KubeObject] | None:
    """What :func:`render_objects` gives for the tree whose digest is ``tree``, when its
    build is kept in ``cache``; ``None`` when the files are needed to build it."""
    objects = kept_build(tree, path, build_options(kustomization, inputs), cache)
    return None if objects is None else _substituted(objects, inputs)


def _substituted(objects: list[KubeObject], inputs: BuildInputs) -> list[KubeObject]:
    if inputs.variables is not None:
        return substitute(objects, inputs.variables, strict=inputs.strict_substitution)
    return objects


def build_options(kustomization: Kustomization, inputs: BuildInputs) -> BuildOptions:
    spec = kustomization.spec
    metadata = spec.common_metadata
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
        common_labels=dict(metadata.labels) if metadata else {},
        common_annotations=dict(metadata.annotations) if metadata else {},
        decryption_keys=inputs.age_keys,
    )
