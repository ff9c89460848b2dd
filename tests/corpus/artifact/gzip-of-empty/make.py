"""A gzip file of nothing."""

import gzip
from pathlib import Path

from ground.tarballs import write_raw


def make(dest: Path) -> None:
    write_raw(dest, gzip.compress(b""))
