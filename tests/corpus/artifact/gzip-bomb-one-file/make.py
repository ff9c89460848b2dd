"""A gzip bomb: 64 MiB of zeros in one file, against a 4 MiB limit."""

from pathlib import Path

from ground.tarballs import write_zero_files


def make(dest: Path) -> None:
    write_zero_files(dest, {"app/zeros.bin": 64 * 1024 * 1024})
