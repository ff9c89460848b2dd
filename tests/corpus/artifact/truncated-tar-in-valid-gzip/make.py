"""A valid gzip stream holding a tarball cut inside a file's content."""

import gzip
import io
import tarfile
from pathlib import Path


def make(dest: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        content = b"x" * 5000
        info = tarfile.TarInfo("app/big.txt")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    (dest / "artifact.tar.gz").write_bytes(gzip.compress(buffer.getvalue()[:2048]))
