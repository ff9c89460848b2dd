"""A gzip bomb: 64 files of 1 MiB of zeros, against a 4 MiB limit."""

import tarfile
from pathlib import Path


class Zeros:
    """A file of zeros, read in chunks, never held whole."""

    def __init__(self, size: int) -> None:
        self.left = size

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        self.left -= size
        return bytes(size)


def make(dest: Path) -> None:
    with tarfile.open(dest / "artifact.tar.gz", "w:gz", compresslevel=9) as tar:
        for index in range(64):
            info = tarfile.TarInfo(f"app/zeros-{index}.bin")
            info.size = 1024 * 1024
            tar.addfile(info, Zeros(info.size))
