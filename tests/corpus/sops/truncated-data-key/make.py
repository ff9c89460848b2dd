"""A SOPS-encrypted Secret whose encrypted data key was cut short."""

from pathlib import Path

from ground.corpus_sops import write_edited_secret


def cut_data_key(secret: str) -> str:
    lines = secret.splitlines(keepends=True)
    begin = next(i for i, line in enumerate(lines) if "BEGIN AGE ENCRYPTED FILE" in line)
    return "".join(lines[: begin + 2] + lines[begin + 4 :])


def make(dest: Path) -> None:
    write_edited_secret(dest, cut_data_key)
