"""An artifact whose download alone exceeds the limit."""

import random
from pathlib import Path

from ground.tarballs import write_raw


def make(dest: Path) -> None:
    write_raw(dest, random.Random(3).randbytes(200 * 1024))
