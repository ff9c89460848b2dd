"""A decryption Secret whose .agekey entry holds the public key, not the private one."""

from pathlib import Path

from ground.corpus_files import write_files
from ground.corpus_sops import encrypted_secret, write_keys
from unit.render.test_decryption import new_key


def make(dest: Path) -> None:
    key = new_key()
    write_files(dest / "app", {"secret.yaml": encrypted_secret(key.recipient)})
    write_keys(dest, key.recipient + "\n")
