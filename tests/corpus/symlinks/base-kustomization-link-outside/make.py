"""Symbolic links cannot be committed as corpus files, so they are made here."""

import os
from pathlib import Path

CONFIG_MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n"

OUTSIDE = "resources: [configmap.yaml]\n"


def outside_file(dest: Path) -> Path:
    """A kustomization beside the tree, outside what is built; the build must neither
    read nor write it."""
    file = dest.parent / "outside-kustomization.yaml"
    file.write_text(OUTSIDE)
    return file


def make(dest: Path) -> None:
    folder = dest / "base"
    folder.mkdir()
    (folder / "configmap.yaml").write_text(CONFIG_MAP)
    (dest / "app").mkdir()
    (dest / "app" / "kustomization.yaml").write_text("resources: [../base]\n")
    os.symlink(str(outside_file(dest)), folder / "kustomization.yaml")
