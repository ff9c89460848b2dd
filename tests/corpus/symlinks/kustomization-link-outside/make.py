"""The kustomization.yaml of the path is a link to a kustomization outside the tree."""

import os
from pathlib import Path

from ground.corpus_files import outside_kustomization, write_app


def make(dest: Path) -> None:
    app = write_app(dest)
    os.symlink(str(outside_kustomization(dest)), app / "kustomization.yaml")
