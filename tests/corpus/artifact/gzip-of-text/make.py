"""A gzip file whose content is text, not a tarball."""

import gzip
from pathlib import Path


def make(dest: Path) -> None:
    (dest / "artifact.tar.gz").write_bytes(gzip.compress(b"hello, this is not a tarball\n" * 40))
