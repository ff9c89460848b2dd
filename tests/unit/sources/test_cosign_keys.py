"""Cosign's key files: those cosign writes load, and those written here load back.

COSIGN_KEY and COSIGN_PUB were written by ``cosign generate-key-pair`` (cosign 2.4.3,
COSIGN_PASSWORD=pw) for these tests.
"""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from lockstep.sources.cosign import (
    COSIGN_KEY_PEM_TYPE,
    SIGSTORE_KEY_PEM_TYPE,
    SigningKey,
    encrypt_private_key,
    generate_key_pair,
    load_private_key,
    load_public_key,
    public_key_pem,
    public_keys_from_secret,
)
from lockstep.sources.errors import InvalidSecret

COSIGN_KEY = b"""-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----
eyJrZGYiOnsibmFtZSI6InNjcnlwdCIsInBhcmFtcyI6eyJOIjo2NTUzNiwiciI6
OCwicCI6MX0sInNhbHQiOiJmN0dUSloyNTNBejVlYzRiTGlFUWtYbnNJY01SY2Iw
TnlPcXJJdWc2eEZvPSJ9LCJjaXBoZXIiOnsibmFtZSI6Im5hY2wvc2VjcmV0Ym94
Iiwibm9uY2UiOiJGMmQ4NXRlUDhsR0NFRkNoZVJBSUNZTW5na3gvckxuWiJ9LCJj
aXBoZXJ0ZXh0IjoiQVk5VUNPL3RFSWFMSmd5eFIxdzl0a29qZlNqaUgwNWhwOVZY
emZpZHdGcC8rRE1kYmRNc2xXMUF1NFRFeUxNOUhZMGtnVnhlakFMbFYvVTRvejFJ
bk9Zb1RNQndQcExobW5NajgyZ0pPTmRXVUVTblFUdEg3QnpwaFZab1ZmblA1Q1FR
VHh2UW9mM2RBV0lTUm5HRmxMTnlpWGdFWW1iQ003MjNaT1huMmRUYkdQUFRsTTNv
Z2NHc0tZYVZPVkFVK1YyQ1FPS0ZjdFRDVVE9PSJ9
-----END ENCRYPTED SIGSTORE PRIVATE KEY-----
"""

COSIGN_PUB = b"""-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEoNXYzspIpLDOPWX4smYP3/zIG270
7Qk5TTD82xj31SXQJXLkJs+qjDsq54WWUdMSivMlBMCNJO47UAmveId2MA==
-----END PUBLIC KEY-----
"""


def pem_body(pem: bytes) -> dict[str, object]:
    lines = pem.decode().strip().splitlines()[1:-1]
    loaded: dict[str, object] = json.loads(base64.b64decode("".join(lines)))
    return loaded


def repem(block_type: str, body: dict[str, object]) -> bytes:
    encoded = base64.b64encode(json.dumps(body).encode()).decode()
    return f"-----BEGIN {block_type}-----\n{encoded}\n-----END {block_type}-----\n".encode()


def test_a_key_file_written_by_cosign_loads_with_its_password() -> None:
    key = load_private_key(COSIGN_KEY, b"pw")

    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert public_key_pem(key) == COSIGN_PUB


def test_the_older_cosign_block_type_loads_too() -> None:
    older = COSIGN_KEY.replace(SIGSTORE_KEY_PEM_TYPE.encode(), COSIGN_KEY_PEM_TYPE.encode())

    assert public_key_pem(load_private_key(older, b"pw")) == COSIGN_PUB


def test_a_generated_key_pair_is_cosign_s_default_and_round_trips() -> None:
    pair = generate_key_pair(b"secret")

    loaded = load_private_key(pair.private_pem, b"secret")

    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    assert isinstance(loaded.curve, ec.SECP256R1)
    assert loaded.private_numbers() == pair.private_key.private_numbers()  # type: ignore[union-attr]
    assert load_public_key(pair.public_pem, "cosign.pub").public_numbers() == (  # type: ignore[union-attr]
        loaded.public_key().public_numbers()
    )


def test_the_written_file_has_cosign_s_layout() -> None:
    pem = generate_key_pair(b"").private_pem
    lines = pem.decode().splitlines()

    body = pem_body(pem)

    assert lines[0] == f"-----BEGIN {SIGSTORE_KEY_PEM_TYPE}-----"
    assert lines[-1] == f"-----END {SIGSTORE_KEY_PEM_TYPE}-----"
    assert all(len(line) == 64 for line in lines[1:-2])
    assert list(body) == ["kdf", "cipher", "ciphertext"]
    assert body["kdf"] == {
        "name": "scrypt",
        "params": {"N": 65536, "r": 8, "p": 1},
        "salt": body["kdf"]["salt"],  # type: ignore[index]
    }
    assert body["cipher"]["name"] == "nacl/secretbox"  # type: ignore[index]
    assert len(base64.b64decode(body["cipher"]["nonce"])) == 24  # type: ignore[index]


@pytest.mark.parametrize(
    "key",
    [
        ed25519.Ed25519PrivateKey.generate(),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        ec.generate_private_key(ec.SECP384R1()),
    ],
    ids=["ed25519", "rsa", "p384"],
)
def test_other_key_types_round_trip(key: SigningKey) -> None:
    loaded = load_private_key(encrypt_private_key(key, b"pw"), b"pw")

    assert public_key_pem(loaded) == public_key_pem(key)


def test_unencrypted_pem_private_keys_load_as_cosign_import_key_pair_takes_them() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    for private_format in (
        serialization.PrivateFormat.PKCS8,
        serialization.PrivateFormat.TraditionalOpenSSL,
    ):
        pem = key.private_bytes(
            serialization.Encoding.PEM, private_format, serialization.NoEncryption()
        )
        assert public_key_pem(load_private_key(pem, b"")) == public_key_pem(key)


def test_a_wrong_password_is_named() -> None:
    with pytest.raises(InvalidSecret, match="does not open with the password"):
        load_private_key(COSIGN_KEY, b"not-pw")


def test_unknown_scrypt_parameters_are_refused_before_any_work() -> None:
    body = pem_body(COSIGN_KEY)
    body["kdf"]["params"]["N"] = 2**30  # type: ignore[index]

    with pytest.raises(InvalidSecret, match="which cosign does not write"):
        load_private_key(repem(SIGSTORE_KEY_PEM_TYPE, body), b"pw")


@pytest.mark.parametrize(
    ("pem", "complaint"),
    [
        (b"just text", "is not PEM"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "'CERTIFICATE' block"),
        (repem(SIGSTORE_KEY_PEM_TYPE, {"kdf": {}}), "not valid JSON with kdf"),
    ],
)
def test_unusable_private_key_files_say_what_they_are(pem: bytes, complaint: str) -> None:
    with pytest.raises(InvalidSecret, match=complaint):
        load_private_key(pem, b"pw")


def test_the_verification_secret_gives_every_pub_key_by_name() -> None:
    other = generate_key_pair(b"")
    data = {"cosign.pub": COSIGN_PUB, "team.pub": other.public_pem, "README": b"not a key"}

    keys = public_keys_from_secret(data)

    assert list(keys) == ["cosign.pub", "team.pub"]


def test_a_verification_secret_without_keys_or_with_a_bad_one_is_refused() -> None:
    with pytest.raises(InvalidSecret, match="holds no public key"):
        public_keys_from_secret({"cosign.key": COSIGN_KEY})
    with pytest.raises(
        InvalidSecret, match=r"cosign\.pub of spec\.verify\.secretRef cannot be read"
    ):
        public_keys_from_secret({"cosign.pub": b"garbage"})
