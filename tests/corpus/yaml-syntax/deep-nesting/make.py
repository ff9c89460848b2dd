"""A ConfigMap whose field nests 5,000 flow mappings, one inside the other."""

from pathlib import Path

LEVELS = 5000


def make(dest: Path) -> None:
    app = dest / "app"
    app.mkdir()
    (app / "kustomization.yaml").write_text("resources: [deep.yaml]\n")
    nested = "{a: " * LEVELS + "1" + "}" * LEVELS
    (app / "deep.yaml").write_text(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\nx: {nested}\n"
    )
