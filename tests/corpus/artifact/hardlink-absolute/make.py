"""A hard link to /etc/passwd."""

import tarfile
from pathlib import Path

from ground.tarballs import member, write_after_config_map


def make(dest: Path) -> None:
    write_after_config_map(dest, member("app/passwd", tarfile.LNKTYPE, link="/etc/passwd"))
