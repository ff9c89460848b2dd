"""Only the first bytes of a gzip header."""

from pathlib import Path

from ground.tarballs import write_raw


def make(dest: Path) -> None:
    write_raw(dest, b"\x1f\x8b\x08")
