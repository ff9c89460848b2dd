"""A symbolic link that climbs out with '..'."""

import tarfile
from pathlib import Path

from ground.tarballs import member, write_after_config_map


def make(dest: Path) -> None:
    write_after_config_map(dest, member("app/up", tarfile.SYMTYPE, link="../../.."))
