"""A header that claims a 1 TiB file the tarball does not hold."""

import gzip
import tarfile
from pathlib import Path

from ground.tarballs import write_raw


def make(dest: Path) -> None:
    header = tarfile.TarInfo("app/huge.bin")
    header.size = 1 << 40
    write_raw(dest, gzip.compress(header.tobuf(tarfile.GNU_FORMAT) + bytes(1024)))
