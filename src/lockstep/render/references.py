"""Confinement of a build to the artifact: every path a kustomization file names is checked.

`check_references` reads a kustomization file and, recursively, those of the folders it
builds on, and refuses before Kustomize runs:

- remote bases and resources (``https://``, ``git::``, ``github.com/...``, ``?ref=``):
  lockstep builds what the source artifact holds and fetches nothing else;
- paths that resolve outside the artifact root, through ``..`` or a symbolic link;
- local paths that do not exist, which Kustomize would otherwise try as remote URLs;
- a kustomization file that is a symbolic link resolving outside the artifact, which
  is neither read nor written (the build rewrites the path's kustomization file);
- JSON patches with an operation that JSON patch does not have, naming the patch.

The entries checked are ``resources``, ``bases`` and ``components`` (which can name
folders, that is other kustomization roots) and the ``path`` of patches. Every other
file a build reads (generator inputs, replacements, OpenAPI schemas...) is confined to
the artifact by the build's own file system, Flux's (:mod:`lockstep.render.kustomizer`);
of those, the ones Kustomize would download (``crds``, ``openapi.path``, the ``files``
and ``envs`` of generators) are refused here when they are URLs.

`build_closure` follows the same entries (and those of generators, transformers and
validators) without checking them, to tell which folders and files a build reads: a
build copies only those, so its cost does not grow with the rest of the repository.

Called by :mod:`lockstep.render.kustomize`: `build_closure` on the shared extracted
artifact, `check_references` on its temporary copy, which hands the kustomization files
checked to :mod:`lockstep.render.sops` to find the generator inputs to decrypt.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from lockstep.render.bounds import check_yaml, read_bytes, read_text
from lockstep.render.documents import yaml_problem
from lockstep.render.errors import (
    ContentLimitExceeded,
    ForbiddenReference,
    InvalidManifest,
    MissingReference,
)

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
"""The file names Kustomize recognises, in the order it looks for them."""

_REMOTE_PREFIXES = ("git::", "git@", "ssh://", "github.com/", "gitlab.com/", "bitbucket.org/")
_REMOTE_MARKERS = ("://", "?ref=", "?version=", "?submodules=", "?timeout=")
_GENERATORS = ("configMapGenerator", "secretGenerator")
_JSON_PATCH_OPERATIONS = ("add", "remove", "replace", "move", "copy", "test")


def real_path(path: Path) -> Path:
    """``path`` with its symbolic links resolved. Unlike :meth:`Path.resolve`, a loop of
    links does not raise: the path comes back unresolved there, and does not exist."""
    return Path(os.path.realpath(path))


def listed(value: object) -> list[Any]:
    """The entries of a kustomization field that holds a list; none for any other value,
    which Kustomize refuses naming the field ("invalid Kustomization: ...")."""
    return value if isinstance(value, list) else []


def find_kustomization_file(folder: Path, root: Path) -> Path | None:
    """The kustomization file of ``folder``, or None when it has none.

    `ForbiddenReference` when the file Kustomize would look at first is a symbolic link
    resolving outside ``root``, dangling or not: the build neither reads it nor writes
    through it.
    """
    for name in KUSTOMIZATION_FILES:
        candidate = folder / name
        if candidate.is_symlink() and not real_path(candidate).is_relative_to(root):
            raise _link_outside(candidate, root)
        if candidate.is_file():
            return candidate
    return None


def read_kustomization(file: Path, root: Path) -> dict[str, Any]:
    """The content of a kustomization file; `InvalidManifest` if it is not a YAML mapping,
    `ContentLimitExceeded` beyond the ceilings of :mod:`lockstep.render.bounds`,
    `ForbiddenReference` when it is a symbolic link resolving outside ``root``."""
    if not real_path(file).is_relative_to(root):
        raise _link_outside(file, root)
    shown = display_path(file, root)
    raw = read_bytes(file, shown)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise InvalidManifest(
            f"{shown}:{line}: not UTF-8 text (byte 0x{raw[err.start]:02x}); save the file as UTF-8"
        ) from err
    try:
        check_yaml(text, shown)
        content = yaml.safe_load(text)
    except yaml.YAMLError as err:
        line, problem = yaml_problem(err, text)
        raise InvalidManifest(f"{shown}:{line}: invalid YAML: {problem}; fix the file") from err
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise InvalidManifest(f"{shown}: a kustomization file must be a YAML mapping; fix the file")
    return content


def check_references(folder: Path, root: Path) -> list[Path]:
    """Check the kustomization of ``folder`` and of every folder it builds on, once each.

    Returns the kustomization files checked, which are all those the build reads.
    """
    pending = [folder]
    visited: set[Path] = set()
    files: list[Path] = []
    while pending:
        current = pending.pop()
        if current in visited:
            continue
        visited.add(current)
        file = find_kustomization_file(current, root)
        if file is None:
            continue
        files.append(file)
        kustomization = read_kustomization(file, root)
        shown = display_path(file, root)
        for field, entry in _fetched_entries(kustomization):
            _refuse_download(entry, where=f"{shown}: {field}")
        for field, entry in _path_entries(kustomization):
            target = resolve_entry(current, entry, root, where=f"{shown}: {field}")
            if target.is_dir():
                pending.append(target)
        check_json_patches(kustomization, file, root)
    return files


def build_closure(folder: Path, root: Path, components: Iterable[str] = ()) -> list[Path]:
    """The folders and files under ``root`` that a build of ``folder`` with the extra
    ``components`` reads, as far as the kustomization files tell; a folder stands for
    everything under it, and none is inside another.

    ``folder`` and every folder or file named by the kustomization files, recursively:
    those of ``folder``, of the folders they name, and of the folders under a folder
    without one (which the build lists whole); symbolic links under those folders add
    their targets. Nothing is checked (:func:`check_references` does that on the copy):
    entries that are remote, missing or outside ``root`` are left out.
    """
    pending = [
        folder,
        *(real_path(folder / entry) for entry in components if not is_remote(entry)),
    ]
    visited: set[Path] = set()
    picked: list[Path] = []
    while pending:
        current = pending.pop()
        if current in visited or not current.is_relative_to(root) or not current.exists():
            continue
        visited.add(current)
        picked.append(current)
        if current.is_dir():
            pending.extend(_named_by(current, root))
    return _topmost(picked)


def _named_by(folder: Path, root: Path) -> Iterator[Path]:
    """What the kustomization files of ``folder`` name (those under it when it has none),
    and the targets of the symbolic links under it."""
    for current, subfolders, files in os.walk(folder):
        here = Path(current)
        for name in [*subfolders, *files]:
            if (here / name).is_symlink():
                yield real_path(here / name)
        try:
            file = find_kustomization_file(here, root)
            kustomization = None if file is None else read_kustomization(file, root)
        except (ForbiddenReference, InvalidManifest, ContentLimitExceeded):
            # Refused on the copy, where the build checks what it reads.
            subfolders.clear()
            continue
        if kustomization is None:
            continue
        subfolders.clear()
        for _, entry in _path_entries(kustomization, plugins=True):
            if not is_remote(entry):
                yield real_path(here / entry)


def _topmost(paths: list[Path]) -> list[Path]:
    kept: list[Path] = []
    for path in sorted(paths, key=lambda p: p.parts):
        if not any(path.is_relative_to(folder) for folder in kept):
            kept.append(path)
    return kept


def changes_schema(files: Iterable[Path], root: Path) -> bool:
    """Whether one of the kustomization ``files`` changes Kustomize's OpenAPI schema
    (``openapi``, ``crds``), which then has to be reset around the build."""
    return any({"openapi", "crds"} & read_kustomization(file, root).keys() for file in files)


def resolve_entry(base: Path, entry: str, root: Path, *, where: str) -> Path:
    """``entry`` resolved against ``base``, refused when remote, outside ``root`` or missing.

    ``where`` names the file and field in messages, such as ``apps/kustomization.yaml: resources``.
    """
    _refuse_remote(entry, where=where)
    target = real_path(base / entry)
    if not target.is_relative_to(root):
        raise ForbiddenReference(
            f"{where} entry '{entry}' resolves outside the source artifact; refer only to "
            "paths inside the repository or artifact"
        )
    if not target.exists():
        raise MissingReference(
            f"{where} entry '{entry}' does not exist in the source artifact; fix the path "
            "or add the files"
        )
    return target


def _refuse_remote(entry: str, *, where: str) -> None:
    """`ForbiddenReference` when Kustomize would fetch the base or resource ``entry``;
    ``where`` as for :func:`resolve_entry`."""
    if is_remote(entry):
        raise ForbiddenReference(
            f"{where} entry '{entry}' is a remote base; lockstep builds only what the source "
            "artifact holds: copy it into the repository or reconcile it from its own source"
        )


def _refuse_download(entry: str, *, where: str) -> None:
    """`ForbiddenReference` when Kustomize would download the file ``entry``."""
    if is_remote(entry):
        raise ForbiddenReference(
            f"{where} entry '{entry}' is a remote file; lockstep builds only what the source "
            "artifact holds and downloads nothing: copy the file into the repository"
        )


def is_remote(entry: str) -> bool:
    """Whether Kustomize would fetch ``entry`` over the network."""
    return entry.startswith(_REMOTE_PREFIXES) or any(marker in entry for marker in _REMOTE_MARKERS)


def display_path(path: Path, root: Path) -> str:
    """``path`` relative to the artifact root, with forward slashes, as users know it."""
    relative = path.relative_to(root).as_posix()
    return "." if relative == "." else relative


def _link_outside(file: Path, root: Path) -> ForbiddenReference:
    return ForbiddenReference(
        f"{display_path(file, root)} is a symbolic link that resolves outside the source "
        "artifact; replace it with the file itself, or make it point inside"
    )


def _fetched_entries(kustomization: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(field, entry) for the files a kustomization names that Kustomize reads without
    going through its resources, and downloads when they are URLs."""
    for entry in listed(kustomization.get("crds")):
        if isinstance(entry, str):
            yield "crds", entry
    openapi = kustomization.get("openapi")
    if isinstance(openapi, dict) and isinstance(openapi.get("path"), str):
        yield "openapi.path", openapi["path"]
    for kind in _GENERATORS:
        for generator in listed(kustomization.get(kind)):
            if not isinstance(generator, dict):
                continue
            for field in ("files", "envs"):
                for entry in listed(generator.get(field)):
                    if isinstance(entry, str):
                        yield f"{kind} {field}", entry
            if isinstance(generator.get("env"), str):
                yield f"{kind} env", generator["env"]


def check_json_patches(kustomization: dict[str, Any], file: Path, root: Path) -> None:
    """`InvalidManifest` naming the patch when a JSON patch of the kustomization in
    ``file`` has an operation JSON patch does not have, which Kustomize reports without
    saying where. Patches that do not parse are left to Kustomize, which names them."""
    shown = display_path(file, root)
    for field in ("patches", "patchesJson6902"):
        for index, patch in enumerate(listed(kustomization.get(field))):
            if not isinstance(patch, dict):
                continue
            if isinstance(patch.get("patch"), str):
                where, text = f"{shown}: {field}[{index}]", patch["patch"]
            elif isinstance(patch.get("path"), str):
                target = real_path(file.parent / patch["path"])
                if not target.is_relative_to(root) or not target.is_file():
                    continue
                where = display_path(target, root)
                text = read_text(target, where)
            else:
                continue
            _check_operations(text, where)


def _check_operations(text: str, where: str) -> None:
    try:
        check_yaml(text, where)
        operations = yaml.safe_load(text)
    except yaml.YAMLError:
        return
    if not isinstance(operations, list):
        return
    for operation in operations:
        op = operation.get("op") if isinstance(operation, dict) else None
        if isinstance(op, str) and op not in _JSON_PATCH_OPERATIONS:
            raise InvalidManifest(
                f"{where}: JSON patch operation '{op}' is not one of "
                f"{', '.join(_JSON_PATCH_OPERATIONS)}; fix the patch"
            )


def _path_entries(
    kustomization: dict[str, Any], *, plugins: bool = False
) -> Iterator[tuple[str, str]]:
    """(field, path) for every local path the kustomization names; inline patches are
    skipped. With ``plugins``, also the entries of generators, transformers and
    validators that are paths, not inline configurations."""
    fields: tuple[str, ...] = ("resources", "bases", "components")
    if plugins:
        fields += ("generators", "transformers", "validators")
    for field in fields:
        for entry in listed(kustomization.get(field)):
            if isinstance(entry, str) and "\n" not in entry:
                yield field, entry
    for field in ("patches", "patchesJson6902"):
        for patch in listed(kustomization.get(field)):
            if isinstance(patch, dict) and isinstance(patch.get("path"), str):
                yield field, patch["path"]
    for entry in listed(kustomization.get("patchesStrategicMerge")):
        if isinstance(entry, str) and "\n" not in entry:
            yield "patchesStrategicMerge", entry
