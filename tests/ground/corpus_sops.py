"""SOPS inputs of the bad-input corpus, called by the ``make.py`` scripts of
``tests/corpus/sops/`` (see its README).

Keys are made and files encrypted at test time, with the helpers of the decryption tests
(``tests/unit/render/test_decryption.py``: age keys made with pyrage, files encrypted by
the real sops), so that no key is ever committed. A case encrypts for one key and hands
the build that key, another one or something that is not a key at all.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ground.corpus_files import write_files
from unit.render.test_decryption import FLUX_REGEX, encrypt, new_key, secret_yaml

KEYS_FILE = "keys.agekey"
"""The file of the tree whose text the runner hands to the build as the decryption
Secret's ``.agekey`` entry (the ``keys`` field of the cases' ``case.yaml``)."""

SECRET_KUSTOMIZATION = "resources: [secret.yaml]\n"
"""A kustomization file that lists the Secret of :func:`encrypted_secret`."""

SECRET_GENERATOR = "secretGenerator:\n  - name: creds\n    envs:\n      - creds.env\n"
"""A kustomization file whose secretGenerator reads ``creds.env``."""


def encrypted_secret(recipient: str) -> str:
    """A Secret of a password encrypted for ``recipient`` as Flux users encrypt one: only
    its ``data`` and ``stringData``."""
    secret = secret_yaml("stringData", "hunter2")
    return encrypt(secret, "secret.yaml", recipient, "--encrypted-regex", FLUX_REGEX).decode()


def encrypted_env(recipient: str) -> bytes:
    """``creds.env``, a dotenv file of a password, encrypted for ``recipient``."""
    return encrypt("PASSWORD=hunter2\n", "creds.env", recipient)


def write_keys(dest: Path, text: str) -> None:
    """What the build is given as its age keys."""
    (dest / KEYS_FILE).write_text(text)


def write_edited_secret(dest: Path, edit: Callable[[str], str]) -> None:
    """``app/secret.yaml``, a Secret encrypted for a new key and then changed by ``edit``
    as someone editing the file by hand would, and that key for the build: the key is
    right, the file is not."""
    key = new_key()
    write_files(dest / "app", {"secret.yaml": edit(encrypted_secret(key.recipient))})
    write_keys(dest, key.agekey)
