"""A manifest saved as UTF-16."""

from pathlib import Path

from ground.corpus_files import CONFIG_MAP, write_app


def make(dest: Path) -> None:
    write_app(dest, CONFIG_MAP.encode("utf-16"))
