"""A gzip tarball with a byte of its compressed data changed."""

from pathlib import Path

from ground.tarballs import sound_gzip_tarball, write_raw


def make(dest: Path) -> None:
    broken = bytearray(sound_gzip_tarball())
    broken[20] ^= 0xFF
    write_raw(dest, bytes(broken))
