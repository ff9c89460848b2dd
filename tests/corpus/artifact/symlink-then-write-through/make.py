"""A link to a folder inside, then a file written through a second link that leaves."""

import tarfile
from pathlib import Path

from ground.tarballs import member, write

CONFIG_MAP = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n"


def make(dest: Path) -> None:
    write(
        dest,
        member("app/configmap.yaml", content=CONFIG_MAP),
        member("app/inner", tarfile.SYMTYPE, link=".."),
        member("app/inner/inner2", tarfile.SYMTYPE, link=".."),
        member("app/inner/inner2/escape.yaml", content=CONFIG_MAP),
    )
