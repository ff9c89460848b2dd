"""A ConfigMap followed by 17 MiB of comments, written in pieces."""

from pathlib import Path

from ground.corpus_files import config_map

PIECE = ("# " + "x" * 1021 + "\n") * 1024


def make(dest: Path) -> None:
    (dest / "app").mkdir()
    with (dest / "app" / "big.yaml").open("w") as big:
        big.write(config_map("big"))
        for _ in range(17):
            big.write(PIECE)
