"""A SOPS-encrypted Secret whose age recipients were deleted."""

from pathlib import Path

from ground.corpus_sops import write_edited_secret


def remove_recipients(secret: str) -> str:
    start = secret.index("    age:")
    end = secret.index("    lastmodified:")
    return secret[:start] + "    age: []\n" + secret[end:]


def make(dest: Path) -> None:
    write_edited_secret(dest, remove_recipients)
