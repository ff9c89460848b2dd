"""A ConfigMap followed by 17 MiB of comments, written in pieces."""

from pathlib import Path

PIECE = ("# " + "x" * 1021 + "\n") * 1024


def make(dest: Path) -> None:
    app = dest / "app"
    app.mkdir()
    with (app / "big.yaml").open("w") as big:
        big.write("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\n")
        for _ in range(17):
            big.write(PIECE)
