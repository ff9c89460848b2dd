"""An overlong UTF-8 sequence in a manifest."""

from pathlib import Path

from ground.corpus_files import config_map_with_value, write_app


def make(dest: Path) -> None:
    write_app(dest, config_map_with_value(b"\xc0\xaf"))
