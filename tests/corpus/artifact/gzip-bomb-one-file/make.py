"""A gzip bomb: 64 MiB of zeros in one file, against a 4 MiB limit."""

import tarfile
from pathlib import Path

SIZE = 67108864


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
        info = tarfile.TarInfo("app/zeros.bin")
        info.size = SIZE
        tar.addfile(info, Zeros(SIZE))
