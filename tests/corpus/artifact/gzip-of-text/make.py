"""A gzip file whose content is text, not a tarball."""

import gzip
from pathlib import Path

from ground.tarballs import write_raw


def make(dest: Path) -> None:
    write_raw(dest, gzip.compress(b"hello, this is not a tarball\n" * 40))
