"""Only the first bytes of a gzip header."""

from pathlib import Path


def make(dest: Path) -> None:
    (dest / "artifact.tar.gz").write_bytes(b"\x1f\x8b\x08")
