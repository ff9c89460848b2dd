"""A SOPS-encrypted YAML file a configMapGenerator reads, and the wrong age key."""

from pathlib import Path

from ground.corpus_files import write_files
from ground.corpus_sops import write_keys
from unit.render.test_decryption import encrypt, new_key

GENERATOR = "configMapGenerator:\n  - name: settings\n    files:\n      - settings.yaml\n"


def make(dest: Path) -> None:
    settings = encrypt("password: hunter2\n", "settings.yaml", new_key().recipient)
    write_files(dest / "app", {"settings.yaml": settings, "kustomization.yaml": GENERATOR})
    write_keys(dest, new_key().agekey)
