"""Deterministic gzip tarballs of a source tree: the same content gives the same bytes.

`pack_tree` writes a tree into a binary stream so that the artifact digest depends on
the content only: entries in sorted order, modification times, owners and gzip header
time fixed at zero, no user or group names, and modes reduced to 0644 / 0755 (0755 for
folders and for files with any execute bit). Only folders, regular files and symbolic
links are packed.

A symbolic link is stored as a link, never followed. One whose target is absolute or
resolves outside the tree is left out and reported: packing it would let a repository
point the consumers of its artifact at files of the machine that extracts it. Leaving
it out rather than failing keeps one stray link from blocking every later revision;
the warnings let the reconciler tell the user. With ``keep_links=False`` every link
is left out and reported, as ``flux push artifact`` does: Flux's extraction refuses
links, so an artifact meant for Flux must hold none.

Called by :mod:`lockstep.sources.store` and :mod:`lockstep.sources.oci_push`. The tar and gzip formats are the standard
library's; only the normalisation of entries is written here, because ``tarfile``
copies owners, times and modes from the file system and offers no switch to drop them.
"""

from __future__ import annotations

import gzip
import os
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from lockstep.sources.errors import TooLarge
from lockstep.sources.extract import MAX_ENTRIES
from lockstep.sources.ignore import IgnoreRules

GZIP_LEVEL = 6
"""zlib's own default: within a few percent of the smallest output at a third of the time."""

_EXECUTABLE_BITS = stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH


class ByteSink(Protocol):
    """Where `pack_tree` writes: a binary file, or a wrapper that also hashes."""

    def write(self, data: bytes, /) -> object: ...

    def flush(self) -> object: ...


@dataclass(frozen=True)
class PackReport:
    """What `pack_tree` packed: the bytes of file content, and what it left out and why."""

    content_bytes: int
    warnings: tuple[str, ...]


def pack_tree(
    root: Path,
    out: ByteSink,
    *,
    source: str,
    max_content_bytes: int,
    ignore: IgnoreRules | None = None,
    keep_links: bool = True,
    max_entries: int = MAX_ENTRIES,
) -> PackReport:
    """Write the tree under `root` to `out` as a deterministic gzip tarball.

    `source` names the object in error messages, for example ``GitRepository
    flux-system/podinfo``. Raises `TooLarge` as soon as the file content exceeds
    `max_content_bytes` or the entries exceed `max_entries`; `out` then holds a partial archive the caller must discard.
    `keep_links` False leaves out every symbolic link, not only those that leave the tree.
    """
    walker = _TreeWalker(root.resolve(), ignore, keep_links)
    content_bytes = 0
    entries = 0
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=GZIP_LEVEL) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for info in walker.entries():
            entries += 1
            if entries > max_entries:
                raise TooLarge(
                    f"{source}: content holds more than {max_entries} files and folders; "
                    "leave some out with spec.ignore or a .sourceignore file"
                )
            if info.isreg():
                content_bytes += info.size
                if content_bytes > max_content_bytes:
                    raise TooLarge(
                        f"{source}: content exceeds the artifact size limit of "
                        f"{_readable_size(max_content_bytes)}; leave large files out with "
                        "spec.ignore or a .sourceignore file"
                    )
                with (walker.root / info.name).open("rb") as content:
                    tar.addfile(info, content)
            else:
                tar.addfile(info)
    return PackReport(content_bytes=content_bytes, warnings=tuple(walker.warnings))


class _TreeWalker:
    """Walks a tree in sorted order, skipping ignored entries and unsafe links."""

    def __init__(self, root: Path, ignore: IgnoreRules | None, keep_links: bool) -> None:
        self.root = root
        self.ignore = ignore
        self.keep_links = keep_links
        self.warnings: list[str] = []

    def entries(self) -> Iterator[tarfile.TarInfo]:
        """A normalised tar header for every entry to pack, folders before their content."""
        yield from self._walk(PurePosixPath())

    def _walk(self, folder: PurePosixPath) -> Iterator[tarfile.TarInfo]:
        with os.scandir(self.root / folder) as scan:
            children = sorted(scan, key=lambda entry: entry.name)
        for child in children:
            relative = folder / child.name
            status = child.stat(follow_symlinks=False)
            is_dir = stat.S_ISDIR(status.st_mode)
            if self.ignore is not None and self.ignore.is_ignored(relative, is_dir):
                continue
            if is_dir:
                yield _header(relative, tarfile.DIRTYPE, mode=0o755)
                yield from self._walk(relative)
            elif stat.S_ISREG(status.st_mode):
                executable = status.st_mode & _EXECUTABLE_BITS
                yield _header(
                    relative, tarfile.REGTYPE, 0o755 if executable else 0o644, status.st_size
                )
            elif stat.S_ISLNK(status.st_mode):
                target = os.readlink(self.root / relative)
                if not self.keep_links:
                    self.warnings.append(
                        f"{relative}: link to {target}; left out, Flux artifacts hold no links"
                    )
                elif self._link_stays_inside(relative, target):
                    yield _header(relative, tarfile.SYMTYPE, mode=0o777, link_target=target)
            else:
                self.warnings.append(f"{relative}: not a file, folder or link; left out")

    def _link_stays_inside(self, relative: PurePosixPath, target: str) -> bool:
        if os.path.isabs(target):
            self.warnings.append(f"{relative}: link to absolute path {target}; left out")
            return False
        resolved = Path(os.path.realpath(self.root / relative))
        if resolved != self.root and not resolved.is_relative_to(self.root):
            self.warnings.append(f"{relative}: link to {target} leaves the source; left out")
            return False
        return True


def _header(
    relative: PurePosixPath, kind: bytes, mode: int, size: int = 0, link_target: str = ""
) -> tarfile.TarInfo:
    """A tar header that carries nothing of the machine: no times, owners or names."""
    info = tarfile.TarInfo(relative.as_posix())
    info.type = kind
    info.mode = mode
    info.size = size
    info.linkname = link_target
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _readable_size(size: int) -> str:
    mebibyte = 1024 * 1024
    return f"{size // mebibyte} MiB" if size % mebibyte == 0 else f"{size} bytes"
