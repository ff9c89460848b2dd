"""The kustomization.yaml of a base is a link to a kustomization outside the tree."""

import os
from pathlib import Path

from ground.corpus_files import CONFIG_MAP, outside_kustomization, write_files


def make(dest: Path) -> None:
    base = write_files(dest / "base", {"configmap.yaml": CONFIG_MAP})
    write_files(dest / "app", {"kustomization.yaml": "resources: [../base]\n"})
    os.symlink(str(outside_kustomization(dest)), base / "kustomization.yaml")
