"""A zip archive instead of a gzip tarball."""

import io
import zipfile
from pathlib import Path


def make(dest: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app/configmap.yaml", "apiVersion: v1\nkind: ConfigMap\n")
    (dest / "artifact.tar.gz").write_bytes(buffer.getvalue())
