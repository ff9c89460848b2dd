"""A truncated UTF-8 sequence in a manifest a kustomization lists."""

from pathlib import Path

from ground.corpus_files import CONFIG_MAP_KUSTOMIZATION, config_map_with_value, write_app


def make(dest: Path) -> None:
    write_app(dest, config_map_with_value(b"\xe2\x82"), CONFIG_MAP_KUSTOMIZATION)
