"""A configMapGenerator env file that is a link outside."""

import os
from pathlib import Path

from ground.corpus_files import write_app


def make(dest: Path) -> None:
    app = write_app(
        dest, kustomization="configMapGenerator:\n  - name: env\n    envs:\n      - environment\n"
    )
    os.symlink("/etc/environment", app / "environment")
