"""A ConfigMap whose one value uses the variable 300,000 times."""

from pathlib import Path

from ground.corpus_files import CONFIG_MAP, write_app

USES = 300_000


def make(dest: Path) -> None:
    write_app(dest, CONFIG_MAP + f"data:\n  big: '{'${v}' * USES}'\n")
