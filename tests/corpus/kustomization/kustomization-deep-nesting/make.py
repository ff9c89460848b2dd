"""A kustomization file whose commonLabels nest 5,000 flow sequences."""

from pathlib import Path

from ground.corpus_files import write_files

LEVELS = 5000


def make(dest: Path) -> None:
    nested = "[" * LEVELS + "]" * LEVELS
    write_files(dest / "app", {"kustomization.yaml": f"resources: []\ncommonLabels: {nested}\n"})
