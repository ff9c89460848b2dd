"""A SOPS-encrypted Secret whose encrypted data key was cut short. Keys are made and files encrypted at test time, with the helpers of
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
    lines = text.splitlines(keepends=True)
    begin = next(i for i, line in enumerate(lines) if "BEGIN AGE ENCRYPTED FILE" in line)
    (app / "secret.yaml").write_text("".join(lines[: begin + 2] + lines[begin + 4 :]))
    (dest / "keys.agekey").write_text(key.agekey)
