"""A ConfigMap value of 2,000 defaults, each inside the one before."""

from pathlib import Path

LEVELS = 2000


def make(dest: Path) -> None:
    app = dest / "app"
    app.mkdir()
    nested = "${u:-" * LEVELS + "x" + "}" * LEVELS
    (app / "configmap.yaml").write_text(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  deep: '{nested}'\n"
    )
