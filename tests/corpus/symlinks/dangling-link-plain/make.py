"""A dangling .yaml link in a folder without kustomization."""

import os
from pathlib import Path

from ground.corpus_files import write_app


def make(dest: Path) -> None:
    app = write_app(dest)
    os.symlink("nowhere.yaml", app / "gone.yaml")
