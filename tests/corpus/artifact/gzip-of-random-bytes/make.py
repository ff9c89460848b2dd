"""A gzip file whose content is random bytes."""

import gzip
import random
from pathlib import Path


def make(dest: Path) -> None:
    (dest / "artifact.tar.gz").write_bytes(gzip.compress(random.Random(7).randbytes(4096)))
