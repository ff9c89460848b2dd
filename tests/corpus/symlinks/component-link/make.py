"""A component folder that is a link outside."""

import os
from pathlib import Path

from ground.corpus_files import write_app


def make(dest: Path) -> None:
    app = write_app(dest, kustomization="resources: [configmap.yaml]\ncomponents: [extra]\n")
    os.symlink("/etc", app / "extra")
