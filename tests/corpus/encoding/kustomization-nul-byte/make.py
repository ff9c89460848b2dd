"""A NUL byte in the kustomization file."""

from pathlib import Path

from ground.corpus_files import write_app


def make(dest: Path) -> None:
    write_app(dest, kustomization=b"resources: [configmap.yaml]\nnamespace: a\x00b\n")
