"""A gzip tarball whose first header checksum is wrong."""

import gzip
import io
import tarfile
from pathlib import Path


def make(dest: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        content = b"apiVersion: v1\n"
        info = tarfile.TarInfo("app/configmap.yaml")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    data = bytearray(buffer.getvalue())
    data[148:156] = b"0000000\x00"
    (dest / "artifact.tar.gz").write_bytes(gzip.compress(bytes(data)))
