"""Cosign's simple-signing payload and the signatures over it, without a registry.

COSIGN_PAYLOAD and COSIGN_SIGNATURE were pushed by ``cosign sign --key`` (cosign 2.4.3)
with the key of test_cosign_keys.py, for the artifact COSIGN_SIGNED_DIGEST.
"""

from __future__ import annotations

import base64

import nacl.bindings
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from lockstep.sources.cosign import (
    SigningKey,
    generate_key_pair,
    load_public_key,
    sign_payload,
    signature_tag,
    simple_signing_payload,
    verify_payload,
)
from unit.sources.test_cosign_keys import COSIGN_PUB

COSIGN_SIGNED_DIGEST = "sha256:53eb7ab672ff1161768f1907d5c362b6364a5dc1e1a7d1aaf7796ad326ea4d90"
COSIGN_PAYLOAD = (
    b'{"critical":{"identity":{"docker-reference":"127.0.0.1:33773/app"},"image":'
    b'{"docker-manifest-digest":"sha256:53eb7ab672ff1161768f1907d5c362b6364a5dc1e1a7d1aaf7796ad326ea4d90"},'
    b'"type":"cosign container image signature"},"optional":null}'
)
COSIGN_SIGNATURE = base64.b64decode(
    "MEYCIQDAWQG4w7jrUDHiM1rjvSAxQDMhXhLhmvtyoBgSAUx4EAIhAK5WwxpzhU0seWrfCarXDdOa62T/rcp76++Zn6wkrajX"
)

KEYS: dict[str, SigningKey] = {
    "p256": ec.generate_private_key(ec.SECP256R1()),
    "p384": ec.generate_private_key(ec.SECP384R1()),
    "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "ed25519": ed25519.Ed25519PrivateKey.generate(),
}


def test_the_payload_is_byte_for_byte_what_cosign_signs() -> None:
    payload = simple_signing_payload("127.0.0.1:33773/app", COSIGN_SIGNED_DIGEST)

    assert payload == COSIGN_PAYLOAD


def test_signatures_live_at_the_digest_tag() -> None:
    assert signature_tag("sha256:" + "ab" * 32) == f"sha256-{'ab' * 32}.sig"


def test_a_signature_made_by_cosign_verifies() -> None:
    key = load_public_key(COSIGN_PUB, "cosign.pub")

    assert verify_payload(key, COSIGN_PAYLOAD, COSIGN_SIGNATURE)
    assert not verify_payload(key, COSIGN_PAYLOAD.replace(b"33773", b"33774"), COSIGN_SIGNATURE)


@pytest.mark.parametrize("name", list(KEYS))
def test_signatures_verify_with_their_key_only(name: str) -> None:
    key = KEYS[name]
    payload = simple_signing_payload("registry.example/app", "sha256:" + "0" * 64)

    signature = sign_payload(key, payload)

    assert verify_payload(key.public_key(), payload, signature)
    assert not verify_payload(key.public_key(), payload + b" ", signature)
    assert not verify_payload(generate_key_pair(b"").private_key.public_key(), payload, signature)


def test_a_pre_hashed_ed25519_signature_also_verifies() -> None:
    key = KEYS["ed25519"]
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    payload = simple_signing_payload("registry.example/app", "sha256:" + "1" * 64)
    state = nacl.bindings.crypto_sign_ed25519ph_state()
    nacl.bindings.crypto_sign_ed25519ph_update(state, payload)
    secret = key.private_bytes_raw() + key.public_key().public_bytes_raw()

    signature = nacl.bindings.crypto_sign_ed25519ph_final_create(state, secret)

    assert verify_payload(key.public_key(), payload, signature)
    assert not verify_payload(key.public_key(), payload + b" ", signature)


def test_garbage_signatures_do_not_verify() -> None:
    payload = simple_signing_payload("registry.example/app", "sha256:" + "2" * 64)
    for key in KEYS.values():
        assert not verify_payload(key.public_key(), payload, b"\x00" * 3)
