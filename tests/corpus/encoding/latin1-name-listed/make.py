"""A Latin-1 name in a manifest a kustomization lists."""

from pathlib import Path

from ground.corpus_files import CONFIG_MAP_KUSTOMIZATION, config_map, write_app


def make(dest: Path) -> None:
    write_app(dest, config_map("café").encode("latin-1"), CONFIG_MAP_KUSTOMIZATION)
