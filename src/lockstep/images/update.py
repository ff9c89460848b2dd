"""The Setters update strategy over a folder: every marked YAML file under ``update.path``.

The ImageUpdateAutomation reconciler calls :func:`update_tree` on a checked-out tree
with the latest image of each ImagePolicy in scope; it rewrites the files whose markers
ask for another value (through :func:`lockstep.images.setters.rewrite`, every other byte
kept) and reports, as data, what it changed, what it could not apply and what it skipped.

Which files, as Flux picks them: every file under the path whose name ends in ``.yaml``
or ``.yml``, or is ``Kustomization``, and whose content mentions ``$imagepolicy``,
hidden folders included. Unlike Flux, lockstep leaves out ``.git`` and symbolic links
(Flux writes through a link, possibly to outside the repository). Files that are not
UTF-8 or not YAML, such as Helm templates, are skipped and listed, as Flux skips them.

A file whose markers cannot all be applied (a policy that does not exist, a marker
written wrong) is left unchanged and its problems are reported; the other files are
still updated. Changed files are keyed by their path relative to ``update.path``, as
Flux's ``.Changed.FileChanges`` are; problems name the path from the repository root.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from lockstep.images.setters import (
    Change,
    ImageRef,
    MarkerProblem,
    PolicyKey,
    SetterError,
    rewrite,
)

MARKER_KEY = b"$imagepolicy"
YAML_SUFFIXES = (".yaml", ".yml")
KUSTOMIZATION_FILE = "Kustomization"
"""The extension-less kustomization file name Flux also reads."""


class UpdatePathError(ValueError):
    """``update.path`` does not name a folder or file inside the repository."""


@dataclass(frozen=True)
class TreeUpdate:
    """What :func:`update_tree` did to a tree."""

    changes: dict[str, tuple[Change, ...]]
    """The rewritten files, by path relative to the update path (``/``-separated)."""

    problems: tuple[MarkerProblem, ...]
    """Why some files were left unchanged; each names its file from the repository root."""

    skipped: tuple[str, ...]
    """Files with a marker that are not UTF-8 YAML, from the repository root; left as they are."""


def update_tree(
    root: Path,
    path: str | None,
    policies: Mapping[tuple[str, str], ImageRef],
    *,
    in_scope: Callable[[PolicyKey], bool] | None = None,
) -> TreeUpdate:
    """Rewrite the marked values of the YAML files under `path` of the tree at `root`.

    `policies` and `in_scope` are as :func:`~lockstep.images.setters.rewrite` takes them.
    Raises :class:`UpdatePathError` when `path` leaves the tree or does not exist.
    """
    top = update_root(root, path)
    changes: dict[str, tuple[Change, ...]] = {}
    problems: list[MarkerProblem] = []
    skipped: list[str] = []
    base = top if top.is_dir() else top.parent
    for file in _candidates(top):
        shown = file.relative_to(root).as_posix()
        data = file.read_bytes()
        if MARKER_KEY not in data:
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            skipped.append(shown)
            continue
        try:
            rewritten = rewrite(text, policies, source_name=shown, in_scope=in_scope)
        except SetterError as error:
            if _is_yaml(text):
                problems.extend(error.problems)
            else:
                skipped.append(shown)
            continue
        if rewritten.changes:
            file.write_bytes(rewritten.text.encode("utf-8"))
            changes[file.relative_to(base).as_posix()] = rewritten.changes
    return TreeUpdate(changes, tuple(problems), tuple(skipped))


def update_root(root: Path, path: str | None) -> Path:
    """`path` inside `root`, the way Flux joins it: leading ``/`` and ``..`` cannot leave it."""
    parts: list[str] = []
    for part in PurePosixPath(path or ".").parts:
        if part == "..":
            if parts:
                parts.pop()
        elif part not in ("/", "."):
            parts.append(part)
    top = root.joinpath(*parts)
    shown = "./" + "/".join(parts)
    if not top.exists():
        raise UpdatePathError(f"spec.update.path {path!r} ({shown}) is not in the repository")
    if not top.resolve().is_relative_to(root.resolve()):
        raise UpdatePathError(
            f"spec.update.path {path!r} ({shown}) is a link to outside the repository"
        )
    return top


def _candidates(top: Path) -> list[Path]:
    """The files under `top` the strategy reads, in a stable order."""
    if top.is_file():
        return [top] if _is_candidate(top) else []
    found = []
    for folder, folders, files in os.walk(top):
        folders[:] = sorted(name for name in folders if name != ".git")
        found += [Path(folder, name) for name in sorted(files) if _is_candidate(Path(folder, name))]
    return found


def _is_candidate(file: Path) -> bool:
    named = file.suffix in YAML_SUFFIXES or file.name == KUSTOMIZATION_FILE
    return named and not file.is_symlink()


def _is_yaml(text: str) -> bool:
    # As setters reads it: tabs are valid YAML where PyYAML refuses them.
    try:
        for _ in yaml.compose_all(text.replace("\t", " "), Loader=yaml.SafeLoader):
            pass
    except yaml.YAMLError:
        return False
    return True
