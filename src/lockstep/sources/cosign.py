"""Cosign key-based signatures of OCI artifacts: verify them, make them, read cosign key files.

The OCIRepository reconciler calls, for ``spec.verify.provider: cosign`` with a
``secretRef``, `public_keys_from_secret` on the Secret's data and then `verify_cosign`
on the artifact that :func:`lockstep.sources.oci.resolve_oci` resolved. The signing side
(`sign_artifact`, `generate_key_pair`, `load_private_key`) serves tests and the CLI.

What ``cosign sign --key`` stores, and what is read and written here:

- a manifest (OCI image manifest, config ``application/vnd.oci.image.config.v1+json``)
  at tag ``sha256-<hex of the artifact's manifest digest>.sig`` in the same repository;
- per signature one layer of media type ``application/vnd.dev.cosign.simplesigning.v1+json``
  whose blob is the "simple signing" payload, compact JSON naming the repository and
  the signed manifest digest, and whose annotation ``dev.cosignproject.cosign/signature``
  holds the base64 signature of the payload bytes: ECDSA (ASN.1 DER, SHA-256 for P-256,
  cosign's default keys), RSA PKCS#1 v1.5 with SHA-256, or Ed25519. cosign 2.4 signs
  and verifies plain Ed25519, and so does this module; the pre-hashed Ed25519ph that
  later cosign versions sign key-file signatures with is accepted too.

Verification passes when one signature verifies with one of the keys and its payload
names the artifact's digest. Otherwise it fails saying which way: `NotSigned` (no
signature tag), `KeyMismatch` (no signature verifies with the keys) or
`PayloadMismatch` (a valid signature made for another digest: copied or tampered).
Transparency-log bundles that cosign may add as annotations are not checked, as with
``cosign verify --insecure-ignore-tlog``.

Key files are cosign's: the public key is a PEM ``PUBLIC KEY``; the private key is a PEM
block ``ENCRYPTED SIGSTORE PRIVATE KEY`` (``ENCRYPTED COSIGN PRIVATE KEY`` from older
versions) holding JSON: scrypt parameters and salt, a NaCl secretbox nonce and the
ciphertext of the PKCS#8 DER key, binary fields in base64. Unencrypted PKCS#8, EC and
RSA PEM private keys, which ``cosign import-key-pair`` takes, load too.

Why hand-written: sigstore-python signs and verifies Sigstore bundles with keyless
identities; no Python library reads cosign's key files or checks the signature images
that ``cosign sign --key`` pushes. This module uses ``cryptography`` for keys,
signatures and scrypt, and PyNaCl for the secretbox and Ed25519ph, which
``cryptography`` lacks.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import nacl.bindings
import nacl.exceptions
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from lockstep.sources.errors import (
    InvalidSecret,
    KeyMismatch,
    NotSigned,
    PayloadMismatch,
    RefNotFound,
)
from lockstep.sources.oci import ResolvedArtifact
from lockstep.sources.registry_client import (
    OCI_MANIFEST,
    Descriptor,
    RegistryClient,
    RegistryOptions,
    default_registry_options,
    parse_oci_url,
)

SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
SIGNATURE_TYPE = "cosign container image signature"
OCI_CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
SIGSTORE_KEY_PEM_TYPE = "ENCRYPTED SIGSTORE PRIVATE KEY"
COSIGN_KEY_PEM_TYPE = "ENCRYPTED COSIGN PRIVATE KEY"
PUBLIC_KEY_SUFFIX = ".pub"
"""Keys of the verification Secret that hold public keys."""

MAX_PAYLOAD_BYTES = 1024 * 1024
"""Payloads are a few hundred bytes; a larger blob is not read."""

SCRYPT_PARAMETERS = (
    {"N": 32768, "r": 8, "p": 1},
    {"N": 65536, "r": 8, "p": 1},
    {"N": 131072, "r": 8, "p": 1},
)
"""The scrypt settings cosign's key files use; others are refused, as cosign does, so that
a crafted file cannot make loading it cost unbounded memory and time."""

WRITTEN_SCRYPT_PARAMETERS = SCRYPT_PARAMETERS[1]
"""What cosign writes today."""

_ZERO_TIME = "0001-01-01T00:00:00Z"
"""The creation time cosign leaves in a signature image's config: Go's zero time."""

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)\s*-----END \1-----", re.DOTALL)
_UNENCRYPTED_PEM_TYPES = frozenset({"PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"})

SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
VerifyingKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


@dataclass(frozen=True)
class Verified:
    """A signature of the artifact verified: with which key of the Secret, in which layer."""

    key_name: str
    signature_layer: str
    """Digest of the payload layer whose signature verified."""


@dataclass(frozen=True)
class CosignKeyPair:
    """A key pair and its files as ``cosign generate-key-pair`` writes them."""

    private_key: SigningKey
    private_pem: bytes
    """The content of ``cosign.key``, encrypted with the password."""

    public_pem: bytes
    """The content of ``cosign.pub``."""


def signature_tag(manifest_digest: str) -> str:
    """The tag cosign stores the signatures of `manifest_digest` under."""
    algorithm, _, hex_digest = manifest_digest.partition(":")
    return f"{algorithm}-{hex_digest}.sig"


def simple_signing_payload(docker_reference: str, manifest_digest: str) -> bytes:
    """The payload cosign signs: compact JSON in its field order, no optional claims."""
    payload = {
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": manifest_digest},
            "type": SIGNATURE_TYPE,
        },
        "optional": None,
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def sign_payload(key: SigningKey, payload: bytes) -> bytes:
    """The signature cosign makes of `payload` with `key`."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(payload, ec.ECDSA(_curve_hash(key.curve)))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(payload, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(payload)


def verify_payload(key: VerifyingKey, payload: bytes, signature: bytes) -> bool:
    """Whether `signature` is one that cosign would accept for `payload` under `key`."""
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, payload, ec.ECDSA(_curve_hash(key.curve)))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())
        else:
            return _verify_ed25519(key, payload, signature)
    except InvalidSignature:
        return False
    return True


def public_keys_from_secret(data: Mapping[str, bytes]) -> dict[str, VerifyingKey]:
    """The public keys of the verification Secret: every key whose name ends in ``.pub``."""
    keys = {
        name: load_public_key(value, f"{name} of spec.verify.secretRef")
        for name, value in sorted(data.items())
        if name.endswith(PUBLIC_KEY_SUFFIX)
    }
    if not keys:
        raise InvalidSecret(
            "the Secret of spec.verify.secretRef holds no public key; add cosign.pub "
            "(any key ending in .pub) with the PEM public key"
        )
    return keys


def verify_cosign(
    resolved: ResolvedArtifact,
    keys: Mapping[str, VerifyingKey],
    options: RegistryOptions | None = None,
) -> Verified:
    """Check that a signature of `resolved` verifies with one of `keys` (name → key)."""
    tag = signature_tag(resolved.digest)
    subject = f"{resolved.url} {resolved.revision}"
    with RegistryClient(resolved.location, options or default_registry_options()) as client:
        try:
            manifest = client.get_manifest(tag, f"signature tag {tag}")
        except RefNotFound as error:
            raise NotSigned(
                f"{subject} is unsigned: no cosign signature at tag {tag}; sign it with "
                "'cosign sign --key' or remove spec.verify"
            ) from error
        signed_elsewhere: str | None = None
        for layer in manifest.layers:
            signature = _layer_signature(layer)
            if signature is None:
                continue
            payload = client.read_blob(
                layer, MAX_PAYLOAD_BYTES, f"signature payload {layer.digest}"
            )
            for name, key in keys.items():
                if verify_payload(key, payload, signature):
                    signed = _signed_digest(payload)
                    if signed == resolved.digest:
                        return Verified(name, layer.digest)
                    signed_elsewhere = signed
    if signed_elsewhere is not None:
        raise PayloadMismatch(
            f"{subject}: the signature at tag {tag} verifies but was made for "
            f"{signed_elsewhere}, not this artifact: it was copied or tampered with; "
            "sign the artifact itself"
        )
    raise KeyMismatch(
        f"{subject}: no signature at tag {tag} verifies with the keys "
        f"{', '.join(keys)} of spec.verify.secretRef; sign with the matching private key "
        "or add its public key to the Secret"
    )


def sign_artifact(
    registry: str,
    repository: str,
    manifest_digest: str,
    private_key: SigningKey,
    options: RegistryOptions | None = None,
) -> str:
    """Sign as ``cosign sign --key --tlog-upload=false`` does; returns the signature's digest.

    Signatures already at the tag are kept and the new one appended, unless one of them
    already verifies with `private_key` for the same payload.
    """
    location = parse_oci_url(f"oci://{registry}/{repository}")
    payload = simple_signing_payload(f"{location.registry}/{location.repository}", manifest_digest)
    public_key = private_key.public_key()
    tag = signature_tag(manifest_digest)
    with RegistryClient(location, options or default_registry_options(), push=True) as client:
        client.manifest_digest(manifest_digest, f"digest {manifest_digest}")
        try:
            existing = client.get_manifest(tag, f"signature tag {tag}")
        except RefNotFound:
            layers: list[Descriptor] = []
        else:
            layers = list(existing.layers)
            for layer in layers:
                signature = _layer_signature(layer)
                if signature is not None and verify_payload(public_key, payload, signature):
                    return existing.digest
        blob = client.push_blob(payload, SIMPLE_SIGNING_MEDIA_TYPE, "signature payload")
        annotations = {SIGNATURE_ANNOTATION: _b64(sign_payload(private_key, payload))}
        layers.append(Descriptor(blob.media_type, blob.digest, blob.size, annotations))
        config = client.push_blob(
            _signature_config(layers), OCI_CONFIG_MEDIA_TYPE, "signature config"
        )
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config.to_json(),
            "layers": [layer.to_json() for layer in layers],
        }
        raw = json.dumps(manifest, separators=(",", ":")).encode()
        return client.push_manifest(tag, raw, OCI_MANIFEST, f"signature tag {tag}")


def generate_key_pair(password: bytes) -> CosignKeyPair:
    """A new ECDSA P-256 key pair, cosign's default, with its files."""
    key = ec.generate_private_key(ec.SECP256R1())
    return CosignKeyPair(key, encrypt_private_key(key, password), public_key_pem(key))


def encrypt_private_key(key: SigningKey, password: bytes) -> bytes:
    """`key` as a cosign private key file encrypted with `password` (which may be empty)."""
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    salt, nonce = os.urandom(32), os.urandom(nacl.bindings.crypto_secretbox_NONCEBYTES)
    box_key = _scrypt(password, salt, WRITTEN_SCRYPT_PARAMETERS)
    sealed = {
        "kdf": {"name": "scrypt", "params": WRITTEN_SCRYPT_PARAMETERS, "salt": _b64(salt)},
        "cipher": {"name": "nacl/secretbox", "nonce": _b64(nonce)},
        "ciphertext": _b64(nacl.bindings.crypto_secretbox_easy(der, nonce, box_key)),
    }
    return _pem(SIGSTORE_KEY_PEM_TYPE, json.dumps(sealed, separators=(",", ":")).encode())


def load_private_key(pem: bytes, password: bytes) -> SigningKey:
    """A private key from a cosign key file, or from an unencrypted PEM private key."""
    block_type, body = _pem_block(pem, "the private key")
    if block_type in _UNENCRYPTED_PEM_TYPES:
        key = _loaded(lambda: serialization.load_pem_private_key(pem, None), "the private key")
    elif block_type in (SIGSTORE_KEY_PEM_TYPE, COSIGN_KEY_PEM_TYPE):
        der = _decrypt(body, password)
        key = _loaded(lambda: serialization.load_der_private_key(der, None), "the private key")
    else:
        raise InvalidSecret(
            f"the private key is a PEM {block_type!r} block; give a cosign key file "
            "(ENCRYPTED SIGSTORE PRIVATE KEY) or an unencrypted PKCS#8, EC or RSA key"
        )
    if not isinstance(key, SigningKey):
        raise InvalidSecret("the private key is not ECDSA, RSA or Ed25519, which cosign signs with")
    return key


def load_public_key(pem: bytes, what: str) -> VerifyingKey:
    """A PEM ``PUBLIC KEY``; `what` names it in messages, as ``cosign.pub of the Secret``."""
    key = _loaded(lambda: serialization.load_pem_public_key(pem), what)
    if not isinstance(key, VerifyingKey):
        raise InvalidSecret(f"{what} is not an ECDSA, RSA or Ed25519 public key; use a cosign key")
    return key


def public_key_pem(key: SigningKey) -> bytes:
    """The public half of `key` as cosign writes ``cosign.pub``."""
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _curve_hash(curve: ec.EllipticCurve) -> hashes.HashAlgorithm:
    """The digest sigstore pairs with each curve: SHA-256 for P-256, cosign's default."""
    if isinstance(curve, ec.SECP384R1):
        return hashes.SHA384()
    if isinstance(curve, ec.SECP521R1):
        return hashes.SHA512()
    return hashes.SHA256()


def _verify_ed25519(key: ed25519.Ed25519PublicKey, payload: bytes, signature: bytes) -> bool:
    """Plain Ed25519, as cosign 2.4 signs, or Ed25519ph, as later versions sign with key files."""
    try:
        key.verify(signature, payload)
        return True
    except InvalidSignature:
        pass
    if len(signature) != nacl.bindings.crypto_sign_BYTES:
        return False
    state = nacl.bindings.crypto_sign_ed25519ph_state()
    nacl.bindings.crypto_sign_ed25519ph_update(state, payload)
    try:
        return nacl.bindings.crypto_sign_ed25519ph_final_verify(
            state, signature, key.public_bytes_raw()
        )
    except nacl.exceptions.BadSignatureError:
        return False


def _layer_signature(layer: Descriptor) -> bytes | None:
    """The decoded signature of a simple-signing layer; None for any other layer."""
    encoded = layer.annotations.get(SIGNATURE_ANNOTATION)
    if layer.media_type != SIMPLE_SIGNING_MEDIA_TYPE or not encoded:
        return None
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error:
        return None


def _signed_digest(payload: bytes) -> str:
    """The manifest digest a verified payload names; a description when it names none."""
    try:
        critical = json.loads(payload)["critical"]
        if critical["type"] == SIGNATURE_TYPE:
            return str(critical["image"]["docker-manifest-digest"])
    except (ValueError, LookupError, TypeError):
        pass
    return "an unreadable payload"


def _signature_config(layers: list[Descriptor]) -> bytes:
    """The image config cosign writes for its signature image: one history entry per layer."""
    config = {
        "architecture": "",
        "created": _ZERO_TIME,
        "history": [{"created": _ZERO_TIME} for _ in layers],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": [layer.digest for layer in layers]},
        "config": {},
    }
    return json.dumps(config, separators=(",", ":")).encode()


def _decrypt(body: bytes, password: bytes) -> bytes:
    try:
        sealed = json.loads(body)
        kdf, cipher = sealed["kdf"], sealed["cipher"]
        params = {name: kdf["params"][name] for name in ("N", "r", "p")}
        salt, nonce = base64.b64decode(kdf["salt"]), base64.b64decode(cipher["nonce"])
        ciphertext = base64.b64decode(sealed["ciphertext"])
        names = (kdf["name"], cipher["name"])
    except (ValueError, LookupError, TypeError, binascii.Error) as error:
        raise InvalidSecret(
            "the cosign private key is not valid JSON with kdf, cipher and ciphertext; "
            "regenerate it with cosign generate-key-pair"
        ) from error
    if names != ("scrypt", "nacl/secretbox") or params not in SCRYPT_PARAMETERS:
        raise InvalidSecret(
            f"the cosign private key uses {names[0]} {params} and {names[1]}, which cosign "
            "does not write; regenerate it with cosign generate-key-pair"
        )
    try:
        return nacl.bindings.crypto_secretbox_open_easy(
            ciphertext, nonce, _scrypt(password, salt, params)
        )
    except (nacl.exceptions.CryptoError, ValueError) as error:
        raise InvalidSecret(
            "the cosign private key does not open with the password given; give the password "
            "it was created with (COSIGN_PASSWORD)"
        ) from error


def _scrypt(password: bytes, salt: bytes, params: Mapping[str, int]) -> bytes:
    return Scrypt(salt=salt, length=32, n=params["N"], r=params["r"], p=params["p"]).derive(
        password
    )


def _pem_block(pem: bytes, what: str) -> tuple[str, bytes]:
    match = _PEM_BLOCK.search(pem)
    if match is None:
        raise InvalidSecret(f"{what} is not PEM (no -----BEGIN ...----- block)")
    try:
        return match[1].decode("ascii"), base64.b64decode(b"".join(match[2].split()), validate=True)
    except binascii.Error as error:
        raise InvalidSecret(f"{what} has a PEM block that is not base64") from error


def _pem(block_type: str, body: bytes) -> bytes:
    """A PEM block with 64-character lines, as Go's encoding/pem writes it."""
    encoded = base64.b64encode(body).decode("ascii")
    lines = [encoded[start : start + 64] for start in range(0, len(encoded), 64)]
    return "\n".join(
        [f"-----BEGIN {block_type}-----", *lines, f"-----END {block_type}-----", ""]
    ).encode()


def _loaded(load: Callable[[], object], what: str) -> object:
    """Run a ``cryptography`` loader, turning its complaints into `InvalidSecret`."""
    try:
        return load()
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise InvalidSecret(
            f"{what} cannot be read as a PEM key ({error}); use a cosign key"
        ) from error


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
