"""The loopback OCI registry stores and serves Flux-style artifacts pushed with oras.

Covers a push and pull of a directory with Flux's media types, tag listing, manifest
digests (by tag and by digest), deletion, and that stopping frees the port.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import oras.provider
import pytest

from lockstep.dev.loopback import port_answers
from lockstep.dev.registry import OciRegistry

pytestmark = pytest.mark.integration

FLUX_CONTENT = "application/vnd.cncf.flux.content.v1.tar+gzip"
FLUX_CONFIG = "application/vnd.cncf.flux.config.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"

MANIFESTS = {
    "kustomization.yaml": b"resources:\n  - deployment.yaml\n",
    "deployment.yaml": b"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n",
}


def client_for(registry: OciRegistry) -> oras.provider.Registry:
    return oras.provider.Registry(hostname=registry.host, insecure=True)


def push_artifact(registry: OciRegistry, reference: str, tmp_path: Path) -> str:
    """Push MANIFESTS as a Flux artifact to `reference`; return the manifest digest."""
    source = tmp_path / "source" / "deploy"
    source.mkdir(parents=True, exist_ok=True)
    for name, content in MANIFESTS.items():
        (source / name).write_bytes(content)
    config = tmp_path / "source" / "config.json"
    config.write_text("{}")
    response = client_for(registry).push(
        target=reference,
        files=[f"{source}:{FLUX_CONTENT}"],
        manifest_config=f"{config}:{FLUX_CONFIG}",
        disable_path_validation=True,
        quiet=True,
    )
    digest: str = response.headers["Docker-Content-Digest"]
    return digest


def test_pulled_artifact_has_the_pushed_files_and_media_types(
    oci_registry: OciRegistry, oci_repository: str, tmp_path: Path
) -> None:
    push_artifact(oci_registry, f"{oci_repository}:v1.0.0", tmp_path)
    client = client_for(oci_registry)

    manifest = client.get_manifest(f"{oci_repository}:v1.0.0")
    [pulled] = client.pull(target=f"{oci_repository}:v1.0.0", outdir=str(tmp_path / "pulled"))

    [layer] = manifest["layers"]
    assert manifest["config"]["mediaType"] == FLUX_CONFIG
    assert layer["mediaType"] == FLUX_CONTENT
    blob = Path(pulled).read_bytes()
    assert layer["digest"] == "sha256:" + hashlib.sha256(blob).hexdigest()
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as archive:
        unpacked = {
            Path(member.name).name: archive.extractfile(member).read()  # type: ignore[union-attr]
            for member in archive.getmembers()
            if member.isfile()
        }
    assert unpacked == MANIFESTS


def test_tags_are_listed(oci_registry: OciRegistry, oci_repository: str, tmp_path: Path) -> None:
    for tag in ("v1.0.0", "v1.1.0", "latest"):
        push_artifact(oci_registry, f"{oci_repository}:{tag}", tmp_path)

    tags = client_for(oci_registry).get_tags(oci_repository)

    assert sorted(tags) == ["latest", "v1.0.0", "v1.1.0"]


def test_manifest_digest_matches_its_bytes(
    oci_registry: OciRegistry, oci_repository: str, tmp_path: Path
) -> None:
    pushed_digest = push_artifact(oci_registry, f"{oci_repository}:v1.0.0", tmp_path)
    client = client_for(oci_registry)
    name = oci_repository.split("/", 1)[1]

    by_tag = client.do_request(
        f"{oci_registry.url}/v2/{name}/manifests/v1.0.0", headers={"Accept": OCI_MANIFEST}
    )
    by_digest = client.do_request(
        f"{oci_registry.url}/v2/{name}/manifests/{pushed_digest}",
        headers={"Accept": OCI_MANIFEST},
    )

    assert by_tag.status_code == 200
    assert by_tag.headers["Docker-Content-Digest"] == pushed_digest
    assert "sha256:" + hashlib.sha256(by_tag.content).hexdigest() == pushed_digest
    assert by_digest.content == by_tag.content


def test_deleted_manifest_is_gone(
    oci_registry: OciRegistry, oci_repository: str, tmp_path: Path
) -> None:
    digest = push_artifact(oci_registry, f"{oci_repository}:v1.0.0", tmp_path)
    client = client_for(oci_registry)

    assert client.delete_tag(oci_repository, "v1.0.0")

    assert client.get_tags(oci_repository) == []
    name = oci_repository.split("/", 1)[1]
    gone = client.do_request(f"{oci_registry.url}/v2/{name}/manifests/{digest}", "HEAD")
    assert gone.status_code == 404


def test_stop_frees_the_port(tmp_path: Path) -> None:
    with OciRegistry(tmp_path) as registry:
        port = int(registry.host.rsplit(":", 1)[1])
        assert port_answers(port)

    assert not port_answers(port)
