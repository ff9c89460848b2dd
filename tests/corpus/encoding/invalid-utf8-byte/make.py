"""A byte that is not UTF-8 (Latin-1's é) in a manifest."""

from pathlib import Path

from ground.corpus_files import config_map_with_value, write_app


def make(dest: Path) -> None:
    write_app(dest, config_map_with_value(b"caf\xe9"))
