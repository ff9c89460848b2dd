"""A valid gzip stream holding a tarball cut inside a file's content."""

import gzip
from pathlib import Path

from ground.tarballs import member, packed, write_raw


def make(dest: Path) -> None:
    tarball = packed(member("app/big.txt", content=b"x" * 5000), compression="")
    write_raw(dest, gzip.compress(tarball[:2048]))
