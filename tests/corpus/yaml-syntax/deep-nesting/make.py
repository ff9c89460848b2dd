"""A ConfigMap whose field nests 5,000 flow mappings, one inside the other."""

from pathlib import Path

from ground.corpus_files import config_map, write_files

LEVELS = 5000


def make(dest: Path) -> None:
    nested = "{a: " * LEVELS + "1" + "}" * LEVELS
    write_files(
        dest / "app",
        {
            "kustomization.yaml": "resources: [deep.yaml]\n",
            "deep.yaml": config_map("deep") + f"x: {nested}\n",
        },
    )
