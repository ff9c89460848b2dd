"""Rendering a Kustomization: decryption.serviceAccountName is accepted, and a decryption
that fails with it set says that cloud KMS identities are not supported yet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lockstep.api.kustomize import Kustomization
from lockstep.controllers.kustomize.build import render_objects
from lockstep.controllers.kustomize.inputs import BuildInputs
from lockstep.render.errors import DecryptionFailed
from unit.render.test_decryption import FLUX_REGEX, PASSWORD, encrypt, new_key, secret_yaml


def kustomization(decryption: dict[str, Any]) -> Kustomization:
    return Kustomization.model_validate(
        {
            "metadata": {"name": "apps", "namespace": "ns"},
            "spec": {
                "interval": "1m",
                "prune": True,
                "sourceRef": {"kind": "GitRepository", "name": "repo"},
                "decryption": decryption,
            },
        }
    )


@pytest.fixture
def encrypted_app(tmp_path: Path) -> Path:
    key = new_key()
    secret = encrypt(
        secret_yaml("stringData", PASSWORD),
        "s.yaml",
        key.recipient,
        "--encrypted-regex",
        FLUX_REGEX,
    )
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "secret.yaml").write_bytes(secret)
    return tmp_path


def test_a_failed_decryption_names_the_unsupported_cloud_identity(encrypted_app: Path) -> None:
    spec = kustomization({"provider": "sops", "serviceAccountName": "kms-reader"})

    with pytest.raises(DecryptionFailed) as caught:
        render_objects(spec, encrypted_app, "app", BuildInputs())

    message = str(caught.value)
    assert message.startswith("Secret/apps/db-credentials is SOPS-encrypted but no age keys")
    assert message.endswith(
        "(decryption.serviceAccountName kms-reader: decrypting with a cloud KMS identity is "
        "not supported yet; give age keys in decryption.secretRef)"
    )
    assert PASSWORD not in message


def test_without_service_account_the_message_is_the_renderer_s(encrypted_app: Path) -> None:
    with pytest.raises(DecryptionFailed) as caught:
        render_objects(kustomization({"provider": "sops"}), encrypted_app, "app", BuildInputs())

    assert "serviceAccountName" not in str(caught.value)
