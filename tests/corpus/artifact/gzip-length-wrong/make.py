"""A gzip tarball whose length in the trailer is wrong."""

import io
import tarfile
from pathlib import Path


def make(dest: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        content = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n" * 50
        info = tarfile.TarInfo("app/configmap.yaml")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    valid = buffer.getvalue()
    (dest / "artifact.tar.gz").write_bytes(valid[:-4] + b"\xff\xff\xff\x7f")
