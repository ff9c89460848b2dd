"""Tarballs of the bad-input corpus: artifacts with entries no packer of lockstep's would
write (devices, links and paths out of the tree), made entry by entry."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path


def member(
    name: str, kind: bytes = tarfile.REGTYPE, content: bytes = b"", link: str = ""
) -> tuple[tarfile.TarInfo, bytes]:
    """One entry: its header and, for a regular file, its content."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(content) if kind == tarfile.REGTYPE else 0
    info.linkname = link
    return info, content


def write(dest: Path, *members: tuple[tarfile.TarInfo, bytes]) -> None:
    """``dest/artifact.tar.gz`` holding ``members`` in that order."""
    with tarfile.open(dest / "artifact.tar.gz", "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for info, content in members:
            tar.addfile(info, io.BytesIO(content) if info.isreg() else None)
