"""Rendering a Kustomization: decryption.serviceAccountName is accepted, and a decryption
that fails with it set says that cloud KMS identities are not supported yet; the build's
digest is Flux's (the sha256 of what Kustomize prints, after substitution and before
commonMetadata); commonMetadata is set on metadata only and not substituted."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lockstep.api.kustomize import Kustomization
from lockstep.controllers.kustomize.build import render_objects
from lockstep.controllers.kustomize.inputs import BuildInputs
from lockstep.render.errors import DecryptionFailed
from unit.render.test_decryption import FLUX_REGEX, PASSWORD, encrypt, new_key, secret_yaml
from unit.render.trees import DEPLOYMENT, config_map, write


def kustomization(decryption: dict[str, Any] | None = None, **spec: Any) -> Kustomization:
    return Kustomization.model_validate(
        {
            "metadata": {"name": "apps", "namespace": "ns"},
            "spec": {
                "interval": "1m",
                "prune": True,
                "sourceRef": {"kind": "GitRepository", "name": "repo"},
                **({"decryption": decryption} if decryption else {}),
                **spec,
            },
        }
    )


@pytest.fixture
def app(tmp_path: Path) -> Path:
    write(
        tmp_path,
        {
            "app/kustomization.yaml": "resources: [deploy.yaml, config.yaml]\n",
            "app/deploy.yaml": DEPLOYMENT,
            "app/config.yaml": config_map(
                "settings", mode="${mode:=base}", text="a long value " * 10, flag="yes"
            ),
        },
    )
    return tmp_path


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


def kustomize_printed(folder: Path) -> bytes:
    """What ``kubectl kustomize`` (Kustomize built apart from lockstep) prints for
    ``folder`` without a final reordering, as in Flux."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    kubectl = shutil.which("kubectl", path=search)
    assert kubectl is not None, "kubectl is installed with lockstep's dependencies"
    return subprocess.run(
        [kubectl, "kustomize", "--reorder", "none", str(folder)],
        capture_output=True,
        check=True,
    ).stdout


def test_the_digest_is_flux_s_the_sha256_of_what_kustomize_prints(app: Path) -> None:
    metadata = {"labels": {"team": "a"}, "annotations": {"owner": "ops"}}
    rendered = render_objects(kustomization(commonMetadata=metadata), app, "app", BuildInputs())

    printed = kustomize_printed(app / "app")
    assert rendered.digest == f"sha256:{hashlib.sha256(printed).hexdigest()}"
    assert all(obj["metadata"]["labels"]["team"] == "a" for obj in rendered.objects)
    kinds = [obj["kind"] for obj in rendered.objects]
    assert kinds == ["Deployment", "ConfigMap"], "in the kustomization's order, as Flux's"


def test_the_digest_is_taken_after_substitution(app: Path) -> None:
    plain = render_objects(kustomization(), app, "app", BuildInputs())
    substituted = render_objects(
        kustomization(), app, "app", BuildInputs(variables={"mode": "live"})
    )

    (app / "app" / "config.yaml").write_text(
        config_map("settings", mode="live", text="a long value " * 10, flag="yes")
    )
    printed = kustomize_printed(app / "app")
    assert substituted.digest == f"sha256:{hashlib.sha256(printed).hexdigest()}"
    assert substituted.digest != plain.digest


def test_common_metadata_is_set_on_metadata_only_and_not_substituted(app: Path) -> None:
    metadata = {"labels": {"app": "overridden", "mode": "${mode}"}, "annotations": {"o": "ops"}}
    rendered = render_objects(
        kustomization(commonMetadata=metadata),
        app,
        "app",
        BuildInputs(variables={"mode": "live"}),
    )

    for obj in rendered.objects:
        assert obj["metadata"]["labels"]["mode"] == "${mode}"
        assert obj["metadata"]["annotations"] == {"o": "ops"}
    deployment = next(obj for obj in rendered.objects if obj["kind"] == "Deployment")
    assert deployment["metadata"]["labels"]["app"] == "overridden"
    assert deployment["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    assert deployment["spec"]["template"]["metadata"] == {"labels": {"app": "web"}}
    config = next(obj for obj in rendered.objects if obj["kind"] == "ConfigMap")
    assert config["data"]["mode"] == "live"
