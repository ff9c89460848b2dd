"""An entry whose file name is longer than any file system allows."""

from pathlib import Path

from ground.corpus_files import CONFIG_MAP
from ground.tarballs import member, write_after_config_map


def make(dest: Path) -> None:
    write_after_config_map(dest, member("app/" + "a" * 300 + ".yaml", content=CONFIG_MAP))
