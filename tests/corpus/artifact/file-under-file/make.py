"""A file placed under a path that is a regular file."""

from pathlib import Path

from ground.corpus_files import CONFIG_MAP
from ground.tarballs import member, write_after_config_map


def make(dest: Path) -> None:
    write_after_config_map(dest, member("app/configmap.yaml/nested.yaml", content=CONFIG_MAP))
