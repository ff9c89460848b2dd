"""A SOPS-encrypted Secret whose value was replaced by plain text."""

from pathlib import Path

from ground.corpus_sops import write_edited_secret


def replace_in_clear(secret: str) -> str:
    start = secret.index("password: ENC[")
    end = secret.index("]", start) + 1
    return secret[:start] + "password: plain" + secret[end:]


def make(dest: Path) -> None:
    write_edited_secret(dest, replace_in_clear)
