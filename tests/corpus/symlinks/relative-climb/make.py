"""A manifest linked with ../ past the artifact root."""

import os
from pathlib import Path

from ground.corpus_files import config_map, write_app


def make(dest: Path) -> None:
    app = write_app(dest)
    (dest.parent / "outside.yaml").write_text(config_map("outside"))
    os.symlink("../../outside.yaml", app / "outside.yaml")
