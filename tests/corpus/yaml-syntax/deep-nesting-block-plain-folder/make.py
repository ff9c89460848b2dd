"""A ConfigMap whose field nests 5,000 block sequences: a dash at each level."""

from pathlib import Path

LEVELS = 5000


def make(dest: Path) -> None:
    app = dest / "app"
    app.mkdir()
    nested = "- " * LEVELS + "1"
    (app / "deep.yaml").write_text(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\nx:\n{nested}\n"
    )
