"""A folder that is a link to /, in a plain folder."""

import os
from pathlib import Path

from ground.corpus_files import write_app


def make(dest: Path) -> None:
    app = write_app(dest)
    os.symlink("/", app / "host")
