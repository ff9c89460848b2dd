"""A zip archive instead of a gzip tarball."""

import io
import zipfile
from pathlib import Path

from ground.tarballs import write_raw


def make(dest: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app/configmap.yaml", "apiVersion: v1\nkind: ConfigMap\n")
    write_raw(dest, buffer.getvalue())
