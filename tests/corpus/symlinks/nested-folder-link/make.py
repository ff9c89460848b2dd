"""A link outside, two folders down in a plain folder."""

import os
from pathlib import Path

from ground.corpus_files import write_app


def make(dest: Path) -> None:
    app = write_app(dest)
    (app / "a" / "b").mkdir(parents=True)
    os.symlink("/etc/hostname", app / "a" / "b" / "secret.yaml")
