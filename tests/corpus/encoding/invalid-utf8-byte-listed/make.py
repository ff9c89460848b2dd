"""A byte that is not UTF-8 (Latin-1's é) in a manifest a kustomization lists."""

from pathlib import Path

from ground.corpus_files import CONFIG_MAP_KUSTOMIZATION, config_map_with_value, write_app


def make(dest: Path) -> None:
    write_app(dest, config_map_with_value(b"caf\xe9"), CONFIG_MAP_KUSTOMIZATION)
