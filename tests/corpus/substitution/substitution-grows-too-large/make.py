"""A ConfigMap whose one value uses the variable 300,000 times."""

from pathlib import Path

USES = 300_000


def make(dest: Path) -> None:
    app = dest / "app"
    app.mkdir()
    (app / "configmap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n"
        f"data:\n  big: '{'${v}' * USES}'\n"
    )
