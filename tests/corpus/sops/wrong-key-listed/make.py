"""A SOPS-encrypted Secret a kustomization lists, and an age key it was not encrypted for. Keys are made and files encrypted at test time, with the helpers of
the decryption tests, so that no key is ever committed."""

from pathlib import Path

from unit.render.test_decryption import FLUX_REGEX, encrypt, new_key, secret_yaml


def make(dest: Path) -> None:
    app = dest / "app"
    app.mkdir()
    key = new_key()
    secret = encrypt(
        secret_yaml("stringData", "hunter2"),
        "secret.yaml",
        key.recipient,
        "--encrypted-regex",
        FLUX_REGEX,
    )
    (app / "secret.yaml").write_bytes(secret)
    (dest / "keys.agekey").write_text(new_key().agekey)
    (app / "kustomization.yaml").write_text("resources: [secret.yaml]\n")
