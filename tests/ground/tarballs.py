"""Tarballs of the bad-input corpus, called by the ``make.py`` scripts of
``tests/corpus/artifact/`` (see its README) to write ``artifact.tar.gz``:

- artifacts with entries no packer of lockstep's would write (devices, links and paths
  out of the tree), made entry by entry: :func:`member`, :func:`write`,
  :func:`write_after_config_map`;
- sound tarballs packed in memory, for a case to break or wrap before it writes them
  with :func:`write_raw`: :func:`packed`, :func:`sound_gzip_tarball`;
- gzip bombs, streamed so that none is ever held whole: :func:`write_zero_files`, and
  :func:`gzip_stream` with the raw blocks of :func:`config_map_entry` and
  :func:`write_junk_entry`.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from ground.corpus_files import CONFIG_MAP

ARTIFACT = "artifact.tar.gz"
"""The file a case's ``make`` writes into its ``dest``."""

CHUNK_BYTES = 1024 * 1024
"""How much of a bomb's content is written at once."""

JUNK_BYTES = 32 * CHUNK_BYTES
"""A bomb's junk: 32 MiB, far more than any header or trailer of a tarball needs."""

END_OF_ARCHIVE = bytes(2 * tarfile.BLOCKSIZE)
"""The two zero blocks that end a tarball."""


def member(
    name: str, kind: bytes = tarfile.REGTYPE, content: str | bytes = b"", link: str = ""
) -> tuple[tarfile.TarInfo, bytes]:
    """One entry: its header and, for a regular file, its content (text as UTF-8)."""
    data = content.encode() if isinstance(content, str) else content
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.linkname = link
    return info, data


def _add(tar: tarfile.TarFile, members: tuple[tuple[tarfile.TarInfo, bytes], ...]) -> None:
    for info, content in members:
        tar.addfile(info, io.BytesIO(content) if info.isreg() else None)


def write(dest: Path, *members: tuple[tarfile.TarInfo, bytes]) -> None:
    """``dest/artifact.tar.gz`` holding ``members`` in that order."""
    with tarfile.open(dest / ARTIFACT, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        _add(tar, members)


def write_after_config_map(dest: Path, *members: tuple[tarfile.TarInfo, bytes]) -> None:
    """``dest/artifact.tar.gz`` holding a sound ``app/configmap.yaml``, then ``members``:
    the bad entries come after one the extraction has already written."""
    write(dest, member("app/configmap.yaml", content=CONFIG_MAP), *members)


def packed(*members: tuple[tarfile.TarInfo, bytes], compression: str = "gz") -> bytes:
    """The tarball of ``members`` in memory, compressed with ``compression`` (``gz``,
    ``bz2``, ``xz``, or ``""`` for none)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=f"w:{compression}", format=tarfile.PAX_FORMAT) as tar:
        _add(tar, members)
    return buffer.getvalue()


def sound_gzip_tarball() -> bytes:
    """A sound gzip tarball of one file of 50 ConfigMaps: enough compressed data to break
    in the middle."""
    return packed(member("app/configmap.yaml", content=CONFIG_MAP * 50))


def write_raw(dest: Path, data: bytes) -> None:
    """``dest/artifact.tar.gz`` holding ``data`` as it is: an artifact that is not a sound
    gzip tarball."""
    (dest / ARTIFACT).write_bytes(data)


class Zeros:
    """A file of zeros, read in chunks, never held whole."""

    def __init__(self, size: int) -> None:
        self.left = size

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        self.left -= size
        return bytes(size)


def write_zero_files(dest: Path, sizes: Mapping[str, int]) -> None:
    """``dest/artifact.tar.gz`` holding a file of zeros for each name, of its size,
    compressed as hard as gzip can: a gzip bomb."""
    with tarfile.open(dest / ARTIFACT, "w:gz", compresslevel=9) as tar:
        for name, size in sizes.items():
            info = tarfile.TarInfo(name)
            info.size = size
            tar.addfile(info, Zeros(size))


@contextmanager
def gzip_stream(dest: Path) -> Iterator[gzip.GzipFile]:
    """``dest/artifact.tar.gz`` open for raw tar blocks, compressed as hard as gzip can."""
    with gzip.open(dest / ARTIFACT, "wb", compresslevel=9) as out:
        yield out


def header(name: str, kind: bytes, size: int) -> bytes:
    """One ustar header block that announces ``size`` bytes of content, which the caller
    writes after it."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    return info.tobuf(tarfile.USTAR_FORMAT)


def config_map_entry(name: str) -> bytes:
    """The raw blocks of a file ``name`` holding the ConfigMap: its header and its content
    padded to a whole block."""
    content = CONFIG_MAP.encode()
    return (
        header(name, tarfile.REGTYPE, len(content))
        + content
        + bytes(-len(content) % tarfile.BLOCKSIZE)
    )


def write_junk(out: gzip.GzipFile, filler: bytes = b"\0") -> None:
    """:data:`JUNK_BYTES` of ``filler``, written chunk by chunk."""
    chunk = filler * CHUNK_BYTES
    for _ in range(JUNK_BYTES // CHUNK_BYTES):
        out.write(chunk)


def write_junk_entry(out: gzip.GzipFile, name: str, kind: bytes, filler: bytes = b"\0") -> None:
    """A header of ``kind`` (a GNU long name, a PAX header...) whose content is
    :data:`JUNK_BYTES` of ``filler``."""
    out.write(header(name, kind, JUNK_BYTES))
    write_junk(out, filler)
