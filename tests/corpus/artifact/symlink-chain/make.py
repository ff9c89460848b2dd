"""Two links, each inside alone, that together lead outside."""

import tarfile
from pathlib import Path

from ground.tarballs import member, write

CONFIG_MAP = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n"


def make(dest: Path) -> None:
    write(
        dest,
        member("app/configmap.yaml", content=CONFIG_MAP),
        member("app/a", tarfile.SYMTYPE, link="."),
        member("app/b", tarfile.SYMTYPE, link="a/.."),
        member("app/c", tarfile.SYMTYPE, link="b/.."),
        member("app/d", tarfile.SYMTYPE, link="c/.."),
    )
