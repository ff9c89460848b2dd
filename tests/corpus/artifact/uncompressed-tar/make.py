"""A tarball that is not gzip-compressed."""

import io
import tarfile
from pathlib import Path


def make(dest: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.addfile(tarfile.TarInfo("app/empty.yaml"), io.BytesIO(b""))
    (dest / "artifact.tar.gz").write_bytes(buffer.getvalue())
