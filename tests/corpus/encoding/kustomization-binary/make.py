"""A file that is not text YAML allows; made here so that the repository holds only text."""

from pathlib import Path

CONFIG_MAP = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n"


def make(dest: Path) -> None:
    app = dest / "app"
    app.mkdir()
    (app / "configmap.yaml").write_bytes(CONFIG_MAP)
    (app / "kustomization.yaml").write_bytes(bytes(range(256)) * 4)
