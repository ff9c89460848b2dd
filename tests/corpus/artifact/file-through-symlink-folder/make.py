"""A link to /tmp, then a file placed under it."""

import tarfile
from pathlib import Path

from ground.corpus_files import CONFIG_MAP
from ground.tarballs import member, write_after_config_map


def make(dest: Path) -> None:
    write_after_config_map(
        dest,
        member("app/tmp", tarfile.SYMTYPE, link="/tmp"),
        member("app/tmp/escape.yaml", content=CONFIG_MAP),
    )
