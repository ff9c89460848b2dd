"""A template written in Latin-1, whose output the manifest cannot hold as text."""

from pathlib import Path

from ground.corpus_charts import write_chart


def make(dest: Path) -> None:
    config_map = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: latin1\ndata:\n  city: "
    write_chart(dest, {"templates/latin1.yaml": config_map.encode() + b"M\xfcnchen\n"})
