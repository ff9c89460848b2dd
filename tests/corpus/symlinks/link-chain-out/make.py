"""Symbolic links cannot be committed as corpus files, so they are made here."""

import os
from pathlib import Path

CONFIG_MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n"


def make(dest: Path) -> None:
    app = dest / "app"
    app.mkdir()
    (app / "configmap.yaml").write_text(CONFIG_MAP)
    os.symlink("/etc", dest / "etc-link")
    os.symlink("../etc-link/passwd", app / "passwd.yaml")
