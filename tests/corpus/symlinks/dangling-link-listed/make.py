"""A kustomization resource that is a dangling link."""

import os
from pathlib import Path

from ground.corpus_files import write_app


def make(dest: Path) -> None:
    app = write_app(dest, kustomization="resources: [configmap.yaml, gone.yaml]\n")
    os.symlink("nowhere.yaml", app / "gone.yaml")
