"""A gzip tarball whose first header checksum is wrong."""

import gzip
from pathlib import Path

from ground.tarballs import member, packed, write_raw


def make(dest: Path) -> None:
    tarball = bytearray(
        packed(member("app/configmap.yaml", content="apiVersion: v1\n"), compression="")
    )
    tarball[148:156] = b"0000000\x00"  # the checksum field of the first header
    write_raw(dest, gzip.compress(bytes(tarball)))
