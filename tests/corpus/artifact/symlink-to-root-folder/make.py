"""A symbolic folder link to /."""

import tarfile
from pathlib import Path

from ground.tarballs import member, write_after_config_map


def make(dest: Path) -> None:
    write_after_config_map(dest, member("host", tarfile.SYMTYPE, link="/"))
