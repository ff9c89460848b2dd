"""The kustomization file saved as UTF-16."""

from pathlib import Path

from ground.corpus_files import CONFIG_MAP_KUSTOMIZATION, write_app


def make(dest: Path) -> None:
    write_app(dest, kustomization=CONFIG_MAP_KUSTOMIZATION.encode("utf-16"))
