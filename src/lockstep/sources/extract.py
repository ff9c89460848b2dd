"""Safe extraction of gzip tarballs: every file lands inside the folder, or nothing does.

`extract_tarball` refuses, rather than skips, every entry that could write outside
the folder: absolute paths, ``..`` components, links whose target leaves the folder,
device files and FIFOs; it also stops at a limit on the total size of the files and
at :data:`MAX_ENTRIES` entries (a million empty files hold no content but cost a
million inodes and as many system calls to write and to delete). It
adds Python's ``data`` extraction filter as a second guard and, because a link can be
made to leave the folder only through another link extracted later, checks every link
once the whole tarball is out.

A gzip tarball of a few kilobytes can inflate to gigabytes that are not file content:
a tar header of its own (``tarfile`` reads a PAX or GNU long-name header whole into
memory) or data after the end of the tarball. The decompressed stream is therefore
read no further than the files admitted so far plus :data:`ENTRY_OVERHEAD_BYTES` per
entry and :data:`TRAILER_BYTES` at the end; the stream is read to its end, so that the
gzip checksum and length are verified. An entry that the file system refuses (a file
where a folder is, a name too long) and a hard link to an entry the tarball does not
hold fail the extraction like any other invalid entry.

Messages name the archive as the caller describes it (:class:`Wording`): the layer of
an OCI artifact for :mod:`lockstep.sources.oci`, a source's artifact for
:mod:`lockstep.sources.artifact_fetch`, each with its own advice.
"""

from __future__ import annotations

import errno
import gzip
import os
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from lockstep.sources.errors import InvalidArtifact, TooLarge, UnsafeArchive

ENTRY_OVERHEAD_BYTES = 64 * 1024
"""Decompressed bytes an entry may take besides its file content: its header, PAX or GNU
long-name records and the padding of its content. Real entries take a few hundred."""

MAX_ENTRIES = 200_000
"""Entries (files, folders, links) an artifact may hold: twice the files of the Linux
kernel's tree, far beyond any repository of manifests; packing stops there too."""

TRAILER_BYTES = 1024 * 1024
"""Decompressed bytes allowed after the last entry: the end-of-archive blocks, padded to
the tar writer's record size."""

_ENTRY_ERRNOS = frozenset(
    {errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG, errno.ELOOP, errno.EINVAL}
)
"""File system errors that come from the entry itself, not from the engine's disk."""


@dataclass(frozen=True)
class Wording:
    """How messages call the archive, and what they tell the user to do."""

    archive: str
    """``the layer``: the archive, as the subject of a sentence."""

    unsafe_advice: str
    """What to do about an entry that would land outside the folder."""

    size_advice: str
    """What to do when the files exceed the limit."""

    format_advice: str
    """What to do when the archive is not a gzip tarball."""


OCI_LAYER = Wording(
    archive="the layer",
    unsafe_advice="push a tarball without it",
    size_advice="push a smaller artifact",
    format_advice="push it with flux push artifact, or use spec.layerSelector.operation copy",
)


def extract_tarball(
    archive: IO[bytes],
    dest: Path,
    *,
    max_bytes: int,
    source: str,
    wording: Wording = OCI_LAYER,
    max_entries: int = MAX_ENTRIES,
) -> int:
    """Unpack the gzip tarball `archive` into `dest`; returns the bytes of file content.

    `source` names the artifact in messages. Raises `UnsafeArchive` for an entry that
    could write outside `dest`, `TooLarge` past `max_bytes` of file content or past
    `max_entries` entries, and `InvalidArtifact` for anything that is not a gzip
    tarball, or holds an entry that cannot be extracted.
    """
    root = dest.resolve()
    content_bytes = 0
    entries = 0
    try:
        with gzip.GzipFile(fileobj=archive, mode="rb") as decompressed:
            stream = _BoundedStream(decompressed, source, wording)
            with tarfile.open(fileobj=stream, mode="r:") as tar:  # type: ignore[call-overload]
                for member in tar:
                    entries += 1
                    if entries > max_entries:
                        raise TooLarge(
                            f"{source}: {wording.archive} holds more than {max_entries} "
                            f"entries; {wording.size_advice}"
                        )
                    _check_member(member, source, wording)
                    if member.isreg():
                        content_bytes += member.size
                        if content_bytes > max_bytes:
                            raise TooLarge(
                                f"{source}: the files of {wording.archive} exceed the artifact "
                                f"size limit of {max_bytes} bytes; {wording.size_advice}"
                            )
                    stream.admit(member)
                    _extract_member(tar, member, root, source, wording)
            stream.read_to_end()
    except tarfile.FilterError as error:
        raise UnsafeArchive(
            f"{source}: {_owner(wording)} tarball entry {error.tarinfo.name!r} "
            f"{_filter_problem(error)}; {wording.unsafe_advice}"
        ) from error
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise InvalidArtifact(
            f"{source}: {wording.archive} is not a valid gzip tarball ({error}); "
            f"{wording.format_advice}"
        ) from error
    _check_links_stay_inside(root, source, wording)
    return content_bytes


class _BoundedStream:
    """The decompressed tarball, readable (and seekable, as ``tarfile`` needs) no further
    than the entries admitted so far account for: see the module docstring."""

    def __init__(self, decompressed: gzip.GzipFile, source: str, wording: Wording) -> None:
        self._decompressed = decompressed
        self._source = source
        self._wording = wording
        self._content = 0
        self._entries = 0
        self._limit = ENTRY_OVERHEAD_BYTES + TRAILER_BYTES

    def admit(self, member: tarfile.TarInfo) -> None:
        """Let the stream reach the end of ``member`` and the header of the next entry."""
        self._content += member.size if member.isreg() else 0
        self._entries += 1
        self._limit = self._content + (self._entries + 1) * ENTRY_OVERHEAD_BYTES + TRAILER_BYTES

    def read(self, size: int = -1) -> bytes:
        allowed = self._limit - self._decompressed.tell()
        data = self._decompressed.read(allowed + 1 if size < 0 else min(size, allowed + 1))
        self._check(self._decompressed.tell())
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence not in (os.SEEK_SET, os.SEEK_CUR):
            raise OSError(errno.EINVAL, "only absolute and relative seeks are supported")
        target = offset if whence == os.SEEK_SET else self._decompressed.tell() + offset
        self._check(target)
        return self._decompressed.seek(target)

    def tell(self) -> int:
        return self._decompressed.tell()

    def read_to_end(self) -> None:
        """Read what follows the last entry, so that gzip checks its checksum and length."""
        while self.read(1 << 16):
            pass

    def _check(self, position: int) -> None:
        if position > self._limit:
            raise InvalidArtifact(
                f"{self._source}: {self._wording.archive} inflates to more than its files and "
                f"tar headers account for (a header over {ENTRY_OVERHEAD_BYTES} bytes, or "
                f"data after the end of the tarball); {self._wording.format_advice}"
            )


def _extract_member(
    tar: tarfile.TarFile, member: tarfile.TarInfo, root: Path, source: str, wording: Wording
) -> None:
    """Extract one checked entry; the file system's refusal names the entry."""
    try:
        tar.extract(member, root, filter="data")
    except KeyError as error:
        raise InvalidArtifact(
            f"{source}: {_owner(wording)} tarball entry {member.name!r} is a hard link to "
            f"{member.linkname!r}, which the tarball does not hold before it; "
            f"{wording.unsafe_advice}"
        ) from error
    except OSError as error:
        if error.errno not in _ENTRY_ERRNOS:
            raise
        raise InvalidArtifact(
            f"{source}: {_owner(wording)} tarball entry {member.name!r} cannot be extracted "
            f"({error.strerror}): a file where a folder is, or the reverse, or a name too "
            f"long; {wording.unsafe_advice}"
        ) from error


def _filter_problem(error: tarfile.FilterError) -> str:
    """What the ``data`` filter refused, without the extraction folder's local path."""
    if isinstance(error, tarfile.LinkOutsideDestinationError | tarfile.AbsoluteLinkError):
        return "links, through other links, outside the artifact"
    if isinstance(error, tarfile.SpecialFileError):
        return "is a device file or FIFO"
    return "would be written outside the artifact"


def _owner(wording: Wording) -> str:
    """``the layer's``: the archive as the owner of its entries."""
    return f"{wording.archive}'s"


def _check_member(member: tarfile.TarInfo, source: str, wording: Wording) -> None:
    """Refuse an entry that is absolute, climbs with ``..``, links outside, or is special."""
    name = PurePosixPath(member.name)
    problem = None
    if name.is_absolute():
        problem = "has an absolute path"
    elif ".." in name.parts:
        problem = "climbs out with '..'"
    elif not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        problem = "is a device file or FIFO"
    elif member.issym() and _leaves_root(name.parent / member.linkname):
        problem = f"is a link to {member.linkname}, outside the artifact"
    elif member.islnk() and _leaves_root(PurePosixPath(member.linkname)):
        problem = f"is a hard link to {member.linkname}, outside the artifact"
    if problem:
        raise UnsafeArchive(
            f"{source}: {_owner(wording)} tarball entry {member.name!r} {problem}; "
            f"{wording.unsafe_advice}"
        )


def _leaves_root(path: PurePosixPath) -> bool:
    """Whether `path`, relative to the root, ends outside it once ``..`` is applied."""
    if path.is_absolute():
        return True
    normal = os.path.normpath(path.as_posix())
    return normal == ".." or normal.startswith("../")


def _check_links_stay_inside(root: Path, source: str, wording: Wording) -> None:
    """Each link was checked alone; together, through one another, they must stay inside."""
    for folder, folders, files in os.walk(root):
        for entry in folders + files:
            path = Path(folder, entry)
            if path.is_symlink() and not Path(os.path.realpath(path)).is_relative_to(root):
                raise UnsafeArchive(
                    f"{source}: {_owner(wording)} tarball entry "
                    f"{path.relative_to(root).as_posix()!r} links, through other links, "
                    f"outside the artifact; {wording.unsafe_advice}"
                )
