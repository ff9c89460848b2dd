"""A kustomization file in Latin-1; made here so that the repository holds only text."""

from pathlib import Path


def make(dest: Path) -> None:
    app = dest / "app"
    app.mkdir()
    (app / "kustomization.yaml").write_bytes(b"namePrefix: caf\xe9-\nresources: [configmap.yaml]\n")
    (app / "configmap.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: s\n")
