"""A kustomization file whose commonLabels nest 5,000 flow sequences."""

from pathlib import Path

LEVELS = 5000


def make(dest: Path) -> None:
    app = dest / "app"
    app.mkdir()
    nested = "[" * LEVELS + "]" * LEVELS
    (app / "kustomization.yaml").write_text(f"resources: []\ncommonLabels: {nested}\n")
