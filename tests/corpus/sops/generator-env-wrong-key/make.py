"""A SOPS-encrypted env file a secretGenerator reads, and the wrong age key. Keys are made and files encrypted at test time, with the helpers of
the decryption tests, so that no key is ever committed."""

from pathlib import Path

from unit.render.test_decryption import encrypt, new_key


def make(dest: Path) -> None:
    app = dest / "app"
    app.mkdir()
    key = new_key()
    (app / "creds.env").write_bytes(encrypt("PASSWORD=hunter2\n", "creds.env", key.recipient))
    (app / "kustomization.yaml").write_text(
        "secretGenerator:\n  - name: creds\n    envs:\n      - creds.env\n"
    )
    (dest / "keys.agekey").write_text(new_key().agekey)
