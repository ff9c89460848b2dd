"""A gzip tarball whose length in the trailer is wrong."""

from pathlib import Path

from ground.tarballs import sound_gzip_tarball, write_raw


def make(dest: Path) -> None:
    write_raw(dest, sound_gzip_tarball()[:-4] + b"\xff\xff\xff\x7f")
