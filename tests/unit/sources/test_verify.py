"""OpenPGP verification of Git objects, on raw commit and tag objects built here.

Keys and detached signatures come from pysequoia, which makes them in milliseconds; the
objects are laid out as Git writes them (``gpgsig`` header with space-led continuation
lines, a tag's signature after its message). tests/integration/test_git_verify.py checks
the same against commits and tags that git and gpg signed.
"""

from __future__ import annotations

from dataclasses import dataclass

import pysequoia
import pytest

from lockstep.sources.errors import InvalidRef, InvalidSecret, KeyMismatch, NotSigned
from lockstep.sources.git import CheckedOut
from lockstep.sources.refs import GitRef, ResolvedRef
from lockstep.sources.verify import (
    SignedPayload,
    TrustedKeys,
    Verified,
    split_commit_signature,
    split_tag_signature,
    tag_name,
    verify_checkout,
    verify_commit,
    verify_tag,
)

URL = "https://git.example/team/app.git"
COMMIT_ID = "3f786850e387550fdab836ed7e6dc881de23001b"
COMMIT = (
    b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
    b"author Alice <alice@lockstep.invalid> 1704067200 +0000\n"
    b"committer Alice <alice@lockstep.invalid> 1704067200 +0000\n"
    b"\n"
    b"deploy 1.0\n"
)
TAG = (
    b"object 3f786850e387550fdab836ed7e6dc881de23001b\n"
    b"type commit\n"
    b"tag v1.0.0\n"
    b"tagger Alice <alice@lockstep.invalid> 1704067200 +0000\n"
    b"\n"
    b"release 1.0.0\n"
)


@dataclass(frozen=True)
class Signer:
    key: pysequoia.Tsk

    @classmethod
    def generate(cls, user_id: str) -> Signer:
        return cls(pysequoia.Tsk.generate(user_id))

    @property
    def public_key(self) -> bytes:
        return str(self.key.extract_certificate()).encode()

    @property
    def fingerprint(self) -> str:
        return self.key.extract_certificate().fingerprint.upper()

    def sign(self, payload: bytes) -> bytes:
        return pysequoia.sign(self.key.signer(), payload, mode=pysequoia.SignatureMode.DETACHED)

    def sign_commit(self, commit: bytes) -> bytes:
        return with_gpgsig(commit, self.sign(commit))

    def sign_tag(self, tag: bytes) -> bytes:
        return tag + self.sign(tag)


def with_gpgsig(commit: bytes, signature: bytes) -> bytes:
    """`commit` with `signature` as its last header, continuation lines led by a space."""
    headers, _, message = commit.partition(b"\n\n")
    header = b"gpgsig " + b"\n ".join(signature.rstrip(b"\n").split(b"\n"))
    return headers + b"\n" + header + b"\n\n" + message


@pytest.fixture(scope="module")
def alice() -> Signer:
    return Signer.generate("Alice <alice@lockstep.invalid>")


@pytest.fixture(scope="module")
def mallory() -> Signer:
    return Signer.generate("Mallory <mallory@lockstep.invalid>")


@pytest.fixture(scope="module")
def keys(alice: Signer) -> TrustedKeys:
    return TrustedKeys.from_secret({"alice.asc": alice.public_key})


# --- keys from a Secret -------------------------------------------------------------


def test_every_entry_and_every_key_of_a_bundle_is_trusted(alice: Signer, mallory: Signer) -> None:
    carol = Signer.generate("Carol <carol@lockstep.invalid>")

    keys = TrustedKeys.from_secret(
        {"team.asc": alice.public_key + b"\n" + mallory.public_key, "carol.asc": carol.public_key}
    )

    assert keys.fingerprints == (carol.fingerprint, alice.fingerprint, mallory.fingerprint)


def test_an_entry_that_is_no_key_is_named(alice: Signer) -> None:
    data = {"alice.asc": alice.public_key, "notes.txt": b"not a key\n"}

    with pytest.raises(InvalidSecret) as raised:
        TrustedKeys.from_secret(data)

    message = str(raised.value)
    assert message.startswith("entry 'notes.txt' of the spec.verify.secretRef Secret")
    assert message.endswith("store the output of gpg --export --armor")
    assert "\n" not in message


def test_an_empty_entry_or_secret_is_refused(alice: Signer) -> None:
    with pytest.raises(InvalidSecret, match=r"entry 'empty' .* holds no OpenPGP public key"):
        TrustedKeys.from_secret({"alice.asc": alice.public_key, "empty": b""})
    with pytest.raises(InvalidSecret, match="has no entries"):
        TrustedKeys.from_secret({})


# --- where Git keeps signatures -------------------------------------------------------


def test_a_commit_splits_into_the_object_without_gpgsig_and_the_signature() -> None:
    signature = b"-----BEGIN PGP SIGNATURE-----\n\nwsBc\nAAAA\n=abcd\n-----END PGP SIGNATURE-----\n"
    signed = with_gpgsig(COMMIT, signature)

    assert b"\ngpgsig -----BEGIN PGP SIGNATURE-----\n \n wsBc\n" in signed
    assert split_commit_signature(signed) == SignedPayload(COMMIT, signature)


def test_other_multi_line_headers_stay_in_the_payload() -> None:
    mergetag = b"mergetag object 1234\n type commit\n tag v0.9\n"
    commit = COMMIT.replace(b"\n\n", b"\n" + mergetag.rstrip(b"\n") + b"\n\n", 1)
    signature = b"-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n"

    split = split_commit_signature(with_gpgsig(commit, signature))

    assert split == SignedPayload(commit, signature)


def test_a_commit_without_gpgsig_is_unsigned() -> None:
    assert split_commit_signature(COMMIT) is None
    assert split_commit_signature(COMMIT.replace(b"deploy", b"gpgsig in the message")) is None


def test_a_tag_splits_at_the_last_signature_in_its_message() -> None:
    quoted = TAG + b"-----BEGIN PGP SIGNATURE-----\nquoted in the message\n"
    signature = b"-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n"

    assert split_tag_signature(quoted + signature) == SignedPayload(quoted, signature)
    assert split_tag_signature(TAG) is None
    assert tag_name(TAG) == "v1.0.0"


# --- verifying ------------------------------------------------------------------------


def test_a_good_commit_signature_names_the_key_and_signer(alice: Signer, keys: TrustedKeys) -> None:
    verified = verify_commit(COMMIT_ID, alice.sign_commit(COMMIT), keys, URL)

    assert verified == Verified(
        f"commit {COMMIT_ID}", alice.fingerprint, "Alice <alice@lockstep.invalid>"
    )


def test_a_good_tag_signature(alice: Signer, keys: TrustedKeys) -> None:
    verified = verify_tag(alice.sign_tag(TAG), keys, URL)

    assert verified == Verified("tag v1.0.0", alice.fingerprint, "Alice <alice@lockstep.invalid>")


def test_an_unsigned_commit_fails_as_not_signed(keys: TrustedKeys) -> None:
    with pytest.raises(NotSigned) as raised:
        verify_commit(COMMIT_ID, COMMIT, keys, URL)

    assert str(raised.value) == (
        f"commit {COMMIT_ID} of {URL} is not signed; sign it with a key of the "
        "spec.verify.secretRef Secret or change spec.verify.mode"
    )


def test_a_signature_by_a_key_outside_the_secret_names_that_key(
    mallory: Signer, keys: TrustedKeys
) -> None:
    signed = mallory.sign_tag(TAG)
    split = split_tag_signature(signed)
    assert split is not None
    issuer = (pysequoia.Sig.from_bytes(split.signature).issuer_fingerprint or "").upper()

    with pytest.raises(KeyMismatch) as raised:
        verify_tag(signed, keys, URL)

    assert str(raised.value) == (
        f"tag v1.0.0 of {URL} is signed by key {issuer}, which is not in the "
        "spec.verify.secretRef Secret; add the signer's public key to the Secret"
    )


def test_a_commit_changed_after_signing_does_not_verify(alice: Signer, keys: TrustedKeys) -> None:
    tampered = alice.sign_commit(COMMIT).replace(b"deploy 1.0", b"deploy 6.6")

    with pytest.raises(KeyMismatch, match=f"signature of commit {COMMIT_ID} .* does not verify"):
        verify_commit(COMMIT_ID, tampered, keys, URL)


def test_an_ssh_signature_is_not_an_openpgp_one(keys: TrustedKeys) -> None:
    ssh_signed = with_gpgsig(
        COMMIT, b"-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n"
    )

    with pytest.raises(NotSigned, match="is signed with SSH, not OpenPGP"):
        verify_commit(COMMIT_ID, ssh_signed, keys, URL)


def test_the_url_is_shown_without_its_password(keys: TrustedKeys) -> None:
    with pytest.raises(NotSigned) as raised:
        verify_commit(COMMIT_ID, COMMIT, keys, "https://bot:s3cret@git.example/app.git")

    assert "s3cret" not in str(raised.value)
    assert "https://bot@git.example/app.git" in str(raised.value)


# --- modes ---------------------------------------------------------------------------


def checked_out(commit: bytes, tag: bytes | None) -> CheckedOut:
    return CheckedOut(COMMIT_ID, True, 3, commit_object=commit, tag_object=tag)


def at_tag(tag: str) -> ResolvedRef:
    return ResolvedRef(f"{tag}@sha1:{COMMIT_ID}", COMMIT_ID, f"refs/tags/{tag}", at_tip=True)


def test_each_mode_checks_its_objects(alice: Signer, keys: TrustedKeys) -> None:
    fetched = checked_out(alice.sign_commit(COMMIT), alice.sign_tag(TAG))
    ref, resolved = GitRef(semver="^1"), at_tag("v1.0.0")

    results = {
        mode: [v.subject for v in verify_checkout(mode, ref, resolved, fetched, keys, URL)]
        for mode in ("HEAD", "head", "Tag", "TagAndHEAD")
    }

    assert results == {
        "HEAD": [f"commit {COMMIT_ID}"],
        "head": [f"commit {COMMIT_ID}"],
        "Tag": ["tag v1.0.0"],
        "TagAndHEAD": ["tag v1.0.0", f"commit {COMMIT_ID}"],
    }


def test_tag_and_head_fails_on_an_unsigned_commit_under_a_signed_tag(
    alice: Signer, keys: TrustedKeys
) -> None:
    fetched = checked_out(COMMIT, alice.sign_tag(TAG))

    with pytest.raises(NotSigned, match=f"commit {COMMIT_ID} of {URL} is not signed"):
        verify_checkout("TagAndHEAD", GitRef(tag="v1.0.0"), at_tag("v1.0.0"), fetched, keys, URL)


def test_tag_mode_needs_a_tag_or_semver_ref(alice: Signer, keys: TrustedKeys) -> None:
    fetched = checked_out(alice.sign_commit(COMMIT), None)
    resolved = ResolvedRef(f"main@sha1:{COMMIT_ID}", COMMIT_ID, "refs/heads/main", at_tip=True)

    with pytest.raises(InvalidRef) as raised:
        verify_checkout("Tag", GitRef(branch="main"), resolved, fetched, keys, URL)

    assert str(raised.value) == (
        f"spec.verify.mode Tag for {URL} needs spec.ref.tag or spec.ref.semver, but branch main "
        "is checked out; set one or use mode HEAD"
    )


def test_a_lightweight_tag_cannot_satisfy_tag_mode(alice: Signer, keys: TrustedKeys) -> None:
    fetched = checked_out(alice.sign_commit(COMMIT), None)

    with pytest.raises(NotSigned, match=r"tag v1\.1\.0 of .* is a lightweight tag"):
        verify_checkout("Tag", GitRef(tag="v1.1.0"), at_tag("v1.1.0"), fetched, keys, URL)
