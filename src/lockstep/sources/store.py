"""The artifact store: the artifacts of sources, content-addressed, on local disk.

Layout under the store's root, one folder per source object::

    <kind in lower case>/<namespace>/<name>/<file>

Two kinds of artifact, each file named as Flux's source-controller names it:

- tarballs of a source tree (`ArtifactStore.store`), ``<hex>.tar.gz``: a GitRepository's
  by its commit id, an OCIRepository's by the hex of its manifest digest; otherwise by
  the sha256 of the file;
- single files stored as they are (`ArtifactStore.store_file`): a HelmRepository's index,
  ``index-<64 hex>.yaml``, a HelmChart's package, ``<chart>-<semver>.tgz``, and an
  OCIRepository's layer with ``operation: copy``, ``<hex>.tar.gz``.

Only names of these three shapes are written, listed or served; they are checked
strictly (a chart name of letters, digits, ``.``, ``_`` and ``-`` that starts with a
letter or digit, then a semantic version), so no name leaves its folder or names a
temporary file. Content identical to the file of that name is not written again, so an
unchanged source keeps its URL and its file. Different content under the same name (a
commit packed with other ignore rules) replaces the file atomically; a reader holding
the old status then fails its digest check and retries. A file is written to a
temporary file in the same folder (``.incoming-*.partial``), flushed to disk and then
renamed into place, so a crash at any moment leaves either no artifact or a whole one:
readers and `ArtifactStore.list_artifacts` never see a partial file.

The source reconcilers call `ArtifactStore.store` or `ArtifactStore.store_file` after
fetching, then `garbage_collect`, and `remove_all` when their object is deleted. The
artifact HTTP server (``web/``) resolves request paths with `ArtifactStore.open`;
consumers inside the process use `local_path`. Every method blocks on disk I/O, so the
reconcilers call them from their thread pool.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from lockstep.api.meta import Artifact
from lockstep.sources.errors import TooLarge
from lockstep.sources.ignore import IgnoreRules
from lockstep.sources.tarball import pack_tree

DEFAULT_MAX_CONTENT_BYTES = 512 * 1024 * 1024
"""The default limit on the file content of one artifact, before compression: 512 MiB."""

STRAY_TEMP_AGE_SECONDS = 60.0
"""Temporary files older than this belong to a write that crashed and are removed by GC."""

_TEMP_PREFIX = ".incoming-"
_TEMP_SUFFIX = ".partial"
_FILE_STEM = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_TARBALL_NAME = r"(?:[0-9a-f]{40}|[0-9a-f]{64})\.tar\.gz"
_INDEX_NAME = r"index-[0-9a-f]{64}\.yaml"
_IDENTIFIERS = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
_CHART_NAME = (
    r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}"
    rf"-v?[0-9]+\.[0-9]+\.[0-9]+(?:-{_IDENTIFIERS})?(?:\+{_IDENTIFIERS})?\.tgz"
)
_FILE_NAME = re.compile(rf"^(?:{_TARBALL_NAME}|{_INDEX_NAME}|{_CHART_NAME})$")
_ARTIFACT_NAME = re.compile(rf"^(?:{_TARBALL_NAME}|{_INDEX_NAME}|{_CHART_NAME})$")
_HASH_CHUNK_BYTES = 1024 * 1024


def is_artifact_name(name: str) -> bool:
    """Whether ``name`` is the file name of a finished artifact: a tarball, a chart
    repository's index or a packaged chart (never a temporary file)."""
    return _ARTIFACT_NAME.match(name) is not None


@dataclass(frozen=True)
class StoredArtifact:
    """The result of `ArtifactStore.store` and `ArtifactStore.store_file`.

    `reused` is true when a file with the same digest was already stored; `warnings`
    lists entries of the tree that were left out, such as links leaving the tree.
    """

    artifact: Artifact
    reused: bool
    warnings: tuple[str, ...]


class ArtifactStore:
    """Artifacts of sources under `root`, served at `base_url` + their path."""

    def __init__(
        self, root: Path, base_url: str, max_content_bytes: int = DEFAULT_MAX_CONTENT_BYTES
    ) -> None:
        self.root = root
        self.base_url = base_url.rstrip("/")
        self.max_content_bytes = max_content_bytes

    def store(
        self,
        kind: str,
        namespace: str,
        name: str,
        revision: str,
        source_dir: Path,
        ignore: IgnoreRules | None = None,
        file_stem: str | None = None,
    ) -> StoredArtifact:
        """Pack `source_dir` (less what `ignore` excludes) and store it atomically.

        `file_stem` names the file (``<file_stem>.tar.gz``): 40 or 64 lower-case hex
        digits, such as a commit id; the sha256 of the tarball when None. Raises
        `TooLarge` when the content exceeds `max_content_bytes`; nothing is stored then.
        """
        if file_stem is not None and not _FILE_STEM.match(file_stem):
            raise ValueError(f"{file_stem!r} cannot name an artifact: 40 or 64 hex digits only")
        folder = self._source_folder(kind, namespace, name)
        folder.mkdir(parents=True, exist_ok=True)
        descriptor, temp_name = tempfile.mkstemp(
            dir=folder, prefix=_TEMP_PREFIX, suffix=_TEMP_SUFFIX
        )
        temp_path = Path(temp_name)
        try:
            with os.fdopen(descriptor, "wb") as raw:
                digesting = _DigestingWriter(raw)
                report = pack_tree(
                    source_dir,
                    digesting,
                    source=f"{kind} {namespace}/{name}",
                    max_content_bytes=self.max_content_bytes,
                    ignore=ignore,
                )
                raw.flush()
                os.fchmod(raw.fileno(), 0o644)  # mkstemp creates 0600; the file is public
                os.fsync(raw.fileno())
            final_path = folder / f"{file_stem or digesting.hexdigest()}.tar.gz"
            reused = final_path.exists() and _sha256_of(final_path) == digesting.hexdigest()
            if reused:
                os.utime(final_path)  # now the newest artifact, so GC keeps it
            else:
                os.replace(temp_path, final_path)
                _fsync_folder(folder)
        finally:
            temp_path.unlink(missing_ok=True)
        artifact = self._artifact(final_path, revision, digesting)
        return StoredArtifact(artifact=artifact, reused=reused, warnings=report.warnings)

    def store_file(
        self,
        kind: str,
        namespace: str,
        name: str,
        revision: str,
        source_file: Path,
        filename: str,
    ) -> StoredArtifact:
        """Store `source_file` as it is, atomically, under `filename`.

        `filename` is ``index-<64 hex>.yaml`` (a HelmRepository's index),
        ``<chart>-<semver>.tgz`` (a HelmChart's package) or ``<hex>.tar.gz`` (an
        OCIRepository's layer copied as it is); any other name raises ValueError. Raises `TooLarge` when the file exceeds `max_content_bytes`; nothing
        is stored then.
        """
        if not _FILE_NAME.match(filename):
            raise ValueError(
                f"{filename!r} cannot name an artifact file: index-<64 hex>.yaml, "
                "<chart>-<semver>.tgz or <hex>.tar.gz only"
            )
        folder = self._source_folder(kind, namespace, name)
        folder.mkdir(parents=True, exist_ok=True)
        descriptor, temp_name = tempfile.mkstemp(
            dir=folder, prefix=_TEMP_PREFIX, suffix=_TEMP_SUFFIX
        )
        temp_path = Path(temp_name)
        try:
            with os.fdopen(descriptor, "wb") as raw:
                digesting = _DigestingWriter(raw)
                self._copy_limited(source_file, digesting, f"{kind} {namespace}/{name}")
                raw.flush()
                os.fchmod(raw.fileno(), 0o644)  # mkstemp creates 0600; the file is public
                os.fsync(raw.fileno())
            final_path = folder / filename
            reused = final_path.exists() and _sha256_of(final_path) == digesting.hexdigest()
            if reused:
                os.utime(final_path)  # now the newest artifact, so GC keeps it
            else:
                os.replace(temp_path, final_path)
                _fsync_folder(folder)
        finally:
            temp_path.unlink(missing_ok=True)
        return StoredArtifact(self._artifact(final_path, revision, digesting), reused, ())

    def list_artifacts(self, kind: str, namespace: str, name: str) -> list[Path]:
        """The stored artifacts of one source, newest first."""
        folder = self._source_folder(kind, namespace, name)
        if not folder.is_dir():
            return []
        artifacts = [path for path in folder.iterdir() if _ARTIFACT_NAME.match(path.name)]
        return sorted(
            artifacts, key=lambda path: (path.stat().st_mtime_ns, path.name), reverse=True
        )

    def garbage_collect(self, kind: str, namespace: str, name: str, keep: int = 2) -> list[Path]:
        """Remove all but the `keep` newest artifacts, and temporary files of crashed writes.

        The artifact just stored is the newest, so it always stays. Returns the removed files.
        """
        if keep < 1:
            raise ValueError(f"keep must be at least 1 to keep the current artifact, not {keep}")
        removed = self.list_artifacts(kind, namespace, name)[keep:]
        folder = self._source_folder(kind, namespace, name)
        if folder.is_dir():
            oldest_live_write = time.time() - STRAY_TEMP_AGE_SECONDS
            removed += [
                path
                for path in folder.glob(f"{_TEMP_PREFIX}*{_TEMP_SUFFIX}")
                if path.stat().st_mtime < oldest_live_write
            ]
        for path in removed:
            path.unlink(missing_ok=True)
        return removed

    def remove_all(self, kind: str, namespace: str, name: str) -> None:
        """Remove every artifact of one source, for the deletion of its object."""
        shutil.rmtree(self._source_folder(kind, namespace, name), ignore_errors=True)

    def open(self, path: str) -> BinaryIO:
        """Open a stored artifact by its `Artifact.path`; raises FileNotFoundError otherwise.

        Only artifact files are served: paths that leave the root, name a folder or a
        temporary file are refused the same way as missing ones.
        """
        return self._resolve(path).open("rb")

    def local_path(self, artifact: Artifact) -> Path:
        """The file of a stored artifact, for consumers in the same process;
        raises FileNotFoundError when it is not stored here."""
        return self._resolve(artifact.path)

    def has(self, artifact: Artifact) -> bool:
        """Whether ``artifact`` is stored here and served at its URL: a status written by
        an engine with another storage folder (or before a disk was wiped) names one that
        is not, and one written by an engine served at another address names a URL
        nobody answers, so its source must store it again to give it this store's."""
        if artifact.url != f"{self.base_url}/{artifact.path}":
            return False
        try:
            self._resolve(artifact.path)
        except FileNotFoundError:
            return False
        return True

    def _artifact(self, path: Path, revision: str, digesting: _DigestingWriter) -> Artifact:
        relative = path.relative_to(self.root).as_posix()
        return Artifact(
            path=relative,
            url=f"{self.base_url}/{relative}",
            revision=revision,
            digest=f"sha256:{digesting.hexdigest()}",
            last_update_time=datetime.now(UTC),
            size=path.stat().st_size,
        )

    def _copy_limited(self, source_file: Path, sink: _DigestingWriter, source: str) -> None:
        copied = 0
        with source_file.open("rb") as origin:
            while chunk := origin.read(_HASH_CHUNK_BYTES):
                copied += len(chunk)
                if copied > self.max_content_bytes:
                    raise TooLarge(
                        f"{source}: {source_file.name} is larger than the artifact size limit "
                        f"of {self.max_content_bytes} bytes; raise the limit or shrink the file"
                    )
                sink.write(chunk)

    def _source_folder(self, kind: str, namespace: str, name: str) -> Path:
        for part in (kind, namespace, name):
            if not part or part in (".", "..") or "/" in part or "\\" in part:
                raise ValueError(f"{part!r} cannot name a folder of the artifact store")
        return self.root / kind.lower() / namespace / name

    def _resolve(self, path: str) -> Path:
        root = self.root.resolve()
        candidate = (root / path).resolve()
        if not candidate.is_relative_to(root) or not _ARTIFACT_NAME.match(candidate.name):
            raise FileNotFoundError(f"no artifact at {path!r} in {self.root}")
        if not candidate.is_file():
            raise FileNotFoundError(f"no artifact at {path!r} in {self.root}")
        return candidate


class _DigestingWriter:
    """A write-only stream that hashes what passes through it on the way to `target`."""

    def __init__(self, target: BinaryIO) -> None:
        self._target = target
        self._hash = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        return self._target.write(data)

    def flush(self) -> None:
        self._target.flush()

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def _sha256_of(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as stored:
        while chunk := stored.read(_HASH_CHUNK_BYTES):
            hasher.update(chunk)
    return hasher.hexdigest()


def _fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable: the entry lives in the folder, not in the file."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
