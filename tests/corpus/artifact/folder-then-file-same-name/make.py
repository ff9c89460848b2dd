"""A folder, then a file of the same name."""

import tarfile
from pathlib import Path

from ground.corpus_files import CONFIG_MAP
from ground.tarballs import member, write_after_config_map


def make(dest: Path) -> None:
    write_after_config_map(
        dest,
        member("app/config", tarfile.DIRTYPE),
        member("app/config/x.yaml", content=CONFIG_MAP),
        member("app/config", content=CONFIG_MAP),
    )
