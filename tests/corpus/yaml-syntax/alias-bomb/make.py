"""A billion laughs, nine levels of nine aliases, in a file a kustomization lists."""

from pathlib import Path

from ground.corpus_files import billion_laughs, config_map, write_files


def make(dest: Path) -> None:
    write_files(
        dest / "app",
        {
            "kustomization.yaml": "resources: [laughs.yaml]\n",
            "laughs.yaml": billion_laughs(config_map("laughs")),
        },
    )
