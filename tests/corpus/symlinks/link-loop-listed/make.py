"""A kustomization resource that is a link to itself."""

import os
from pathlib import Path

from ground.corpus_files import write_app


def make(dest: Path) -> None:
    app = write_app(dest, kustomization="resources: [configmap.yaml, loop.yaml]\n")
    os.symlink("loop.yaml", app / "loop.yaml")
