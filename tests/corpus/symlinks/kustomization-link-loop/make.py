"""A kustomization.yaml that is a link to itself."""

import os
from pathlib import Path

from ground.corpus_files import write_app


def make(dest: Path) -> None:
    app = write_app(dest)
    os.symlink("kustomization.yaml", app / "kustomization.yaml")
