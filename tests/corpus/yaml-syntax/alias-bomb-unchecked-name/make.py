"""A billion laughs in a resource whose name the engine does not check, so only Kustomize reads it."""

from pathlib import Path

from ground.corpus_files import billion_laughs, config_map, write_files


def make(dest: Path) -> None:
    write_files(
        dest / "app",
        {
            "kustomization.yaml": "resources: [laughs.txt]\n",
            "laughs.txt": billion_laughs(config_map("laughs")),
        },
    )
