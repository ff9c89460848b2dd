"""A binary file named kustomization.yaml."""

from pathlib import Path

from ground.corpus_files import write_app


def make(dest: Path) -> None:
    write_app(dest, kustomization=bytes(range(256)) * 4)
