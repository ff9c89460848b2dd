"""A SOPS-encrypted Secret whose value was replaced by plain text. Keys are made and files encrypted at test time, with the helpers of
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
    text = secret.decode()
    start = text.index("password: ENC[")
    end = text.index("]", start) + 1
    (app / "secret.yaml").write_text(text[:start] + "password: plain" + text[end:])
    (dest / "keys.agekey").write_text(key.agekey)
