"""Kustomize outputs kept by content: the same build of the same files runs Kustomize once.

Many Kustomizations often build the same path of the same artifact with the same
options and differ only in their postBuild variables (Flux's own benchmark: a
thousand copies of one application). Substitution runs after the build, so the
build's output does not depend on the variables and can be shared; each build
would otherwise run Kustomize again, a copy of the folders it reads and a
build in the build service every time.

A build is identified by :func:`build_key`: a digest of every file, folder and
symbolic link of the extracted artifact (names, contents, link targets), the path,
and the options that shape Kustomize's output. Nothing else goes into a build:
remote bases are refused, and plugins and Helm are not enabled. A changed file is
a different key, so an entry never goes stale; old entries leave when the cache is
full, least recently used first. Entries are kept as JSON text, compact and
returned as fresh objects that the caller may change.

Builds that decrypt (with age keys) are never kept, so that no decrypted value
outlives the build that needed it. A failed build whose failure would repeat
(:func:`lockstep.render.errors.repeats`: not a timeout, not a build service that died)
is kept as its failure, the most recent :data:`DEFAULT_MAX_FAILURES`: the retries of a
Kustomization whose commit holds a YAML bomb then cost no build that runs into the
memory limit again, only the same one-line error.

A build that is under way is claimed (:meth:`BuildCache.get_or_claim`): the same
build asked for meanwhile waits for it instead of starting Kustomize too, so the
reconcilers that start together on a new revision run one Kustomize build,
not one each, and memory does not peak with their copies.

An artifact's tree digest is also remembered by the artifact's own digest
(:class:`TreeDigests`): a tarball with that digest always extracts to that tree,
so the build of an artifact seen before is found by its key without downloading
or extracting the artifact again.

Both live in a :class:`BuildCaches`, made by the Kustomization reconciler's options
(one per engine) and handed to :func:`lockstep.render.kustomize.build_kustomization`;
a build given none keeps nothing (``lockstep build``). Used from the reconcilers'
thread pool: both caches are thread-safe.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lockstep.render.errors import RenderError

DEFAULT_MAX_BYTES = 32 * 1024 * 1024
"""The JSON text of all the entries together, at most: 32 MiB."""


DEFAULT_MAX_FAILURES = 256
"""Failed builds whose failure is remembered, at most."""


DEFAULT_MAX_TREES = 1024
"""Artifact digests whose tree digest is remembered, at most."""


def build_key(root: Path, path: str, options_text: str) -> str:
    """The identity of a build of ``root/path`` with options written as ``options_text``."""
    return build_key_of_tree(tree_digest(root), path, options_text)


def build_key_of_tree(tree: str, path: str, options_text: str) -> str:
    """:func:`build_key` of the tree whose :func:`tree_digest` is ``tree``."""
    digest = hashlib.sha256()
    for part in (path, options_text):
        digest.update(part.encode() + b"\0")
    digest.update(tree.encode())
    return digest.hexdigest()


def tree_digest(root: Path) -> str:
    """A digest of the tree under ``root``: names, file contents and link targets, in order."""
    digest = hashlib.sha256()
    for folder, subfolders, files in os.walk(root):
        subfolders.sort()
        here = Path(folder)
        relative = here.relative_to(root).as_posix()
        digest.update(b"D\0" + relative.encode() + b"\0")
        for name in [*sorted(files), *(s for s in subfolders if (here / s).is_symlink())]:
            entry = here / name
            digest.update(f"{relative}/{name}".encode() + b"\0")
            if entry.is_symlink():
                digest.update(b"L\0" + os.readlink(entry).encode() + b"\0")
            elif entry.is_file():
                _update_with_file(digest, entry)
    return digest.hexdigest()


def _update_with_file(digest: hashlib._Hash, file: Path) -> None:
    """Add ``file``'s size and content, read in pieces: an artifact may hold files far
    larger than the engine should hold in memory at once."""
    with file.open("rb") as content:
        digest.update(b"F%d\0" % os.fstat(content.fileno()).st_size)
        while piece := content.read(1 << 20):
            digest.update(piece)


class BuildCache:
    """Build outputs by :func:`build_key`, at most ``max_bytes`` of JSON text in all."""

    def __init__(
        self, max_bytes: int = DEFAULT_MAX_BYTES, max_failures: int = DEFAULT_MAX_FAILURES
    ) -> None:
        self.max_bytes = max_bytes
        self.max_failures = max_failures
        self._entries: OrderedDict[str, str] = OrderedDict()
        self._failures: OrderedDict[str, tuple[type[RenderError], str]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._building: dict[str, threading.Event] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> list[dict[str, Any]] | None:
        """A fresh copy of the objects built under ``key``, or ``None``."""
        with self._lock:
            text = self._entries.get(key)
            if text is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
        objects: list[dict[str, Any]] = json.loads(text)
        return objects

    def get_or_claim(self, key: str) -> list[dict[str, Any]] | None:
        """Like :meth:`get`, but when the objects are not kept yet, wait for a build of
        ``key`` under way in another thread; ``None`` when there is none, and then this
        caller builds: it must call :meth:`release` when done, whatever the outcome.
        Raises the failure of the build when that is kept (:meth:`put_failure`)."""
        while True:
            with self._lock:
                failed = self._failures.get(key)
                if failed is not None:
                    self._failures.move_to_end(key)
                    self.hits += 1
                    kind, message = failed
                    raise kind(message)
                building = self._building.get(key)
                if building is None and key not in self._entries:
                    self._building[key] = threading.Event()
                    self.misses += 1
                    return None
            if building is None:
                objects = self.get(key)
                if objects is not None:
                    return objects
                continue
            # The builder's own time limit bounds this wait; if it fails, one of the
            # waiters claims the build in turn.
            building.wait()

    def release(self, key: str) -> None:
        """The build claimed by :meth:`get_or_claim` is over (kept with :meth:`put`, or failed)."""
        with self._lock:
            building = self._building.pop(key, None)
        if building is not None:
            building.set()

    def put(self, key: str, objects: list[dict[str, Any]]) -> None:
        """Keep ``objects`` under ``key``, unless JSON cannot hold them exactly or they are
        larger than the whole cache."""
        try:
            text = json.dumps(objects, separators=(",", ":"))
        except (TypeError, ValueError):
            return
        if len(text) > self.max_bytes or json.loads(text) != objects:
            # Too large to keep, or YAML gave values JSON would change (a number as a
            # mapping key): such builds are simply run every time.
            return
        with self._lock:
            previous = self._entries.pop(key, None)
            self._bytes -= len(previous) if previous is not None else 0
            self._entries[key] = text
            self._bytes += len(text)
            while self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= len(evicted)

    def put_failure(self, key: str, error: RenderError) -> None:
        """Keep the failure of the build under ``key``: the same build fails the same way."""
        with self._lock:
            self._failures[key] = (type(error), str(error))
            self._failures.move_to_end(key)
            while len(self._failures) > self.max_failures:
                self._failures.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._failures.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)


class TreeDigests:
    """The :func:`tree_digest` of artifacts by the artifact's digest, the most recent
    ``max_entries``."""

    def __init__(self, max_entries: int = DEFAULT_MAX_TREES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, artifact_digest: str) -> str | None:
        with self._lock:
            tree = self._entries.get(artifact_digest)
            if tree is not None:
                self._entries.move_to_end(artifact_digest)
            return tree

    def put(self, artifact_digest: str, tree: str) -> None:
        with self._lock:
            self._entries[artifact_digest] = tree
            self._entries.move_to_end(artifact_digest)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)


@dataclass(frozen=True)
class BuildCaches:
    """The caches one engine's builds share: made by whoever runs the builds (the
    Kustomization reconciler's options) and passed down, never module state, so that
    tests and engines sharing a process share nothing."""

    builds: BuildCache = field(default_factory=BuildCache)
    trees: TreeDigests = field(default_factory=TreeDigests)
