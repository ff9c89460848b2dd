"""Two .yaml links to each other in a folder without kustomization."""

import os
from pathlib import Path

from ground.corpus_files import write_app


def make(dest: Path) -> None:
    app = write_app(dest)
    os.symlink("b.yaml", app / "a.yaml")
    os.symlink("a.yaml", app / "b.yaml")
