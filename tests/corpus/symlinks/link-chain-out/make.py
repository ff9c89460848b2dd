"""A link to a link that leaves the artifact."""

import os
from pathlib import Path

from ground.corpus_files import write_app


def make(dest: Path) -> None:
    app = write_app(dest)
    os.symlink("/etc", dest / "etc-link")
    os.symlink("../etc-link/passwd", app / "passwd.yaml")
