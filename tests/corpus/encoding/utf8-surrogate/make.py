"""A UTF-8 encoded surrogate in a manifest."""

from pathlib import Path

from ground.corpus_files import config_map_with_value, write_app


def make(dest: Path) -> None:
    write_app(dest, config_map_with_value(b"\xed\xa0\x80"))
