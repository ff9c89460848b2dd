"""Loopback registries without TLS, reached without ``--insecure`` or ``spec.insecure``.

Flux's registry client (go-containerregistry) tries HTTPS and then plain HTTP for
localhost, 127.0.0.1, ::1 and private addresses, so ``flux push artifact
oci://127.0.0.1:5000/...`` works against a registry without TLS. The same holds here for
the artifact commands and for OCIRepository, against the real loopback registry (plain
HTTP on 127.0.0.1). Any other address still needs the flag.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ground.artifacts import artifact_files, condition
from ground.engine import Engine
from ground.oci import FILES, push
from ground.wait import eventually
from lockstep.dev.registry import OciRegistry
from lockstep.kube import KubeClient, ObjectRef

pytestmark = pytest.mark.integration

SOURCE = "https://git.example/acme/app"
REVISION = "main@sha1:0123456789abcdef0123456789abcdef01234567"


def lockstep(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lockstep", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )


def test_push_tag_list_and_pull_need_no_insecure_flag(oci_repository: str, tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "web.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\n")

    pushed = lockstep(
        "push", "artifact", f"oci://{oci_repository}:v1", "--path", str(source),
        "--source", SOURCE, "--revision", REVISION,
    )  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr
    digest = pushed.stdout.strip().partition("@")[2]
    assert digest.startswith("sha256:")

    tagged = lockstep("tag", "artifact", f"oci://{oci_repository}:v1", "--tag", "latest")
    assert tagged.returncode == 0, tagged.stderr
    listed = lockstep("list", "artifacts", f"oci://{oci_repository}", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    assert {(entry["tag"], entry["digest"]) for entry in json.loads(listed.stdout)} == {
        ("v1", digest),
        ("latest", digest),
    }
    out = tmp_path / "out"
    pulled = lockstep("pull", "artifact", f"oci://{oci_repository}:latest", "-o", str(out))
    assert pulled.returncode == 0, pulled.stderr
    assert (out / "web.yaml").read_text() == (source / "web.yaml").read_text()


def test_another_loopback_address_still_needs_the_flag(oci_registry: OciRegistry) -> None:
    port = oci_registry.host.rsplit(":", 1)[1]
    refused = lockstep("list", "artifacts", f"oci://127.0.0.2:{port}/app")
    assert refused.returncode == 1
    assert refused.stderr.splitlines()[1].endswith("; for a plain-HTTP registry add --insecure")


async def test_an_oci_repository_on_loopback_needs_no_spec_insecure(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    oci_registry: OciRegistry,
    oci_repository: str,
    tmp_path: Path,
) -> None:
    digest = push(oci_registry, oci_repository, "v1.0.0", tmp_path)
    await kube.apply(
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "OCIRepository",
            "metadata": {"name": "app", "namespace": namespace},
            "spec": {"url": f"oci://{oci_repository}", "interval": "1m", "ref": {"tag": "v1.0.0"}},
        }
    )
    ref = ObjectRef("source.toolkit.fluxcd.io/v1", "OCIRepository", "app", namespace)
    ready = await eventually(
        lambda: kube.get(ref), lambda o: condition(o, "Ready").startswith("True"), what="Ready"
    )
    artifact = ready["status"]["artifact"]
    assert artifact["revision"] == f"v1.0.0@{digest}"
    assert artifact_files(artifact["url"]) == FILES
