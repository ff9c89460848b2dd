"""A SOPS-encrypted Secret whose encrypted value was changed, the MAC left as is."""

from pathlib import Path

from ground.corpus_sops import write_edited_secret

VALUE = "password: ENC[AES256_GCM,data:"


def flip_a_character(secret: str) -> str:
    start = secret.index(VALUE) + len(VALUE)
    flipped = "A" if secret[start] != "A" else "B"
    return secret[:start] + flipped + secret[start + 1 :]


def make(dest: Path) -> None:
    write_edited_secret(dest, flip_a_character)
