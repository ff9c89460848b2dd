"""A manifest that is not valid UTF-8 text; made here so that the repository holds only text."""

from pathlib import Path


def make(dest: Path) -> None:
    app = dest / "app"
    app.mkdir()
    (app / "configmap.yaml").write_bytes(
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n"
        + b"data:\n  key: \xed\xa0\x80\n"
    )
