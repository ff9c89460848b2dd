"""OpenPGP verification of commits and tags that git and gpg signed, fetched from the loopback server.

Keys are made by gpg in batch mode in a temporary GNUPGHOME: Alice, whose Secret entry
is trusted and who signs with a signing subkey as most users do, and Mallory, who is
not trusted. Commits (``git commit -S``) and annotated tags (``git tag -s``) are pushed
to the git daemon, fetched by :func:`lockstep.sources.git.checkout` and checked by
:func:`lockstep.sources.verify.verify_checkout`. A tampered commit is written with
``git hash-object`` from a signed one with its message changed.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pygit2
import pytest

from ground.gpg import ALICE, MALLORY, GnuPG, commit_signed, tag_signed
from lockstep.dev.gitserver import GIT_ENV, ServedRepo, run_git
from lockstep.sources.errors import KeyMismatch, NotSigned
from lockstep.sources.git import CheckedOut, checkout, resolve_ref
from lockstep.sources.refs import GitRef, ResolvedRef
from lockstep.sources.verify import TrustedKeys, Verified, split_commit_signature, verify_checkout

pytestmark = pytest.mark.integration


@pytest.fixture
def trusted(gnupg: GnuPG) -> TrustedKeys:
    return TrustedKeys.from_secret({"alice.asc": gnupg.alice.public_key})


def fetch(repo: ServedRepo, ref: GitRef, dest: Path) -> tuple[ResolvedRef, CheckedOut]:
    resolved = resolve_ref(repo.git_url, ref)
    return resolved, checkout(repo.git_url, resolved, dest)


def test_a_commit_signed_with_a_trusted_subkey_verifies(
    signing: GnuPG, trusted: TrustedKeys, git_repo: ServedRepo, tmp_path: Path
) -> None:
    copy = git_repo.working_copy(tmp_path / "work")
    copy.write("app.yaml", "replicas: 1\n")
    commit = commit_signed(copy, "signed", signing.alice)
    copy.push()

    resolved, checked_out = fetch(git_repo, GitRef(branch="main"), tmp_path / "dest")
    verified = verify_checkout(
        "HEAD", GitRef(branch="main"), resolved, checked_out, trusted, git_repo.git_url
    )

    assert verified == (Verified(f"commit {commit}", signing.alice.fingerprint, ALICE),)
    assert signing.alice.signing_key != signing.alice.fingerprint  # a subkey signed


def test_the_commit_payload_and_signature_are_those_libgit2_extracts(
    signing: GnuPG, git_repo: ServedRepo, tmp_path: Path
) -> None:
    copy = git_repo.working_copy(tmp_path / "work")
    copy.write("app.yaml", "replicas: 1\n")
    commit = commit_signed(copy, "signed\n\nwith a body", signing.alice)
    stored = pygit2.Repository(str(copy.path)).get(commit)
    assert isinstance(stored, pygit2.Commit)

    split = split_commit_signature(stored.read_raw())

    assert split is not None
    signature, payload = stored.gpg_signature
    assert (split.signature.rstrip(b"\n"), split.payload) == (signature, payload)


def test_a_signed_tag_on_a_signed_commit_verifies_with_tag_and_head(
    signing: GnuPG, trusted: TrustedKeys, git_repo: ServedRepo, tmp_path: Path
) -> None:
    copy = git_repo.working_copy(tmp_path / "work")
    copy.write("app.yaml", "replicas: 1\n")
    commit = commit_signed(copy, "release", signing.alice)
    tag_signed(copy, "v1.2.0", signing.alice)
    copy.push()
    ref = GitRef(semver="^1.0")

    resolved, checked_out = fetch(git_repo, ref, tmp_path / "dest")
    verified = verify_checkout("TagAndHEAD", ref, resolved, checked_out, trusted, git_repo.git_url)

    assert [(v.subject, v.fingerprint) for v in verified] == [
        ("tag v1.2.0", signing.alice.fingerprint),
        (f"commit {commit}", signing.alice.fingerprint),
    ]


def test_an_unsigned_commit_is_not_signed(
    trusted: TrustedKeys, git_repo: ServedRepo, tmp_path: Path
) -> None:
    copy = git_repo.working_copy(tmp_path / "work")
    commit = commit_signed(copy, "unsigned", None)
    copy.push()
    resolved, checked_out = fetch(git_repo, GitRef(branch="main"), tmp_path / "dest")

    with pytest.raises(NotSigned) as raised:
        verify_checkout(
            "HEAD", GitRef(branch="main"), resolved, checked_out, trusted, git_repo.git_url
        )

    assert str(raised.value).startswith(f"commit {commit} of {git_repo.git_url} is not signed;")


def test_a_tag_signed_by_a_key_outside_the_secret_names_the_key(
    signing: GnuPG, trusted: TrustedKeys, git_repo: ServedRepo, tmp_path: Path
) -> None:
    copy = git_repo.working_copy(tmp_path / "work")
    commit_signed(copy, "release", signing.alice)
    tag_signed(copy, "v2.0.0", signing.mallory)
    copy.push()
    ref = GitRef(tag="v2.0.0")
    resolved, checked_out = fetch(git_repo, ref, tmp_path / "dest")

    with pytest.raises(KeyMismatch) as raised:
        verify_checkout("Tag", ref, resolved, checked_out, trusted, git_repo.git_url)

    assert str(raised.value) == (
        f"tag v2.0.0 of {git_repo.git_url} is signed by key {signing.mallory.signing_key}, "
        "which is not in the spec.verify.secretRef Secret; add the signer's public key to the Secret"
    )


def test_a_secret_bundle_trusting_both_keys_accepts_mallory(
    signing: GnuPG, git_repo: ServedRepo, tmp_path: Path
) -> None:
    copy = git_repo.working_copy(tmp_path / "work")
    commit = commit_signed(copy, "by mallory", signing.mallory)
    copy.push()
    bundle = signing.alice.public_key + signing.mallory.public_key
    keys = TrustedKeys.from_secret({"team.asc": bundle})
    resolved, checked_out = fetch(git_repo, GitRef(branch="main"), tmp_path / "dest")

    verified = verify_checkout(
        "HEAD", GitRef(branch="main"), resolved, checked_out, keys, git_repo.git_url
    )

    assert verified == (Verified(f"commit {commit}", signing.mallory.fingerprint, MALLORY),)


def test_a_commit_changed_after_signing_does_not_verify(
    signing: GnuPG, trusted: TrustedKeys, git_repo: ServedRepo, tmp_path: Path
) -> None:
    copy = git_repo.working_copy(tmp_path / "work")
    signed = commit_signed(copy, "replicas: 1", signing.alice)
    raw = run_git(["cat-file", "commit", signed], copy.path)
    tampered = subprocess.run(
        ["git", "hash-object", "-t", "commit", "-w", "--stdin"],
        cwd=copy.path,
        input=raw.replace("replicas: 1", "replicas: 9"),
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    run_git(["update-ref", "refs/heads/main", tampered], copy.path)
    copy.push()
    resolved, checked_out = fetch(git_repo, GitRef(branch="main"), tmp_path / "dest")

    with pytest.raises(KeyMismatch) as raised:
        verify_checkout(
            "HEAD", GitRef(branch="main"), resolved, checked_out, trusted, git_repo.git_url
        )

    assert checked_out.commit == tampered
    assert str(raised.value).startswith(
        f"the signature of commit {tampered} of {git_repo.git_url} by key "
        f"{signing.alice.signing_key} does not verify"
    )
