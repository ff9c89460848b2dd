"""OpenPGP signatures of Git commits and tags, checked as a GitRepository's ``spec.verify`` asks.

The GitRepository reconciler, for a ``spec.verify`` with a ``secretRef``, calls
`TrustedKeys.from_secret` on that Secret's data and then, after
:func:`lockstep.sources.git.checkout`, `verify_checkout` with the mode:

- ``HEAD`` (or the legacy ``head``): the checked-out commit must carry a good signature;
- ``Tag``: the annotated tag the ref resolved to must; only a ``spec.ref.tag`` or
  ``spec.ref.semver`` resolves to a tag, and a lightweight tag cannot be signed;
- ``TagAndHEAD``: both.

Each good signature gives a `Verified` (what, by which key, whose); anything else raises
:class:`lockstep.sources.errors.VerificationFailed` in one line that names the commit or
tag: `NotSigned` when there is no OpenPGP signature, `KeyMismatch` when the signing
key is not in the Secret or the signature does not verify with it. Every data entry of
the Secret holds one or more ASCII-armored public keys (``gpg --export --armor``).

Where Git keeps signatures, read by `split_commit_signature` and `split_tag_signature`:
a commit carries its signature in a ``gpgsig`` header whose continuation lines start
with a space, and what was signed is the commit object without that header; a tag
carries it at the end of its message, from the last line that begins an armored
signature, and what was signed is everything before it. These few lines are written
here, on the raw objects `checkout` keeps, because libgit2 extracts commit signatures
only, and reading both kinds the same way keeps them testable without a repository.

The OpenPGP part is Sequoia, through pysequoia. The choice, deliberately:

- pysequoia binds Sequoia-PGP, a maintained OpenPGP implementation in Rust, the one
  behind RPM's signature checks in Fedora and APT's in Debian 13. It ships type stubs
  (``py.typed``), so mypy strict checks every call, and manylinux wheels that need no
  system library; it verifies detached signatures in process under Sequoia's standard
  policy (the key alive and not revoked when it signed, no SHA-1) and reads armored
  key bundles.
- PGPy: last released in 2022, untyped, imports ``imghdr``, which Python 3.13
  removed, and uses cipher classes that cryptography has deprecated; PGPy13 is a
  stop-gap fork that keeps it importing.
- gpgv/gpg by subprocess, what Git itself runs, is the most widely deployed verifier,
  but needs GnuPG in the controller image, a temporary keyring per call (gpgv 2.2 reads
  no armored keys, so ``gpg --dearmor`` first), a process per object and parsing of
  ``--status-fd`` lines; pysequoia gives the same answers as data.

pysequoia reports every failed verification as one ``RuntimeError``, so which case
applies (unknown key, or a known key that does not verify) is decided here from the
issuer the signature names, before verifying with the certificates that hold it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pysequoia
from pysequoia.packet import PacketPile

from lockstep.api.source import GitVerificationMode
from lockstep.sources.credentials import redact_url
from lockstep.sources.errors import InvalidRef, InvalidSecret, KeyMismatch, NotSigned
from lockstep.sources.git import CheckedOut
from lockstep.sources.refs import GitRef, ResolvedRef

COMMIT_SIGNATURE_HEADER = b"gpgsig"
SIGNATURE_BEGIN_LINES = {
    b"-----BEGIN PGP SIGNATURE-----": "OpenPGP",
    b"-----BEGIN PGP MESSAGE-----": "OpenPGP",
    b"-----BEGIN SSH SIGNATURE-----": "SSH",
    b"-----BEGIN SIGNED MESSAGE-----": "X.509",
}
"""How the signatures Git knows (``gpg.format``) begin, as Git tells them; only OpenPGP is verified."""

_VERIFIES_HEAD = frozenset({"head", "HEAD", "TagAndHEAD"})
_VERIFIES_TAG = frozenset({"Tag", "TagAndHEAD"})


@dataclass(frozen=True)
class Verified:
    """A signature that checked out."""

    subject: str
    """What was signed, for messages: ``commit <hex>`` or ``tag v1.0.0``."""

    fingerprint: str
    """Fingerprint of the signing certificate's primary key, upper-case hex as gpg prints it."""

    signer: str
    """The certificate's first user ID, such as ``Alice <alice@example.com>``; empty if none."""


@dataclass(frozen=True)
class SignedPayload:
    """A Git object split into the bytes that were signed and the signature over them."""

    payload: bytes
    signature: bytes


class TrustedKeys:
    """The OpenPGP certificates of a Secret, found by the key a signature names."""

    def __init__(self, certificates: Sequence[pysequoia.Cert]) -> None:
        self._certificates = tuple(certificates)
        self._by_key: dict[str, list[pysequoia.Cert]] = {}
        for certificate in self._certificates:
            # Signatures name the signing key, often a subkey, by fingerprint or key ID.
            for packet in PacketPile.from_bytes(bytes(certificate)):
                for name in (packet.fingerprint, packet.key_id):
                    if name is not None:
                        self._by_key.setdefault(name.lower(), []).append(certificate)

    @classmethod
    def from_secret(cls, data: Mapping[str, bytes]) -> TrustedKeys:
        """The keys in every entry of a Secret's `data`; raises `InvalidSecret` naming a bad one."""
        certificates: list[pysequoia.Cert] = []
        for entry, value in sorted(data.items()):
            try:
                found = pysequoia.Cert.split_bytes(value)
            except RuntimeError as error:
                raise InvalidSecret(
                    f"entry {entry!r} of the spec.verify.secretRef Secret is not OpenPGP public "
                    f"key data ({_first_line(error)}); store the output of gpg --export --armor"
                ) from error
            if not found:
                raise InvalidSecret(
                    f"entry {entry!r} of the spec.verify.secretRef Secret holds no OpenPGP "
                    "public key; store the output of gpg --export --armor"
                )
            certificates.extend(found)
        if not certificates:
            raise InvalidSecret(
                "the spec.verify.secretRef Secret has no entries; add the signers' public keys"
            )
        return cls(certificates)

    @property
    def fingerprints(self) -> tuple[str, ...]:
        """Primary key fingerprints of the certificates, upper-case hex, in Secret order."""
        return tuple(certificate.fingerprint.upper() for certificate in self._certificates)

    def holding(self, signature: pysequoia.Sig) -> list[pysequoia.Cert]:
        """The certificates holding the key that made `signature`; all if it names none."""
        issuer = signature.issuer_fingerprint or signature.issuer_key_id
        if issuer is None:
            return list(self._certificates)
        return list(self._by_key.get(issuer.lower(), []))


def verify_checkout(
    mode: GitVerificationMode,
    ref: GitRef,
    resolved: ResolvedRef,
    checked_out: CheckedOut,
    keys: TrustedKeys,
    url: str,
) -> tuple[Verified, ...]:
    """Check the signatures `mode` asks for on what `checkout` fetched for `ref` from `url`.

    The tag, when asked for, is checked before the commit it names.
    """
    verified: list[Verified] = []
    if mode in _VERIFIES_TAG:
        if ref.commit or ref.name or not (ref.semver or ref.tag):
            raise InvalidRef(
                f"spec.verify.mode {mode} for {redact_url(url)} needs spec.ref.tag or "
                f"spec.ref.semver, but {ref.describe()} is checked out; set one or use mode HEAD"
            )
        if checked_out.tag_object is None:
            tag = resolved.revision.rpartition("@")[0]
            raise NotSigned(
                f"tag {tag} of {redact_url(url)} is a lightweight tag, which cannot be signed; "
                "push a signed annotated tag (git tag -s) or use spec.verify.mode HEAD"
            )
        verified.append(verify_tag(checked_out.tag_object, keys, url))
    if mode in _VERIFIES_HEAD:
        verified.append(verify_commit(checked_out.commit, checked_out.commit_object, keys, url))
    return tuple(verified)


def verify_commit(commit_id: str, commit_object: bytes, keys: TrustedKeys, url: str) -> Verified:
    """Check the signature of the raw commit `commit_object` (with id `commit_id`) of `url`."""
    return _verify(f"commit {commit_id}", split_commit_signature(commit_object), keys, url)


def verify_tag(tag_object: bytes, keys: TrustedKeys, url: str) -> Verified:
    """Check the signature of the raw annotated tag `tag_object` of `url`."""
    return _verify(f"tag {tag_name(tag_object)}", split_tag_signature(tag_object), keys, url)


def split_commit_signature(commit_object: bytes) -> SignedPayload | None:
    """The signed bytes and the ``gpgsig`` header's signature of a raw commit; None if unsigned."""
    headers, blank, message = commit_object.partition(b"\n\n")
    kept: list[bytes] = []
    signature: list[bytes] = []
    in_signature = False
    for line in headers.split(b"\n"):
        name, _, value = line.partition(b" ")
        if name == COMMIT_SIGNATURE_HEADER:
            in_signature = True
            signature.append(value)
        elif in_signature and line.startswith(b" "):
            signature.append(line[1:])  # continuation line of the header
        else:
            in_signature = False
            kept.append(line)
    if not signature:
        return None
    payload = b"\n".join(kept) + blank + message
    return SignedPayload(payload, b"\n".join(signature) + b"\n")


def split_tag_signature(tag_object: bytes) -> SignedPayload | None:
    """The signed bytes and the signature appended to a raw annotated tag; None if unsigned."""
    headers_end = tag_object.find(b"\n\n")
    position = len(tag_object) if headers_end < 0 else headers_end + 2
    start = None
    for line in tag_object[position:].splitlines(keepends=True):
        if _signature_kind(line) is not None:
            start = position
        position += len(line)
    if start is None:
        return None
    return SignedPayload(tag_object[:start], tag_object[start:])


def tag_name(tag_object: bytes) -> str:
    """The name a raw annotated tag gives itself in its ``tag`` header."""
    headers = tag_object.partition(b"\n\n")[0]
    for line in headers.split(b"\n"):
        name, _, value = line.partition(b" ")
        if name == b"tag":
            return value.decode("utf-8", errors="replace")
    return "(unnamed)"


def _verify(subject: str, signed: SignedPayload | None, keys: TrustedKeys, url: str) -> Verified:
    shown = f"{subject} of {redact_url(url)}"
    if signed is None:
        raise NotSigned(
            f"{shown} is not signed; sign it with a key of the spec.verify.secretRef Secret "
            "or change spec.verify.mode"
        )
    kind = _signature_kind(signed.signature)
    if kind != "OpenPGP":
        raise NotSigned(
            f"{shown} is signed with {kind or 'an unknown format'}, not OpenPGP; "
            "sign it with gpg (gpg.format openpgp)"
        )
    try:
        signature = pysequoia.Sig.from_bytes(signed.signature)
    except RuntimeError as error:
        raise KeyMismatch(
            f"{shown} has an unreadable OpenPGP signature ({_first_line(error)}); sign it again"
        ) from error
    candidates = keys.holding(signature)
    signing_key = (signature.issuer_fingerprint or signature.issuer_key_id or "unnamed").upper()
    if not candidates:
        raise KeyMismatch(
            f"{shown} is signed by key {signing_key}, which is not in the spec.verify.secretRef "
            "Secret; add the signer's public key to the Secret"
        )
    signer = next((cert for cert in candidates if _verifies(signed, signature, cert)), None)
    if signer is None:
        raise KeyMismatch(
            f"the signature of {shown} by key {signing_key} does not verify: the content changed "
            "after signing, or the key had expired or was revoked when it signed"
        )
    user_ids = signer.user_ids
    return Verified(subject, signer.fingerprint.upper(), str(user_ids[0]) if user_ids else "")


def _verifies(signed: SignedPayload, signature: pysequoia.Sig, cert: pysequoia.Cert) -> bool:
    """Whether `signature` over `signed.payload` verifies with `cert` under Sequoia's policy."""
    try:
        pysequoia.verify(bytes=signed.payload, store=lambda _key_ids: [cert], signature=signature)
    except RuntimeError:
        return False  # pysequoia tells no more than "no valid signatures found"
    return True


def _signature_kind(text: bytes) -> str | None:
    """Which kind of signature `text` begins with, if any."""
    return next(
        (kind for begin, kind in SIGNATURE_BEGIN_LINES.items() if text.startswith(begin)), None
    )


def _first_line(error: BaseException) -> str:
    """The message of a pysequoia error without the Rust backtrace it may carry."""
    return str(error).strip().split("\n", 1)[0]
