"""A chart archive of bytes that are no archive at all."""

import random
from pathlib import Path

from ground.corpus_charts import CHART_ARCHIVE


def make(dest: Path) -> None:
    (dest / CHART_ARCHIVE).write_bytes(random.Random(7).randbytes(4096))
