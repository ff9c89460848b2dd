"""Nine levels of nine aliases of the level before: 9^9 strings once expanded."""

from pathlib import Path


def laughs() -> str:
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: laughs"]
    lines.append("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]")
    for level in range(1, 9):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def make(dest: Path) -> None:
    app = dest / "app"
    app.mkdir()
    (app / "kustomization.yaml").write_text("resources: [laughs.yaml]\n")
    (app / "laughs.yaml").write_text(laughs())
