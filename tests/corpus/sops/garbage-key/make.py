"""A decryption Secret whose .agekey entry is not an age key. Keys are made and files encrypted at test time, with the helpers of
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
    (dest / "keys.agekey").write_text("this is not a key\n")
