"""A folder, then a file of the same name."""

import tarfile
from pathlib import Path

from ground.tarballs import member, write

CONFIG_MAP = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n"


def make(dest: Path) -> None:
    write(
        dest,
        member("app/configmap.yaml", content=CONFIG_MAP),
        member("app/config", tarfile.DIRTYPE),
        member("app/config/x.yaml", content=CONFIG_MAP),
        member("app/config", content=CONFIG_MAP),
    )
