"""OpenPGP keys and signed Git history for the test ground, made with gpg in batch mode.

A module-scoped ``gnupg`` fixture creates a temporary GNUPGHOME with two ed25519 keys:
Alice, who signs with a signing subkey as most users do, and Mallory. ``signing`` also
points git's gpg at that home for the test. Loaded as a pytest plugin by
tests/conftest.py.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lockstep.dev.gitserver import WorkingCopy, run_git

ALICE = "Alice <alice@lockstep.invalid>"
MALLORY = "Mallory <mallory@lockstep.invalid>"


@dataclass(frozen=True)
class GpgKey:
    user_id: str
    fingerprint: str
    """Of the primary key."""

    signing_key: str
    """Fingerprint of the (sub)key that makes signatures."""

    public_key: bytes
    """``gpg --export --armor``."""


@dataclass(frozen=True)
class GnuPG:
    home: Path
    alice: GpgKey
    mallory: GpgKey


def gpg(home: Path, *args: str) -> str:
    """Run gpg in batch mode on `home`, with no passphrase on new keys."""
    command = ["gpg", "--batch", "--homedir", str(home), "--passphrase", "", *args]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def fingerprints(home: Path, user_id: str) -> list[str]:
    """The primary key's fingerprint, then its subkeys'."""
    listing = gpg(home, "--with-colons", "--list-keys", user_id)
    return [line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")]


def generate_key(home: Path, user_id: str, subkey: bool) -> GpgKey:
    """An ed25519 key; with `subkey`, the primary only certifies and a subkey signs."""
    gpg(home, "--quick-gen-key", user_id, "ed25519", "cert" if subkey else "sign", "never")
    if subkey:
        gpg(home, "--quick-add-key", fingerprints(home, user_id)[0], "ed25519", "sign", "never")
    primary, *subkeys = fingerprints(home, user_id)
    public_key = gpg(home, "--armor", "--export", user_id).encode()
    return GpgKey(user_id, primary, subkeys[-1] if subkeys else primary, public_key)


def stop_agent(home: Path) -> None:
    """Stop the agent gpg started for ``home``; it would outlive the tests."""
    subprocess.run(
        ["gpgconf", "--kill", "gpg-agent"],
        env={**os.environ, "GNUPGHOME": str(home)},
        check=False,
    )


@pytest.fixture(scope="module")
def gnupg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GnuPG]:
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    try:
        yield GnuPG(
            home,
            alice=generate_key(home, ALICE, subkey=True),
            mallory=generate_key(home, MALLORY, subkey=False),
        )
    finally:
        stop_agent(home)


@pytest.fixture
def signing(gnupg: GnuPG, monkeypatch: pytest.MonkeyPatch) -> GnuPG:
    """`gnupg`, with git's gpg reading its home for the rest of the test."""
    monkeypatch.setenv("GNUPGHOME", str(gnupg.home))
    return gnupg


def commit_signed(copy: WorkingCopy, message: str, key: GpgKey | None) -> str:
    """Commit everything, signed by `key` (its primary key names it; gpg picks the subkey)."""
    run_git(["add", "--all"], copy.path)
    signing = [f"--gpg-sign={key.fingerprint}"] if key else []
    run_git(["commit", "--quiet", "--allow-empty", *signing, f"--message={message}"], copy.path)
    return copy.head()


def tag_signed(copy: WorkingCopy, name: str, key: GpgKey) -> None:
    run_git(
        ["tag", f"--local-user={key.fingerprint}", "--sign", f"--message={name}", name], copy.path
    )
