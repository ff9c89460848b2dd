"""Safe extraction of gzip tarballs: every file lands inside the folder, or nothing does.

`extract_tarball` refuses, rather than skips, every entry that could write outside
the folder: absolute paths, ``..`` components, links whose target leaves the folder,
device files and FIFOs; it also stops at a limit on the total size of the files. It
adds Python's ``data`` extraction filter as a second guard and, because a link can be
made to leave the folder only through another link extracted later, checks every link
once the whole tarball is out.

Messages name the archive as the caller describes it (:class:`Wording`): the layer of
an OCI artifact for :mod:`lockstep.sources.oci`, a source's artifact for
:mod:`lockstep.sources.artifact_fetch`, each with its own advice.
"""

from __future__ import annotations

import gzip
import os
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from lockstep.sources.errors import InvalidArtifact, TooLarge, UnsafeArchive


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
) -> int:
    """Unpack the gzip tarball `archive` into `dest`; returns the bytes of file content.

    `source` names the artifact in messages. Raises `UnsafeArchive` for an entry that
    could write outside `dest`, `TooLarge` past `max_bytes` of file content and
    `InvalidArtifact` for anything that is not a gzip tarball.
    """
    root = dest.resolve()
    content_bytes = 0
    try:
        with tarfile.open(fileobj=archive, mode="r:gz") as tar:
            for member in tar:
                _check_member(member, source, wording)
                if member.isreg():
                    content_bytes += member.size
                    if content_bytes > max_bytes:
                        raise TooLarge(
                            f"{source}: the files of {wording.archive} exceed the artifact "
                            f"size limit of {max_bytes} bytes; {wording.size_advice}"
                        )
                tar.extract(member, root, filter="data")
    except tarfile.FilterError as error:
        raise UnsafeArchive(
            f"{source}: {_owner(wording)} tarball entry {error.tarinfo.name!r} would be "
            f"written outside the artifact ({error}); {wording.unsafe_advice}"
        ) from error
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise InvalidArtifact(
            f"{source}: {wording.archive} is not a valid gzip tarball ({error}); "
            f"{wording.format_advice}"
        ) from error
    _check_links_stay_inside(root, source, wording)
    return content_bytes


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
