"""A SOPS-encrypted YAML file a configMapGenerator reads, and the wrong age key. Keys are made and files encrypted at test time, with the helpers of
the decryption tests, so that no key is ever committed."""

from pathlib import Path

from unit.render.test_decryption import encrypt, new_key


def make(dest: Path) -> None:
    app = dest / "app"
    app.mkdir()
    key = new_key()
    (app / "settings.yaml").write_bytes(
        encrypt("password: hunter2\n", "settings.yaml", key.recipient)
    )
    (app / "kustomization.yaml").write_text(
        "configMapGenerator:\n  - name: settings\n    files:\n      - settings.yaml\n"
    )
    (dest / "keys.agekey").write_text(new_key().agekey)
