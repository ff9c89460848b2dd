"""A kustomization file with nine levels of nine aliases of the level before."""

from pathlib import Path


def make(dest: Path) -> None:
    app = dest / "app"
    app.mkdir()
    lines = ["resources: []", "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, 9):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    (app / "kustomization.yaml").write_text("\n".join(lines) + "\n")
