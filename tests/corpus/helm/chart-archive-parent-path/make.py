"""A chart archive whose entry climbs out of the chart."""

from pathlib import Path

from ground.corpus_charts import write_chart_archive
from ground.tarballs import member


def make(dest: Path) -> None:
    write_chart_archive(dest, member("app/../../escape.yaml", content="a: b\n"))
