"""Building the objects of a Kustomization's path with real Kustomize (its Go library).

`build_kustomization` renders ``spec.path`` of an extracted artifact the way Flux's
kustomize-controller does:

1. copy into a temporary folder what the build reads (the path's folder and the folders
   and files its kustomization files name, recursively:
   :func:`lockstep.render.references.build_closure`), so that the extraction, which
   other builds share, is never modified and a build costs what it reads, not the size
   of the repository; when the build of that copy fails, it runs once more on a copy of
   the whole artifact, whose outcome (objects or error) is the build's;
2. when the path has no kustomization file, validate every ``.yaml``/``.yml`` file under
   it (a file that is not a Kubernetes object fails the build, naming file and line) and
   generate a ``kustomization.yaml`` listing them all, recursively; a sub-folder with its
   own kustomization file is listed as one entry and not descended into;
3. refuse remote bases and paths that leave the artifact (:mod:`lockstep.render.references`),
   and YAML and JSON files beyond the ceilings of :mod:`lockstep.render.bounds` (size,
   nesting, aliases), naming the file, before Kustomize reads them;
4. write the spec's options into the path's kustomization file, as Flux does (a
   kustomization file that is a symbolic link is replaced by a file, never written
   through):
   ``namespace`` (targetNamespace), ``namePrefix`` and ``nameSuffix`` replace the file's
   own; ``patches``, ``images`` and ``components`` are appended to its lists (components
   that do not exist left out with ``ignore_missing_components``), and ``buildMetadata``
   replaces its own;
5. decrypt, in the copy, the SOPS-encrypted files that generators read
   (:mod:`lockstep.render.sops`, with ``decryption_keys``);
6. build it with Kustomize's library run as Flux runs it, in the engine's resident
   build service (:mod:`lockstep.render.kustomizer`): any file under the artifact may
   be read, as in Flux, and nothing outside it, and without ``sortOptions`` of their
   own the objects come out in the order the kustomization lists them (Flux's Kustomize
   does no final reordering); its processes are bounded in memory and CPU time
   (:mod:`lockstep.render.process`), and a build past a limit fails naming the folder
   and the limit; Kustomize's errors are made one stable line naming the file
   (:mod:`lockstep.render.failures`);
7. read the output (:mod:`lockstep.render.documents`) and decrypt the SOPS-encrypted
   objects.

``commonMetadata`` is not the build's: Flux sets it after postBuild substitution and
after taking the build's digest (:mod:`lockstep.controllers.kustomize.build`).

Steps 5 to 7 share one time limit, ``timeout``. The copy, with any plaintext that step 5
wrote, is deleted when the build ends, whether it succeeded or not.

A build without decryption keys is kept in the :class:`lockstep.render.cache.BuildCache`
the caller passes, by the content of the artifact, the path and the options: the next
build of the same files with the same options (another Kustomization of the same
source) takes the objects from there and starts neither the copy nor Kustomize.

Called by the Kustomization reconciler from a thread pool, since it blocks on the
build service and the disk; the reconciler then runs :func:`lockstep.render.substitute.substitute`.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from lockstep.gobuild import GoBuildError
from lockstep.render.bounds import check_yaml, read_text
from lockstep.render.cache import BuildCache, build_key_of_tree, tree_digest
from lockstep.render.documents import Document, load_documents, parse_documents, reject_duplicates
from lockstep.render.errors import (
    BuildLimitExceeded,
    BuildServiceFailed,
    BuildTimeout,
    ContentLimitExceeded,
    ForbiddenReference,
    InvalidPath,
    KustomizeFailed,
    MissingReference,
    RenderError,
    repeats,
)
from lockstep.render.failures import kustomize_message
from lockstep.render.kustomizer import (
    BuildDeadline,
    KustomizeError,
    ServiceFailed,
    shared_kustomizer,
)
from lockstep.render.process import LimitExceeded
from lockstep.render.references import (
    KUSTOMIZATION_FILES,
    build_closure,
    changes_schema,
    check_references,
    display_path,
    find_kustomization_file,
    is_remote,
    read_kustomization,
    real_path,
    resolve_entry,
)
from lockstep.render.sops import SopsDecryptor, age_identities

DEFAULT_BUILD_TIMEOUT = 60.0
"""Seconds a build may take; the reconciler passes what is left of ``spec.timeout``."""

_MANIFEST_SUFFIXES = (".yaml", ".yml")
_CHECKED_SUFFIXES = (*_MANIFEST_SUFFIXES, ".json")


@dataclass(frozen=True)
class PatchTarget:
    """The objects a patch applies to; an object must match every field that is set."""

    group: str | None = None
    version: str | None = None
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    label_selector: str | None = None
    annotation_selector: str | None = None


@dataclass(frozen=True)
class Patch:
    """An inline strategic merge or JSON 6902 patch, and the objects it applies to."""

    patch: str
    target: PatchTarget | None = None


@dataclass(frozen=True)
class Image:
    """A replacement of a container image's name, tag or digest."""

    name: str
    new_name: str | None = None
    new_tag: str | None = None
    digest: str | None = None


@dataclass(frozen=True)
class BuildOptions:
    """The Kustomization spec fields that shape a build; ``BuildOptions()`` builds the path as is."""

    target_namespace: str | None = None
    name_prefix: str | None = None
    name_suffix: str | None = None
    patches: tuple[Patch, ...] = ()
    images: tuple[Image, ...] = ()
    components: tuple[str, ...] = ()
    """Component folders, relative to the path."""
    ignore_missing_components: bool = False
    """Leave out the components that do not exist instead of failing the build."""
    build_metadata: tuple[str, ...] = ()
    """Kustomize ``buildMetadata`` options; they replace the kustomization file's own."""
    common_labels: tuple[tuple[str, str], ...] = ()
    """Labels added to the kustomization's ``commonLabels`` (Argo CD's ``kustomize``)."""
    common_annotations: tuple[tuple[str, str], ...] = ()
    """Annotations added to its ``commonAnnotations``."""
    replicas: tuple[tuple[str, int], ...] = ()
    """(name, count) entries appended to its ``replicas``."""
    timeout: float = DEFAULT_BUILD_TIMEOUT
    """Seconds that decryption and the Kustomize build may take together."""
    decryption_keys: tuple[str, ...] = field(default=(), repr=False)
    """Age private keys: the values of the ``.agekey`` entries of spec.decryption.secretRef.

    Without them, a SOPS-encrypted object or generator input fails the build. Left out of
    ``repr``, so that logging the options does not log the keys.
    """


def build_kustomization(
    root: Path,
    path: str,
    options: BuildOptions,
    cache: BuildCache | None = None,
    *,
    tree: str | None = None,
) -> list[dict[str, Any]]:
    """The objects of ``root/path``, built as Flux builds them; see the module docstring.

    ``path`` is ``spec.path``: relative to the artifact root ``root``, which is also where
    a leading ``/`` points. ``cache`` keeps builds for the next same one (``None``: always
    build); ``tree`` is the :func:`~lockstep.render.cache.tree_digest` of ``root`` when
    the caller knows it. Raises a :class:`lockstep.render.errors.RenderError`.
    """
    if cache is None or options.decryption_keys:
        objects = _build(root, path, options)
    else:
        key = build_key_of_tree(tree or tree_digest(root), path, _shaping_options(options))
        cached = cache.get_or_claim(key)
        if cached is None:
            try:
                objects = _build(root, path, options)
                cache.put(key, objects)
            except RenderError as error:
                if repeats(error):
                    cache.put_failure(key, error)
                raise
            finally:
                cache.release(key)
        else:
            objects = cached
    return objects


def kept_build(
    tree: str, path: str, options: BuildOptions, cache: BuildCache | None = None
) -> list[dict[str, Any]] | None:
    """The objects :func:`build_kustomization` gives for the tree whose digest is
    ``tree``, when that build is kept; ``None`` when it is not (or cannot be)."""
    if cache is None or options.decryption_keys:
        return None
    return cache.get(build_key_of_tree(tree, path, _shaping_options(options)))


def _shaping_options(options: BuildOptions) -> str:
    """The options that change Kustomize's output, as text; the time limit does not."""
    return repr(replace(options, timeout=0))


def _build(root: Path, path: str, options: BuildOptions) -> list[dict[str, Any]]:
    """Steps 1 to 7 of the module docstring, on a copy of what the build reads; when that
    fails, once more on a copy of the whole artifact, whose outcome is the build's."""
    deadline = time.monotonic() + options.timeout
    folder = _path_folder(root, path)
    try:
        closure = build_closure(folder, root, options.components)
    except (OSError, ValueError):
        closure = [root]
    if closure != [root]:
        try:
            return _build_copy(root, path, options, deadline, closure)
        except (BuildTimeout, BuildLimitExceeded, ContentLimitExceeded):
            # The whole artifact holds the same: copying it would only cost more.
            raise
        except (RenderError, OSError):
            pass
    return _build_copy(root, path, options, deadline, [root])


def _build_copy(
    root: Path, path: str, options: BuildOptions, deadline: float, closure: list[Path]
) -> list[dict[str, Any]]:
    """Build ``path`` in a temporary copy of the folders and files of ``closure``."""
    identities = age_identities(options.decryption_keys)
    with tempfile.TemporaryDirectory(prefix="lockstep-render-") as scratch:
        copy = Path(scratch).resolve() / "artifact"
        copy.mkdir()
        for part in closure:
            target = copy / part.relative_to(root)
            if part.is_dir():
                shutil.copytree(part, target, symlinks=True, dirs_exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(part, target, follow_symlinks=False)
        _check_files(copy)
        sops_home = Path(scratch).resolve() / "sops-home"
        sops_home.mkdir()
        decryptor = SopsDecryptor(identities, sops_home, deadline, options.timeout)
        folder = _path_folder(copy, path)
        shown = display_path(folder, copy)
        kustomization_file = find_kustomization_file(folder, copy)
        if kustomization_file is None:
            kustomization_file = folder / "kustomization.yaml"
            kustomization = _generate_kustomization(folder, copy)
        else:
            kustomization = read_kustomization(kustomization_file, copy)
        _write_options(kustomization, options, folder, copy)
        _replace_file(kustomization_file, yaml.safe_dump(kustomization, sort_keys=False))
        kustomization_files = check_references(folder, copy)
        decryptor.decrypt_generator_inputs(kustomization_files, copy)
        schema = changes_schema(kustomization_files, copy)
        output = _run_kustomize(
            folder, copy, options.timeout, deadline, schema, kustomization_files
        )
        objects = parse_documents(output, f"{shown} (kustomize output)")
        return decryptor.decrypt_objects(objects)


def _replace_file(file: Path, text: str) -> None:
    """Make ``file`` a file holding ``text``. A symbolic link there is removed, not
    written through: it may point at a file of another folder, or, in a local checkout,
    outside the repository; ``O_NOFOLLOW`` makes sure of it."""
    # An artifact may hold read-only folders; the copy is the build's to rewrite.
    file.parent.chmod(file.parent.stat().st_mode | stat.S_IWUSR | stat.S_IXUSR)
    if file.is_symlink():
        file.unlink()
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
    with os.fdopen(os.open(file, flags, 0o644), "w", encoding="utf-8") as written:
        written.write(text)


def _path_folder(root: Path, path: str) -> Path:
    folder = real_path(root / path.lstrip("/"))
    if not folder.is_relative_to(root):
        raise InvalidPath(
            f"spec.path '{path}' resolves outside the source artifact; give a path inside it"
        )
    if not folder.is_dir():
        raise InvalidPath(
            f"spec.path '{path}' is not a folder of the source artifact; fix spec.path"
        )
    return folder


def _generate_kustomization(folder: Path, root: Path) -> dict[str, Any]:
    """A kustomization listing the manifests under ``folder``, validated first."""
    documents: list[Document] = []
    resources = [
        entry.relative_to(folder).as_posix() for entry in _plain_entries(folder, root, documents)
    ]
    reject_duplicates(documents)
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    }


def _plain_entries(folder: Path, root: Path, documents: list[Document]) -> list[Path]:
    """Manifest files under ``folder`` and sub-folders with their own kustomization, sorted."""
    entries: list[Path] = []
    for child in sorted(folder.iterdir()):
        _check_link(child, folder, root)
        if child.is_dir():
            if find_kustomization_file(child, root) is None:
                entries.extend(_plain_entries(child, root, documents))
            else:
                entries.append(child)
        elif child.suffix in _MANIFEST_SUFFIXES:
            shown = display_path(child, root)
            if not child.exists():
                raise MissingReference(
                    f"{shown} is a symbolic link to nothing (a missing file, or a loop of "
                    "links); remove it or make it point to a manifest"
                )
            documents.extend(load_documents(read_text(child, shown), shown))
            entries.append(child)
    return entries


def _check_link(child: Path, folder: Path, root: Path) -> None:
    """Refuse an entry of a plain folder that is a symbolic link resolving outside the
    artifact, or to a folder that holds it, which would be listed without end."""
    target = real_path(child)
    if not target.is_relative_to(root):
        raise ForbiddenReference(
            f"{display_path(child, root)} is a symbolic link that resolves outside the "
            "source artifact; remove it or make it point inside"
        )
    if child.is_symlink() and target.is_dir() and real_path(folder).is_relative_to(target):
        raise ForbiddenReference(
            f"{display_path(child, root)} is a symbolic link to a folder that holds it; remove it"
        )


def _check_files(root: Path) -> None:
    """Every YAML and JSON file and kustomization file under ``root`` within the ceilings
    of :mod:`lockstep.render.bounds`. Symbolic links are not followed: what they point to
    inside ``root`` is checked where it is, and Kustomize reads nothing outside."""
    for folder, _, files in os.walk(root):
        for name in files:
            file = Path(folder) / name
            if file.is_symlink() or not (
                name.endswith(_CHECKED_SUFFIXES) or name in KUSTOMIZATION_FILES
            ):
                continue
            shown = display_path(file, root)
            check_yaml(read_text(file, shown), shown)


def _write_options(
    kustomization: dict[str, Any], options: BuildOptions, folder: Path, root: Path
) -> None:
    """Set the spec's options in the path's kustomization, replacing or appending like Flux."""
    for key, value in (
        ("namespace", options.target_namespace),
        ("namePrefix", options.name_prefix),
        ("nameSuffix", options.name_suffix),
    ):
        if value:
            kustomization[key] = value
    components = [
        component
        for component in options.components
        if not _missing_and_ignored(component, options, folder, root)
    ]
    for component in components:
        resolve_entry(folder, component, root, where="spec.components")
    for key, additions in (
        ("patches", [_patch_entry(patch) for patch in options.patches]),
        ("images", [_image_entry(image) for image in options.images]),
        ("components", components),
    ):
        present = kustomization.get(key) or []
        # Any other value than a list is left for Kustomize to refuse, naming the field.
        if additions and isinstance(present, list):
            kustomization[key] = [*present, *additions]
    if options.build_metadata:
        kustomization["buildMetadata"] = list(options.build_metadata)
    for key, pairs in (
        ("commonLabels", options.common_labels),
        ("commonAnnotations", options.common_annotations),
    ):
        present = kustomization.get(key) or {}
        if pairs and isinstance(present, dict):
            kustomization[key] = {**present, **dict(pairs)}
    present = kustomization.get("replicas") or []
    if options.replicas and isinstance(present, list):
        added = [{"name": name, "count": count} for name, count in options.replicas]
        kustomization["replicas"] = [*present, *added]


def _missing_and_ignored(component: str, options: BuildOptions, folder: Path, root: Path) -> bool:
    """Whether ``component`` is left out: missing, inside the artifact, and missing ones
    ignored. Remote ones and ones outside the artifact are kept, to be refused."""
    if not options.ignore_missing_components or is_remote(component):
        return False
    target = real_path(folder / component)
    return target.is_relative_to(root) and not target.exists()


def _patch_entry(patch: Patch) -> dict[str, Any]:
    entry: dict[str, Any] = {"patch": patch.patch}
    if patch.target is not None:
        target = patch.target
        entry["target"] = _without_none(
            group=target.group,
            version=target.version,
            kind=target.kind,
            name=target.name,
            namespace=target.namespace,
            labelSelector=target.label_selector,
            annotationSelector=target.annotation_selector,
        )
    return entry


def _image_entry(image: Image) -> dict[str, str]:
    return _without_none(
        name=image.name, newName=image.new_name, newTag=image.new_tag, digest=image.digest
    )


def _without_none(**fields: str | None) -> dict[str, str]:
    return {key: value for key, value in fields.items() if value is not None}


def _run_kustomize(
    folder: Path,
    root: Path,
    timeout: float,
    deadline: float,
    schema: bool,
    kustomization_files: list[Path],
) -> str:
    shown = display_path(folder, root)
    try:
        return shared_kustomizer().build(folder, root, deadline, schema=schema)
    except BuildDeadline as error:
        raise BuildTimeout(
            f"{shown}: kustomize build did not finish within {timeout:g}s; simplify the "
            "kustomization or raise spec.timeout"
        ) from error
    except LimitExceeded as error:
        raise BuildLimitExceeded(
            f"{shown}: kustomize build {error}; look for YAML aliases that refer to aliases "
            "or generated content that grows without end"
        ) from error
    except ServiceFailed as error:
        raise BuildServiceFailed(f"{shown}: {error}; it is tried again") from error
    except KustomizeError as error:
        message = kustomize_message(str(error), root, kustomization_files)
        raise KustomizeFailed(f"{shown}: kustomize build failed: {message}") from error
    except GoBuildError as error:
        raise BuildServiceFailed(f"{shown}: {error}") from error
