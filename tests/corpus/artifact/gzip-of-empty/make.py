"""A gzip file of nothing."""

import gzip
from pathlib import Path


def make(dest: Path) -> None:
    (dest / "artifact.tar.gz").write_bytes(gzip.compress(b""))
