"""A kustomization file in Latin-1, not UTF-8."""

from pathlib import Path

from ground.corpus_files import config_map, write_app

KUSTOMIZATION = "namePrefix: café-\nresources: [configmap.yaml]\n"


def make(dest: Path) -> None:
    write_app(dest, config_map("s"), KUSTOMIZATION.encode("latin-1"))
