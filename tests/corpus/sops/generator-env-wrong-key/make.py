"""A SOPS-encrypted env file a secretGenerator reads, and the wrong age key."""

from pathlib import Path

from ground.corpus_files import write_files
from ground.corpus_sops import SECRET_GENERATOR, encrypted_env, write_keys
from unit.render.test_decryption import new_key


def make(dest: Path) -> None:
    creds = encrypted_env(new_key().recipient)
    write_files(dest / "app", {"creds.env": creds, "kustomization.yaml": SECRET_GENERATOR})
    write_keys(dest, new_key().agekey)
