"""spec.path is a link to a folder outside the artifact."""

import os
from pathlib import Path

from ground.corpus_files import write_app


def make(dest: Path) -> None:
    write_app(dest)
    os.symlink("/etc", dest / "cluster")
