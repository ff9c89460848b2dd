"""A billion laughs in the kustomization file itself: nine levels of nine aliases."""

from pathlib import Path

from ground.corpus_files import billion_laughs, write_files


def make(dest: Path) -> None:
    write_files(dest / "app", {"kustomization.yaml": billion_laughs("resources: []\n")})
