"""A kustomization resource that is a link to a folder outside."""

import os
from pathlib import Path

from ground.corpus_files import write_app


def make(dest: Path) -> None:
    app = write_app(dest, kustomization="resources: [configmap.yaml, base]\n")
    os.symlink("/etc", app / "base")
