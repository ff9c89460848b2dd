"""A tarball entry that climbs out with '..'."""

from pathlib import Path

from ground.corpus_files import CONFIG_MAP
from ground.tarballs import member, write_after_config_map


def make(dest: Path) -> None:
    write_after_config_map(dest, member("../escape.yaml", content=CONFIG_MAP))
