"""A header that claims a 1 TiB file the tarball does not hold."""

import gzip
import tarfile
from pathlib import Path


def make(dest: Path) -> None:
    header = tarfile.TarInfo("app/huge.bin")
    header.size = 1 << 40
    block = header.tobuf(tarfile.GNU_FORMAT)
    (dest / "artifact.tar.gz").write_bytes(gzip.compress(block + bytes(1024)))
