"""The OCIRepository controller: Flux-format artifacts by tag, semver and digest; cosign verify."""

from __future__ import annotations

import base64
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from ground.artifacts import artifact_files, condition
from ground.engine import Engine
from ground.oci import FILES, push
from ground.wait import eventually
from lockstep.dev.registry import OciRegistry
from lockstep.kube import KubeClient, ObjectRef
from lockstep.sources.cosign import generate_key_pair, sign_artifact
from lockstep.sources.oci import REVISION_ANNOTATION
from lockstep.sources.registry_client import RegistryOptions

pytestmark = pytest.mark.integration


def _oci_repository(namespace: str, repository: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "OCIRepository",
        "metadata": {"name": "app", "namespace": namespace},
        "spec": {"url": f"oci://{repository}", "interval": "1m", "insecure": True, **spec},
    }


REF = ObjectRef("source.toolkit.fluxcd.io/v1", "OCIRepository", "app", "")


async def _ready(kube: KubeClient, namespace: str) -> dict[str, Any]:
    ref = ObjectRef(REF.api_version, REF.kind, REF.name, namespace)
    return await eventually(
        lambda: kube.get(ref), lambda o: condition(o, "Ready").startswith("True"), what="Ready"
    )


async def _not_ready(kube: KubeClient, namespace: str) -> dict[str, Any]:
    ref = ObjectRef(REF.api_version, REF.kind, REF.name, namespace)
    return await eventually(
        lambda: kube.get(ref),
        lambda o: condition(o, "Ready").startswith("False"),
        what="Ready=False",
    )


async def test_tag_semver_and_digest_refs(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    oci_registry: OciRegistry,
    oci_repository: str,
    tmp_path: Path,
) -> None:
    first = push(oci_registry, oci_repository, "v1.0.0", tmp_path)
    second = push(
        oci_registry,
        oci_repository,
        "v1.2.0",
        tmp_path,
        files={**FILES, "extra.yaml": b"kind: Extra\n"},
    )
    push(oci_registry, oci_repository, "v2.0.0", tmp_path)

    await kube.apply(_oci_repository(namespace, oci_repository, ref={"tag": "v1.0.0"}))
    ready = await _ready(kube, namespace)
    artifact = ready["status"]["artifact"]
    assert artifact["revision"] == f"v1.0.0@{first}"
    assert artifact_files(artifact["url"]) == FILES
    assert artifact["metadata"][REVISION_ANNOTATION].startswith("main@sha1:")
    assert ready["status"]["url"] == artifact["url"]

    await kube.apply(_oci_repository(namespace, oci_repository, ref={"semver": ">=1.0.0 <2.0.0"}))
    moved = await eventually(
        lambda: kube.get(ObjectRef(REF.api_version, REF.kind, "app", namespace)),
        lambda o: o["status"]["artifact"]["revision"] == f"v1.2.0@{second}",
        what="semver artifact",
    )
    assert "extra.yaml" in artifact_files(moved["status"]["artifact"]["url"])

    await kube.apply(_oci_repository(namespace, oci_repository, ref={"digest": first}))
    await eventually(
        lambda: kube.get(ObjectRef(REF.api_version, REF.kind, "app", namespace)),
        lambda o: o["status"]["artifact"]["revision"] == first,
        what="digest artifact",
    )


async def test_a_copied_layer_is_the_artifact_itself(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    oci_registry: OciRegistry,
    oci_repository: str,
    tmp_path: Path,
) -> None:
    push(oci_registry, oci_repository, "v1.0.0", tmp_path)
    await kube.apply(
        _oci_repository(
            namespace, oci_repository, ref={"tag": "v1.0.0"}, layerSelector={"operation": "copy"}
        )
    )
    ready = await _ready(kube, namespace)
    artifact = ready["status"]["artifact"]
    # As Flux stores it: the layer's gzip tarball, not a tarball holding it.
    assert artifact_files(artifact["url"]) == FILES
    assert artifact["path"].endswith(".tar.gz")


async def test_unknown_tag_fails_clearly(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    oci_registry: OciRegistry,
    oci_repository: str,
    tmp_path: Path,
) -> None:
    push(oci_registry, oci_repository, "v1.0.0", tmp_path)
    await kube.apply(_oci_repository(namespace, oci_repository, ref={"tag": "v9.9.9"}))
    failed = await _not_ready(kube, namespace)
    assert "v9.9.9" in condition(failed, "Ready")
    assert "artifact" not in failed["status"]


async def _verification_secret(kube: KubeClient, namespace: str, public_pem: bytes) -> None:
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "cosign-pub", "namespace": namespace},
            "data": {"cosign.pub": base64.b64encode(public_pem).decode()},
        }
    )


async def test_cosign_signed_artifact_is_verified(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    oci_registry: OciRegistry,
    oci_repository: str,
    tmp_path: Path,
) -> None:
    digest = push(oci_registry, oci_repository, "v1.0.0", tmp_path)
    keys = generate_key_pair(b"pw")
    registry, repository = oci_repository.split("/", 1)
    sign_artifact(registry, repository, digest, keys.private_key, RegistryOptions(insecure=True))
    await _verification_secret(kube, namespace, keys.public_pem)
    await kube.apply(
        _oci_repository(
            namespace,
            oci_repository,
            ref={"tag": "v1.0.0"},
            verify={"provider": "cosign", "secretRef": {"name": "cosign-pub"}},
        )
    )
    ready = await _ready(kube, namespace)
    assert condition(ready, "SourceVerified").startswith(
        "True: verified signature of revision v1.0.0@"
    )


async def test_unsigned_and_wrongly_signed_artifacts_are_refused(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    oci_registry: OciRegistry,
    oci_repository: str,
    tmp_path: Path,
) -> None:
    digest = push(oci_registry, oci_repository, "v1.0.0", tmp_path)
    trusted, other = generate_key_pair(b"pw"), generate_key_pair(b"pw")
    await _verification_secret(kube, namespace, trusted.public_pem)
    await kube.apply(
        _oci_repository(
            namespace,
            oci_repository,
            ref={"tag": "v1.0.0"},
            verify={"provider": "cosign", "secretRef": {"name": "cosign-pub"}},
        )
    )
    unsigned = await _not_ready(kube, namespace)
    assert "unsigned" in condition(unsigned, "SourceVerified")
    assert condition(unsigned, "SourceVerified").startswith("False")
    assert "artifact" not in unsigned["status"]

    registry, repository = oci_repository.split("/", 1)
    sign_artifact(registry, repository, digest, other.private_key, RegistryOptions(insecure=True))
    mismatch = await eventually(
        lambda: kube.get(ObjectRef(REF.api_version, REF.kind, "app", namespace)),
        lambda o: "no signature at tag" in condition(o, "SourceVerified"),
        within=60,
        what="key mismatch reported",
    )
    assert "artifact" not in mismatch["status"]


async def test_tampered_signature_is_refused(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    oci_registry: OciRegistry,
    oci_repository: str,
    tmp_path: Path,
) -> None:
    signed = push(oci_registry, oci_repository, "v1.0.0", tmp_path)
    target = push(
        oci_registry,
        oci_repository,
        "v1.0.1",
        tmp_path,
        files={**FILES, "evil.yaml": b"kind: Evil\n"},
    )
    keys = generate_key_pair(b"pw")
    registry, repository = oci_repository.split("/", 1)
    sign_artifact(registry, repository, signed, keys.private_key, RegistryOptions(insecure=True))
    _copy_signature(oci_registry, repository, signed, target)
    await _verification_secret(kube, namespace, keys.public_pem)
    await kube.apply(
        _oci_repository(
            namespace,
            oci_repository,
            ref={"tag": "v1.0.1"},
            verify={"provider": "cosign", "secretRef": {"name": "cosign-pub"}},
        )
    )
    failed = await _not_ready(kube, namespace)
    assert "was made for" in condition(failed, "SourceVerified")
    assert "artifact" not in failed["status"]


def _copy_signature(registry: OciRegistry, repository: str, signed: str, target: str) -> None:
    """Put the signature of one artifact at the signature tag of another, as an attacker would."""
    accept = "application/vnd.oci.image.manifest.v1+json"
    source = f"{registry.url}/v2/{repository}/manifests/sha256-{signed.removeprefix('sha256:')}.sig"
    with urllib.request.urlopen(
        urllib.request.Request(source, headers={"Accept": accept}), timeout=10
    ) as response:
        manifest = response.read()
        media_type = response.headers["Content-Type"]
    destination = (
        f"{registry.url}/v2/{repository}/manifests/sha256-{target.removeprefix('sha256:')}.sig"
    )
    request = urllib.request.Request(
        destination, data=manifest, method="PUT", headers={"Content-Type": media_type}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
