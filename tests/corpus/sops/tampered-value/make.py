"""A SOPS-encrypted Secret whose encrypted value was changed, the MAC left as is. Keys are made and files encrypted at test time, with the helpers of
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
    start = text.index("password: ENC[AES256_GCM,data:") + len("password: ENC[AES256_GCM,data:")
    flipped = "A" if text[start] != "A" else "B"
    (app / "secret.yaml").write_text(text[:start] + flipped + text[start + 1 :])
    (dest / "keys.agekey").write_text(key.agekey)
