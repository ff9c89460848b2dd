"""A gzip tarball cut in the middle."""

from pathlib import Path

from ground.tarballs import sound_gzip_tarball, write_raw


def make(dest: Path) -> None:
    valid = sound_gzip_tarball()
    write_raw(dest, valid[: len(valid) // 2])
