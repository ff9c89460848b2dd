"""A chart archive whose one file of zeros decompresses past Helm's 100 MiB."""

from pathlib import Path

from ground.corpus_charts import write_chart_bomb


def make(dest: Path) -> None:
    write_chart_bomb(dest, "app/files/zeros.bin", 110 * 1024 * 1024)
