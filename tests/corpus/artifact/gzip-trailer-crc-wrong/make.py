"""A gzip tarball whose CRC in the trailer is wrong."""

from pathlib import Path

from ground.tarballs import sound_gzip_tarball, write_raw


def make(dest: Path) -> None:
    valid = sound_gzip_tarball()
    write_raw(dest, valid[:-8] + bytes(4) + valid[-4:])
