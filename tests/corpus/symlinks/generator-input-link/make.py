"""A configMapGenerator file that is a link to /etc/passwd."""

import os
from pathlib import Path

from ground.corpus_files import write_app


def make(dest: Path) -> None:
    app = write_app(
        dest, kustomization="configMapGenerator:\n  - name: users\n    files:\n      - passwd\n"
    )
    os.symlink("/etc/passwd", app / "passwd")
