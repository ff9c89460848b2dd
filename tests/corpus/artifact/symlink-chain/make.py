"""Two links, each inside alone, that together lead outside."""

import tarfile
from pathlib import Path

from ground.tarballs import member, write_after_config_map


def make(dest: Path) -> None:
    write_after_config_map(
        dest,
        member("app/a", tarfile.SYMTYPE, link="."),
        member("app/b", tarfile.SYMTYPE, link="a/.."),
        member("app/c", tarfile.SYMTYPE, link="b/.."),
        member("app/d", tarfile.SYMTYPE, link="c/.."),
    )
