"""A ConfigMap whose field nests 5,000 block sequences: a dash at each level."""

from pathlib import Path

from ground.corpus_files import config_map, write_files

LEVELS = 5000


def make(dest: Path) -> None:
    nested = "- " * LEVELS + "1"
    write_files(dest / "app", {"deep.yaml": config_map("deep") + f"x:\n{nested}\n"})
