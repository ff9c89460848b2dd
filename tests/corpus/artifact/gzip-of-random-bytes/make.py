"""A gzip file whose content is random bytes."""

import gzip
import random
from pathlib import Path

from ground.tarballs import write_raw


def make(dest: Path) -> None:
    write_raw(dest, gzip.compress(random.Random(7).randbytes(4096)))
