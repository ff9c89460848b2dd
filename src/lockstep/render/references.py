"""Confinement of a build to the artifact: every path a kustomization file names is checked.

`check_references` reads a kustomization file and, recursively, those of the folders it
builds on, and refuses before Kustomize runs:

- remote bases and resources (``https://``, ``git::``, ``github.com/...``, ``?ref=``):
  lockstep builds what the source artifact holds and fetches nothing else;
- paths that resolve outside the artifact root, through ``..`` or a symbolic link;
- local paths that do not exist, which Kustomize would otherwise try as remote URLs.

The entries checked are ``resources``, ``bases`` and ``components`` (which can name
folders, that is other kustomization roots) and the ``path`` of patches. Every other
file a build reads (generator inputs, replacements, OpenAPI schemas...) is confined to
the artifact by the build's own file system, Flux's (:mod:`lockstep.render.kustomizer`).

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

from lockstep.render.errors import ForbiddenReference, InvalidManifest, MissingReference

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
"""The file names Kustomize recognises, in the order it looks for them."""

_REMOTE_PREFIXES = ("git::", "git@", "ssh://", "github.com/", "gitlab.com/", "bitbucket.org/")
_REMOTE_MARKERS = ("://", "?ref=", "?version=", "?submodules=", "?timeout=")


def find_kustomization_file(folder: Path) -> Path | None:
    """The kustomization file of ``folder``, or None when it has none."""
    for name in KUSTOMIZATION_FILES:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def read_kustomization(file: Path, root: Path) -> dict[str, Any]:
    """The content of a kustomization file; `InvalidManifest` if it is not a YAML mapping."""
    shown = display_path(file, root)
    try:
        content = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as err:
        line = err.problem_mark.line + 1 if err.problem_mark is not None else 1
        raise InvalidManifest(f"{shown}:{line}: invalid YAML: {err.problem}; fix the file") from err
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise InvalidManifest(f"{shown}: cannot be read as YAML: {err}; fix the file") from err
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
        file = find_kustomization_file(current)
        if file is None:
            continue
        files.append(file)
        for field, entry in _path_entries(read_kustomization(file, root)):
            target = resolve_entry(
                current, entry, root, where=f"{display_path(file, root)}: {field}"
            )
            if target.is_dir():
                pending.append(target)
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
        *((folder / entry).resolve() for entry in components if not is_remote(entry)),
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
                yield (here / name).resolve()
        file = find_kustomization_file(here)
        if file is None:
            continue
        subfolders.clear()
        try:
            kustomization = read_kustomization(file, root)
        except InvalidManifest:
            continue
        for _, entry in _path_entries(kustomization, plugins=True):
            if not is_remote(entry):
                yield (here / entry).resolve()


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
    if is_remote(entry):
        raise ForbiddenReference(
            f"{where} entry '{entry}' is a remote base; lockstep builds only what the source "
            "artifact holds: copy it into the repository or reconcile it from its own source"
        )
    target = (base / entry).resolve()
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


def is_remote(entry: str) -> bool:
    """Whether Kustomize would fetch ``entry`` over the network."""
    return entry.startswith(_REMOTE_PREFIXES) or any(marker in entry for marker in _REMOTE_MARKERS)


def display_path(path: Path, root: Path) -> str:
    """``path`` relative to the artifact root, with forward slashes, as users know it."""
    relative = path.relative_to(root).as_posix()
    return "." if relative == "." else relative


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
        for entry in kustomization.get(field) or []:
            if isinstance(entry, str) and "\n" not in entry:
                yield field, entry
    for field in ("patches", "patchesJson6902"):
        for patch in kustomization.get(field) or []:
            if isinstance(patch, dict) and isinstance(patch.get("path"), str):
                yield field, patch["path"]
    for entry in kustomization.get("patchesStrategicMerge") or []:
        if isinstance(entry, str) and "\n" not in entry:
            yield "patchesStrategicMerge", entry
