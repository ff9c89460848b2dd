"""A patch file that is a link outside the artifact."""

import os
from pathlib import Path

from ground.corpus_files import write_app


def make(dest: Path) -> None:
    app = write_app(
        dest, kustomization="resources: [configmap.yaml]\npatches:\n  - path: patch.yaml\n"
    )
    os.symlink("/etc/hostname", app / "patch.yaml")
