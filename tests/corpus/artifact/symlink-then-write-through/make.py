"""A link to a folder inside, then a file written through a second link that leaves."""

import tarfile
from pathlib import Path

from ground.corpus_files import CONFIG_MAP
from ground.tarballs import member, write_after_config_map


def make(dest: Path) -> None:
    write_after_config_map(
        dest,
        member("app/inner", tarfile.SYMTYPE, link=".."),
        member("app/inner/inner2", tarfile.SYMTYPE, link=".."),
        member("app/inner/inner2/escape.yaml", content=CONFIG_MAP),
    )
