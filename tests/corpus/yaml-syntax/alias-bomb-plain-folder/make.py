"""A billion laughs in a folder without a kustomization file."""

from pathlib import Path

from ground.corpus_files import billion_laughs, config_map, write_files


def make(dest: Path) -> None:
    write_files(dest / "app", {"laughs.yaml": billion_laughs(config_map("laughs"))})
