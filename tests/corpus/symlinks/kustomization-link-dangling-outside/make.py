"""The kustomization.yaml of the path is a dangling link to a file outside the tree."""

import os
from pathlib import Path

from ground.corpus_files import write_app


def make(dest: Path) -> None:
    app = write_app(dest)
    os.symlink(str(dest.parent / "not-yet-written.yaml"), app / "kustomization.yaml")
