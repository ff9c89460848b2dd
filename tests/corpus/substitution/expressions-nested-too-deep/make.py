"""A ConfigMap value of 2,000 defaults, each inside the one before."""

from pathlib import Path

from ground.corpus_files import CONFIG_MAP, write_app

LEVELS = 2000


def make(dest: Path) -> None:
    nested = "${u:-" * LEVELS + "x" + "}" * LEVELS
    write_app(dest, CONFIG_MAP + f"data:\n  deep: '{nested}'\n")
