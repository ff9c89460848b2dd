"""The kustomization.yml of the path is a link, relative, to a kustomization outside the tree."""

import os
from pathlib import Path

from ground.corpus_files import OUTSIDE_KUSTOMIZATION, outside_kustomization, write_app


def make(dest: Path) -> None:
    outside_kustomization(dest)
    app = write_app(dest)
    os.symlink(f"../../{OUTSIDE_KUSTOMIZATION}", app / "kustomization.yml")
