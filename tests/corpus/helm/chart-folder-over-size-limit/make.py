"""A chart folder with a sparse file of 110 MiB: nothing is written but its length."""

from pathlib import Path

from ground.corpus_charts import write_chart


def make(dest: Path) -> None:
    chart = write_chart(dest, {"files/blob.bin": b""})
    with (chart / "files" / "blob.bin").open("r+b") as blob:
        blob.truncate(110 * 1024 * 1024)
