"""Artifacts extracted once per digest and shared, read-only, by every build that needs them.

A monorepo's artifact serves hundreds of Kustomizations, each building its own folder.
Fetching it for every build would make each build cost the size of the whole
repository: the download, the extraction and the walk of every file. With
:class:`ExtractedArtifacts`, the first build of an artifact digest fetches it
(:func:`lockstep.sources.artifact_fetch.fetch_artifact`: download, digest check, safe
extraction) and the next ones use the same tree:

- :meth:`ExtractedArtifacts.checkout` gives the tree's root for the time of a ``with``
  block. A build asked for while the same artifact is being fetched waits for that
  fetch instead of starting another; when the fetch fails, each waiter gets its error.
- Callers never write in a shared tree: :mod:`lockstep.render.kustomize` copies the
  folders a build reads before it writes the kustomization file into them.
- A tree in use is never removed. Unused trees are kept, least recently used first
  out, up to ``keep`` trees and ``keep_bytes`` of content; a digest names the content,
  so a kept tree never goes stale.
- An artifact without a digest (written by an old Flux) cannot be recognised again:
  it is fetched for its one build and removed after it.

The trees live in ``folder``, removed when the cache is made and created at the first
checkout. Thread-safe: the
Kustomization reconciler builds from its thread pool.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lockstep.sources.artifact_fetch import fetch_artifact
from lockstep.sources.store import DEFAULT_MAX_CONTENT_BYTES

DEFAULT_KEEP = 64
"""Unused trees kept, at most."""

DEFAULT_KEEP_BYTES = 512 * 1024 * 1024
"""File content of the unused trees kept, at most: 512 MiB."""


@dataclass
class _Tree:
    root: Path
    users: int = 0
    size: int = 0
    fetched: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class ExtractedArtifacts:
    """Extracted artifacts by digest; see the module docstring."""

    def __init__(
        self,
        folder: Path,
        *,
        max_bytes: int = DEFAULT_MAX_CONTENT_BYTES,
        keep: int = DEFAULT_KEEP,
        keep_bytes: int = DEFAULT_KEEP_BYTES,
    ) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        self._folder = folder
        self._max_bytes = max_bytes
        self._keep = keep
        self._keep_bytes = keep_bytes
        self._lock = threading.Lock()
        self._trees: OrderedDict[str, _Tree] = OrderedDict()
        self.fetches = 0
        """Artifacts downloaded and extracted so far."""

    def __len__(self) -> int:
        with self._lock:
            return len(self._trees)

    @contextmanager
    def checkout(self, url: str, digest: str | None) -> Iterator[Path]:
        """The root of the artifact's extracted tree, not to be written in; raises
        :class:`lockstep.sources.errors.SourceError` when it cannot be fetched."""
        self._folder.mkdir(parents=True, exist_ok=True)
        if not digest:
            with tempfile.TemporaryDirectory(prefix="undigested-", dir=self._folder) as scratch:
                root = Path(scratch) / "artifact"
                self._fetch(url, None, root)
                yield root
            return
        tree = self._acquire(url, digest)
        try:
            yield tree.root
        finally:
            self._release(tree)

    def _fetch(self, url: str, digest: str | None, root: Path) -> int:
        with self._lock:
            self.fetches += 1
        return fetch_artifact(url, digest, root, max_bytes=self._max_bytes, scratch=self._folder)

    def _acquire(self, url: str, digest: str) -> _Tree:
        with self._lock:
            tree = self._trees.get(digest)
            fetching = tree is None
            if tree is None:
                tree = _Tree(self._folder / digest.replace(":", "-"))
                self._trees[digest] = tree
            else:
                self._trees.move_to_end(digest)
            tree.users += 1
        if not fetching:
            tree.fetched.wait()
            if tree.error is not None:
                raise tree.error
            return tree
        try:
            tree.size = self._fetch(url, digest, tree.root)
        except BaseException as error:
            with self._lock:
                tree.error = error
                del self._trees[digest]
            tree.fetched.set()
            shutil.rmtree(tree.root, ignore_errors=True)
            raise
        tree.fetched.set()
        return tree

    def _release(self, tree: _Tree) -> None:
        removed: list[_Tree] = []
        with self._lock:
            tree.users -= 1
            unused = [(digest, t) for digest, t in self._trees.items() if t.users == 0]
            count, size = len(unused), sum(t.size for _, t in unused)
            for digest, oldest in unused:
                if count <= self._keep and size <= self._keep_bytes:
                    break
                del self._trees[digest]
                removed.append(oldest)
                count, size = count - 1, size - oldest.size
        for old in removed:
            shutil.rmtree(old.root, ignore_errors=True)
