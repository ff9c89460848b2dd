"""Kustomize's errors made into the engine's messages: one line, stable, naming the file.

Kustomize's library answers a failed build with the error of whatever layer refused it,
which often says neither where nor in which file. :func:`kustomize_message` turns it into
what a message of :mod:`lockstep.render.errors` must be:

- on one line;
- without the build's temporary copy: its paths are made relative to the artifact root
  (``../x.txt`` for a file beside the copy), so a message says the same at every attempt
  and shows nothing of the engine's disk;
- without Go pointer addresses (``&{0xc000123450 <nil>}``), which change at every build;
- naming the manifest when Kustomize reports a mapping key defined twice without saying
  in which file, and the build's ``configurations`` files when it refuses one of those
  without naming it.

Called by :mod:`lockstep.render.kustomize` with the kustomization files the build read
(:func:`lockstep.render.references.check_references`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import yaml

from lockstep.render.bounds import check_yaml, read_text
from lockstep.render.errors import RenderError
from lockstep.render.references import display_path, listed, read_kustomization, real_path

_GO_POINTER = re.compile(r" ?&\{0x[0-9a-f]+\b[^{}]*\}")
_DUPLICATE_KEY = re.compile(r'line (\d+): mapping key "([^"]*)" already defined at line (\d+)')
_CONFIGURATION_ERRORS = ("error converting YAML to JSON", "error unmarshaling JSON")
"""How Kustomize's error starts when a ``configurations`` file does not parse or does not
fit its schema: it is the one file Kustomize reads without saying which (kustomization
files are "invalid Kustomization", generators and transformers name themselves)."""

_MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def kustomize_message(error: str, root: Path, kustomization_files: Iterable[Path]) -> str:
    """Kustomize's ``error`` for a build of the copy ``root``, as the engine shows it."""
    text = _relative_paths(error, root)
    text = _GO_POINTER.sub("", text)
    text = re.sub(r"\s+", " ", text).strip().removeprefix("error: ") or "no error message"
    files = list(kustomization_files)
    duplicate = _DUPLICATE_KEY.search(text)
    if duplicate is not None:
        line, key, first = int(duplicate[1]), duplicate[2], int(duplicate[3])
        manifest = _manifest_with_duplicate(files, root, line, key, first)
        if manifest is not None:
            return (
                f"{manifest}:{line}: mapping key '{key}' is already defined at line {first}; "
                "keep one of them"
            )
    if text.startswith(_CONFIGURATION_ERRORS):
        named = _configurations(files, root)
        if named:
            text = f"{text} (in configurations: {', '.join(named)})"
    return text


def _relative_paths(text: str, root: Path) -> str:
    """``text`` with the paths of the copy ``root`` and of the two folders above it made
    relative to ``root``, innermost first, so that each path is rewritten once."""
    for folder, relative in ((root, ""), (root.parent, "../"), (root.parent.parent, "../../")):
        if folder == folder.parent:
            break
        path = rf"(?<![\w.~/-]){re.escape(str(folder))}"
        text = re.sub(rf"{path}/", relative, text)
        text = re.sub(rf"{path}(?![\w.~-])", relative.rstrip("/") or ".", text)
    return text


def _manifest_with_duplicate(
    kustomization_files: list[Path], root: Path, line: int, key: str, first: int
) -> str | None:
    """The listed manifest, shown as users know it, where ``key`` is written at ``first``
    and again at ``line`` in one mapping; ``None`` when none is."""
    for manifest in _listed_manifests(kustomization_files, root):
        shown = display_path(manifest, root)
        try:
            text = read_text(manifest, shown)
            check_yaml(text, shown)
            nodes = list(yaml.compose_all(text, Loader=yaml.CSafeLoader))
        except (yaml.YAMLError, RenderError, OSError):
            continue
        if any(_repeats(node, line, key, first) for node in nodes):
            return shown
    return None


def _listed_manifests(kustomization_files: list[Path], root: Path) -> Iterator[Path]:
    """The files the ``resources`` of the kustomization files list."""
    for file in kustomization_files:
        for entry in listed(read_kustomization(file, root).get("resources")):
            if not isinstance(entry, str):
                continue
            target = real_path(file.parent / entry)
            if (
                target.is_relative_to(root)
                and target.is_file()
                and target.suffix in _MANIFEST_SUFFIXES
            ):
                yield target


def _repeats(node: yaml.Node | None, line: int, key: str, first: int) -> bool:
    """Whether a mapping under ``node`` has the scalar key ``key`` on lines ``first``
    and ``line`` (counted from 1)."""
    pending = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, yaml.MappingNode):
            lines = {
                name.start_mark.line + 1
                for name, _ in current.value
                if isinstance(name, yaml.ScalarNode) and name.value == key
            }
            if {first, line} <= lines:
                return True
            pending.extend(value for _, value in current.value)
        elif isinstance(current, yaml.SequenceNode):
            pending.extend(current.value)
    return False


def _configurations(kustomization_files: list[Path], root: Path) -> list[str]:
    """The ``configurations`` files the kustomization files name, as users know them."""
    named: list[str] = []
    for file in kustomization_files:
        for entry in listed(read_kustomization(file, root).get("configurations")):
            if isinstance(entry, str):
                target = real_path(file.parent / entry)
                if target.is_relative_to(root):
                    named.append(display_path(target, root))
    return named
