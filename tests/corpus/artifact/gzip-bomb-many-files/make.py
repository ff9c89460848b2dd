"""A gzip bomb: 64 files of 1 MiB of zeros, against a 4 MiB limit."""

from pathlib import Path

from ground.tarballs import write_zero_files


def make(dest: Path) -> None:
    write_zero_files(dest, {f"app/zeros-{index}.bin": 1024 * 1024 for index in range(64)})
