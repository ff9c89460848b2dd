"""A base that is a link to the artifact's parent folder."""

import os
from pathlib import Path

from ground.corpus_files import write_app


def make(dest: Path) -> None:
    app = write_app(dest, kustomization="resources: [configmap.yaml, base]\n")
    os.symlink("../..", app / "base")
