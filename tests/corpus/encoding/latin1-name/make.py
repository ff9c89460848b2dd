"""A Latin-1 name in a manifest."""

from pathlib import Path

from ground.corpus_files import config_map, write_app


def make(dest: Path) -> None:
    write_app(dest, config_map("café").encode("latin-1"))
