"""An artifact whose download alone exceeds the limit."""

import random
from pathlib import Path


def make(dest: Path) -> None:
    (dest / "artifact.tar.gz").write_bytes(random.Random(3).randbytes(200 * 1024))
