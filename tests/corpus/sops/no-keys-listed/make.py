"""A SOPS-encrypted Secret a kustomization lists, and no decryption keys."""

from pathlib import Path

from ground.corpus_files import write_files
from ground.corpus_sops import SECRET_KUSTOMIZATION, encrypted_secret
from unit.render.test_decryption import new_key


def make(dest: Path) -> None:
    secret = encrypted_secret(new_key().recipient)
    write_files(dest / "app", {"secret.yaml": secret, "kustomization.yaml": SECRET_KUSTOMIZATION})
