"""Which files of a source tree stay out of its artifact, in gitignore syntax.

Three layers of rules, later ones overruling earlier ones as later lines of one
``.gitignore`` do, so a ``!pattern`` can bring back what an earlier layer left out:

1. the defaults every Flux source applies: Git metadata, images and archives, CI and
   tool configuration that never holds manifests (`DEFAULT_EXCLUSIONS`);
2. ``.sourceignore`` files anywhere in the tree, each relative to its own folder,
   shallower files before deeper ones;
3. the object's ``spec.ignore``, relative to the root of the tree.

As in Git, a folder that is left out is left out whole: a later rule cannot bring back
a file inside it. Patterns that cannot be parsed match nothing, as in Git.

`IgnoreRules.for_tree` is called by the source reconcilers after checkout or download,
`IgnoreRules.from_patterns` by :mod:`lockstep.sources.oci_push` for a local folder;
the tarball packer (:mod:`lockstep.sources.tarball`) asks `is_ignored` for each entry.
Pattern matching is pathspec's ``GitIgnoreSpec``; only the layering is written here,
because pathspec reads one ignore file at a time.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pathspec import GitIgnoreSpec

SOURCEIGNORE_FILE = ".sourceignore"

DEFAULT_EXCLUSIONS: tuple[str, ...] = (
    # Git metadata
    ".git/",
    ".gitignore",
    ".gitmodules",
    ".gitattributes",
    # images, videos and archives
    "*.jpg",
    "*.jpeg",
    "*.gif",
    "*.png",
    "*.wmv",
    "*.flv",
    "*.tar.gz",
    "*.zip",
    # CI pipelines
    ".github/",
    ".circleci/",
    ".travis.yml",
    ".gitlab-ci.yml",
    "appveyor.yml",
    ".drone.yml",
    "cloudbuild.yaml",
    "codeship-services.yml",
    "codeship-steps.yml",
    # configuration of release, secret and Flux v1 tools
    "**/.goreleaser.yml",
    "**/.sops.yaml",
    "**/.flux.yaml",
)
"""Patterns Flux leaves out of every Git and OCI artifact unless a later rule says otherwise."""


@dataclass(frozen=True)
class _Layer:
    """The rules of one ignore file, relative to the folder it applies to."""

    base: PurePosixPath
    spec: GitIgnoreSpec

    def verdict(self, path: PurePosixPath, is_dir: bool) -> bool | None:
        """True to ignore, False to keep (a ``!`` rule), None when no rule matches."""
        if self.base.parts and path.parts[: len(self.base.parts)] != self.base.parts:
            return None
        relative = path.relative_to(self.base).as_posix()
        result = self.spec.check_file(relative + "/" if is_dir else relative)
        return result.include


class IgnoreRules:
    """The ignore rules of one source tree; paths are relative to its root, with ``/``."""

    def __init__(self, layers: Iterable[_Layer]) -> None:
        self._layers = tuple(layers)

    @classmethod
    def for_tree(cls, root: Path, spec_ignore: str | None = None) -> IgnoreRules:
        """The defaults, every ``.sourceignore`` under `root`, then `spec_ignore`."""
        layers = [_layer(PurePosixPath(), DEFAULT_EXCLUSIONS)]
        for folder, lines in _sourceignore_files(root):
            layers.append(_layer(folder, lines))
        if spec_ignore:
            layers.append(_layer(PurePosixPath(), spec_ignore.splitlines()))
        return cls(layers)

    @classmethod
    def from_patterns(cls, patterns: Iterable[str]) -> IgnoreRules:
        """Only `patterns`, relative to the root: no defaults, no ``.sourceignore`` files.

        For ``lockstep push artifact``, whose ``--ignore-paths`` replaces the defaults
        as ``flux push artifact``'s does.
        """
        return cls([_layer(PurePosixPath(), patterns)])

    def is_ignored(self, path: PurePosixPath, is_dir: bool) -> bool:
        """Whether the file or folder at `path` stays out, its parent folders aside."""
        ignored = False
        for layer in self._layers:
            verdict = layer.verdict(path, is_dir)
            if verdict is not None:
                ignored = verdict
        return ignored


def _layer(base: PurePosixPath, lines: Iterable[str]) -> _Layer:
    return _Layer(base, GitIgnoreSpec.from_lines(_parseable(lines)))


def _parseable(lines: Iterable[str]) -> Iterator[str]:
    for line in lines:
        try:
            GitIgnoreSpec.from_lines([line])
        except ValueError:
            continue  # Git skips a pattern it cannot parse; one bad line must not drop the rest
        yield line


def _sourceignore_files(root: Path) -> Iterator[tuple[PurePosixPath, list[str]]]:
    """Each ``.sourceignore`` file as (its folder relative to root, its lines), top down."""
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(name for name in subfolders if name != ".git")
        candidate = Path(folder) / SOURCEIGNORE_FILE
        # A link could make the rules depend on a file outside the tree; Git ignores it too.
        if SOURCEIGNORE_FILE in files and not candidate.is_symlink():
            text = candidate.read_text(encoding="utf-8", errors="replace")
            yield PurePosixPath(Path(folder).relative_to(root).as_posix()), text.splitlines()
