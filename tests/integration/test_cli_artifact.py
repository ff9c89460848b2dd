"""``lockstep push|pull|tag artifact``, ``list artifacts`` and ``generate key-pair``, run as
the real command against the loopback registry, and their artifacts applied by the engine.

An artifact pushed here must be one Flux accepts: the manifest is read back from the
registry and held to Flux's media types and annotations. The end-to-end tests push a
folder with a ConfigMap, signed or not, and let an OCIRepository with cosign
verification and a Kustomization decide whether it reaches the cluster.
"""

from __future__ import annotations

import asyncio
import base64
import http.server
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ground.artifacts import condition
from ground.engine import Engine
from ground.gitops import Scenario, config_map
from ground.oci import push
from ground.wait import eventually
from lockstep.dev.loopback import LOOPBACK
from lockstep.dev.registry import OciRegistry
from lockstep.kube import KubeObject, ObjectRef
from lockstep.sources.oci import (
    CREATED_ANNOTATION,
    FLUX_CONFIG_MEDIA_TYPE,
    FLUX_CONTENT_MEDIA_TYPE,
    REVISION_ANNOTATION,
    SOURCE_ANNOTATION,
)
from lockstep.sources.registry_client import OCI_MANIFEST

pytestmark = pytest.mark.integration

SOURCE = "https://git.example/acme/app"
REVISION = "main@sha1:0123456789abcdef0123456789abcdef01234567"
PASSWORD = {"COSIGN_PASSWORD": "correct horse"}


def lockstep(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lockstep", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def push_folder(
    folder: Path, reference: str, *flags: str, env: dict[str, str] | None = None
) -> str:
    """``lockstep push artifact`` of `folder`; the digest URL it printed."""
    done = lockstep(
        "push",
        "artifact",
        f"oci://{reference}",
        "--path",
        str(folder),
        "--source",
        SOURCE,
        "--revision",
        REVISION,
        "--insecure",
        *flags,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content)
    return root


def tree(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def registry_get(registry: OciRegistry, path: str, accept: str = OCI_MANIFEST) -> bytes:
    request = urllib.request.Request(f"{registry.url}/v2/{path}", headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=10) as response:
        body: bytes = response.read()
        return body


MANIFESTS = {
    "kustomization.yaml": "resources: [apps/web.yaml]\n",
    "apps/web.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\n",
}


def test_push_then_pull_gives_back_the_files(
    oci_registry: OciRegistry, oci_repository: str, tmp_path: Path
) -> None:
    source = write_tree(tmp_path / "source", MANIFESTS)
    write_tree(source, {".git/HEAD": "ref: refs/heads/main\n", "logo.png": "png"})
    (source / "run.sh").write_text("#!/bin/sh\n")
    (source / "run.sh").chmod(0o755)

    url = push_folder(source, f"{oci_repository}:v1.0.0")
    head = urllib.request.Request(
        f"{oci_registry.url}/v2/{oci_repository.split('/', 1)[1]}/manifests/v1.0.0",
        method="HEAD",
        headers={"Accept": OCI_MANIFEST},
    )
    with urllib.request.urlopen(head, timeout=10) as response:
        assert url == f"oci://{oci_repository}@{response.headers['Docker-Content-Digest']}"

    out = tmp_path / "pulled"
    done = lockstep(
        "pull", "artifact", f"oci://{oci_repository}:v1.0.0", "-o", str(out), "--insecure"
    )
    assert done.returncode == 0, done.stderr
    assert f"(revision {REVISION}) extracted to {out}" in done.stdout
    expected = {name: content.encode() for name, content in MANIFESTS.items()}
    assert tree(out) == {**expected, "run.sh": b"#!/bin/sh\n"}, "Git metadata and images stay out"
    assert os.access(out / "run.sh", os.X_OK)

    by_digest = tmp_path / "by-digest"
    done = lockstep("pull", "artifact", url, "--output", str(by_digest), "--insecure")
    assert done.returncode == 0, done.stderr
    assert tree(by_digest) == tree(out)


def test_the_pushed_manifest_is_exactly_fluxs_format(
    oci_registry: OciRegistry, oci_repository: str, tmp_path: Path
) -> None:
    source = write_tree(tmp_path / "source", MANIFESTS)
    push_folder(source, f"{oci_repository}:v1", "-a", "org.opencontainers.image.title=web")
    repository = oci_repository.split("/", 1)[1]

    manifest = json.loads(registry_get(oci_registry, f"{repository}/manifests/v1"))
    assert set(manifest) == {"schemaVersion", "mediaType", "config", "layers", "annotations"}
    assert (manifest["schemaVersion"], manifest["mediaType"]) == (2, OCI_MANIFEST)
    assert manifest["config"]["mediaType"] == FLUX_CONFIG_MEDIA_TYPE
    assert [layer["mediaType"] for layer in manifest["layers"]] == [FLUX_CONTENT_MEDIA_TYPE]
    annotations = manifest["annotations"]
    assert set(annotations) == {
        SOURCE_ANNOTATION,
        REVISION_ANNOTATION,
        CREATED_ANNOTATION,
        "org.opencontainers.image.title",
    }
    assert (annotations[SOURCE_ANNOTATION], annotations[REVISION_ANNOTATION]) == (SOURCE, REVISION)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", annotations[CREATED_ANNOTATION])

    layer = registry_get(oci_registry, f"{repository}/blobs/{manifest['layers'][0]['digest']}")
    with tarfile.open(fileobj=io.BytesIO(layer), mode="r:gz") as archive:
        names = archive.getnames()
    assert sorted(names) == ["apps", "apps/web.yaml", "kustomization.yaml"], (
        "files at the root of the tarball, as flux push artifact packs them"
    )


def test_reproducible_pushes_of_the_same_content_have_the_same_digest(
    oci_repository: str, tmp_path: Path
) -> None:
    first = write_tree(tmp_path / "first", MANIFESTS)
    second = write_tree(tmp_path / "second", MANIFESTS)
    os.utime(second / "kustomization.yaml", (1_000_000, 1_000_000))
    a = push_folder(first, f"{oci_repository}:a", "--reproducible")
    b = push_folder(second, f"{oci_repository}:b", "--reproducible")
    assert a == b


def test_a_single_file_is_pushed_at_the_root(oci_repository: str, tmp_path: Path) -> None:
    source = write_tree(tmp_path / "source", MANIFESTS)
    push_folder(source / "apps" / "web.yaml", f"{oci_repository}:file")
    out = tmp_path / "out"
    done = lockstep(
        "pull", "artifact", f"oci://{oci_repository}:file", "-o", str(out), "--insecure"
    )
    assert done.returncode == 0, done.stderr
    assert tree(out) == {"web.yaml": MANIFESTS["apps/web.yaml"].encode()}


def test_pull_fills_an_existing_empty_folder_and_creates_one_for_an_empty_artifact(
    oci_repository: str, tmp_path: Path
) -> None:
    push_folder(write_tree(tmp_path / "source", MANIFESTS), f"{oci_repository}:full")
    (tmp_path / "empty").mkdir()
    push_folder(tmp_path / "empty", f"{oci_repository}:empty")

    existing = tmp_path / "existing"
    existing.mkdir()
    done = lockstep(
        "pull", "artifact", f"oci://{oci_repository}:full", "-o", str(existing), "--insecure"
    )
    assert done.returncode == 0, done.stderr
    assert sorted(path.name for path in existing.iterdir()) == ["apps", "kustomization.yaml"], (
        "the content only: no staging folder left behind"
    )

    new = tmp_path / "new"
    done = lockstep(
        "pull", "artifact", f"oci://{oci_repository}:empty", "-o", str(new), "--insecure"
    )
    assert done.returncode == 0, done.stderr
    assert new.is_dir()
    assert list(new.iterdir()) == []


def test_tag_then_list(oci_repository: str, tmp_path: Path) -> None:
    source = write_tree(tmp_path / "source", MANIFESTS)
    keys = generate_keys(tmp_path, "release")
    url = push_folder(
        source, f"{oci_repository}:v1.0.0", "--sign", "--key", str(keys), env=PASSWORD
    )
    digest = url.partition("@")[2]

    done = lockstep(
        "tag", "artifact", f"oci://{oci_repository}:v1.0.0", "--tag", "latest", "--insecure"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"✓ oci://{oci_repository}:latest → {digest}"

    listed = lockstep("list", "artifacts", f"oci://{oci_repository}", "-o", "json", "--insecure")
    assert listed.returncode == 0, listed.stderr
    entries = json.loads(listed.stdout)
    assert [(entry["tag"], entry["digest"]) for entry in entries] == [
        ("v1.0.0", digest),
        ("latest", digest),
    ], "the signature tag is not an artifact"
    for entry in entries:
        assert (entry["source"], entry["revision"]) == (SOURCE, REVISION)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry["created"])

    table = lockstep("list", "artifacts", f"oci://{oci_repository}", "--insecure")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["TAG", "DIGEST", "SOURCE", "REVISION", "CREATED"]
    assert [line.split()[:4] for line in lines[1:]] == [
        ["v1.0.0", digest, SOURCE, REVISION],
        ["latest", digest, SOURCE, REVISION],
    ]


def test_registry_failures_are_one_line_with_what_to_do(
    oci_registry: OciRegistry, oci_repository: str, tmp_path: Path, refusing_registry: str
) -> None:
    source = write_tree(tmp_path / "source", MANIFESTS)
    push_folder(source, f"{oci_repository}:v1")

    unknown = lockstep(
        "pull", "artifact", f"oci://{oci_repository}:v9", "-o", str(tmp_path / "o"), "--insecure"
    )
    assert unknown.returncode == 1
    assert unknown.stderr.splitlines() == [
        f"error: oci://{oci_repository}:v9 is not in the registry",
        f"hint: list the tags with: lockstep list artifacts oci://{oci_repository}",
    ]
    assert not (tmp_path / "o").exists()

    missing_repository = lockstep(
        "list", "artifacts", f"oci://{oci_registry.host}/nothing-here", "--insecure"
    )
    assert missing_repository.returncode == 1
    assert missing_repository.stderr.startswith(
        f"error: oci://{oci_registry.host}/nothing-here does not exist on the registry\n"
    )

    not_private = f"oci://127.0.0.2:{oci_registry.host.rsplit(':', 1)[1]}/app"
    https = lockstep("list", "artifacts", not_private)
    assert https.returncode == 1
    assert https.stderr.splitlines()[1].endswith("; for a plain-HTTP registry add --insecure")

    anonymous = lockstep(
        "push",
        "artifact",
        f"oci://{refusing_registry}/app:v1",
        "--path",
        str(source),
        "--source",
        SOURCE,
        "--revision",
        REVISION,
        "--insecure",
    )
    assert anonymous.returncode == 1
    assert anonymous.stderr.splitlines() == [
        f"error: the registry {refusing_registry} refused access to oci://{refusing_registry}/app:v1",
        "hint: pass --creds user:password",
    ]
    wrong = lockstep(
        "list", "artifacts", f"oci://{refusing_registry}/app", "--creds", "bot:wrong", "--insecure"
    )
    assert wrong.returncode == 1
    assert wrong.stderr.splitlines()[1] == "hint: check the user and password of --creds"


def test_pull_refuses_an_archive_that_climbs_out_of_the_folder(
    oci_registry: OciRegistry, oci_repository: str, tmp_path: Path
) -> None:
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w:gz") as archive:
        for name in ("ok.yaml", "../escaped.yaml"):
            info = tarfile.TarInfo(name)
            info.size = 4
            archive.addfile(info, io.BytesIO(b"x: 1"))
    push(
        oci_registry,
        oci_repository,
        "evil",
        tmp_path,
        layers=[(evil.getvalue(), FLUX_CONTENT_MEDIA_TYPE)],
    )

    out = tmp_path / "work" / "out"
    done = lockstep(
        "pull", "artifact", f"oci://{oci_repository}:evil", "-o", str(out), "--insecure"
    )
    assert done.returncode == 1
    assert "'../escaped.yaml' climbs out with '..'" in done.stderr
    assert not (tmp_path / "work" / "escaped.yaml").exists()
    assert not out.exists(), "a failed pull leaves no partial folder"


def generate_keys(folder: Path, prefix: str) -> Path:
    """``lockstep generate key-pair``; the private key file (the public one beside it)."""
    done = lockstep(
        "generate", "key-pair", "--output-key-prefix", str(folder / prefix), env=PASSWORD
    )
    assert done.returncode == 0, done.stderr
    return folder / f"{prefix}.key"


async def verified_source(scenario: Scenario, name: str, url: str, public_pem: bytes) -> None:
    """A Secret with the public key and an OCIRepository that verifies with it."""
    await scenario.kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{name}-key", "namespace": scenario.namespace},
            "data": {"cosign.pub": base64.b64encode(public_pem).decode()},
        }
    )
    repository, _, tag = url.removeprefix("oci://").rpartition(":")
    await scenario.kube.apply(
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "OCIRepository",
            "metadata": {"name": name, "namespace": scenario.namespace},
            "spec": {
                "interval": "1s",
                "url": f"oci://{repository}",
                "ref": {"tag": tag},
                "insecure": True,
                "verify": {"provider": "cosign", "secretRef": {"name": f"{name}-key"}},
            },
        }
    )


def source_ref(scenario: Scenario, name: str) -> ObjectRef:
    return ObjectRef("source.toolkit.fluxcd.io/v1", "OCIRepository", name, scenario.namespace)


async def test_a_signed_push_is_verified_and_applied(
    engine: Engine, scenario: Scenario, oci_repository: str, tmp_path: Path
) -> None:
    key = await asyncio.to_thread(generate_keys, tmp_path, "cosign")
    folder = write_tree(
        tmp_path / "deploy", {"settings.yaml": config_map("settings", colour="blue")}
    )
    url = f"oci://{oci_repository}:v1.0.0"
    pushed = await asyncio.to_thread(
        push_folder, folder, url.removeprefix("oci://"), "--sign", "--key", str(key), env=PASSWORD
    )

    await verified_source(scenario, "signed", url, key.with_suffix(".pub").read_bytes())
    await scenario.kustomization(
        "apps", "./", sourceRef={"kind": "OCIRepository", "name": "signed"}
    )
    ready = await scenario.ready("apps")
    assert ready["status"]["lastAppliedRevision"] == f"v1.0.0@{pushed.partition('@')[2]}"
    source = await scenario.kube.get(source_ref(scenario, "signed"))
    assert condition(source, "SourceVerified").startswith("True: verified signature")
    live = await scenario.kube.get(ObjectRef("v1", "ConfigMap", "settings", scenario.namespace))
    assert live["data"] == {"colour": "blue"}


async def test_unsigned_and_wrongly_signed_pushes_are_refused_and_nothing_is_applied(
    engine: Engine, scenario: Scenario, oci_repository: str, tmp_path: Path
) -> None:
    trusted = await asyncio.to_thread(generate_keys, tmp_path, "trusted")
    other = await asyncio.to_thread(generate_keys, tmp_path, "other")
    unsigned = write_tree(tmp_path / "unsigned", {"one.yaml": config_map("unsigned", x="1")})
    wrong = write_tree(tmp_path / "wrong", {"two.yaml": config_map("wrongly-signed", x="2")})
    await asyncio.to_thread(push_folder, unsigned, f"{oci_repository}:unsigned")
    await asyncio.to_thread(
        push_folder, wrong, f"{oci_repository}:wrong", "--sign", "--key", str(other), env=PASSWORD
    )

    public = trusted.with_suffix(".pub").read_bytes()
    for name in ("unsigned", "wrong"):
        await verified_source(scenario, name, f"oci://{oci_repository}:{name}", public)
        await scenario.kustomization(name, "./", sourceRef={"kind": "OCIRepository", "name": name})

    for name, reason in (("unsigned", "is unsigned"), ("wrong", "no signature at tag")):
        refused = await verification_failed(scenario, name, reason)
        assert condition(refused, "SourceVerified").startswith("False")
        assert condition(refused, "Ready").startswith("False")
        assert "artifact" not in refused["status"]
        await scenario.failed(name, "has no artifact yet")
    for config in ("unsigned", "wrongly-signed"):
        assert await scenario.get(ObjectRef("v1", "ConfigMap", config, scenario.namespace)) is None


async def verification_failed(scenario: Scenario, name: str, reason: str) -> KubeObject:
    return await eventually(
        lambda: scenario.kube.get(source_ref(scenario, name)),
        lambda source: reason in condition(source, "SourceVerified"),
        what=f"OCIRepository {name} refused: {reason}",
    )


class _Refuse(http.server.BaseHTTPRequestHandler):
    """A registry that wants credentials and accepts none."""

    def _refuse(self) -> None:
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="registry"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = do_POST = do_PUT = _refuse

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def refusing_registry() -> Iterator[str]:
    """``127.0.0.1:PORT`` of a registry that answers 401 to everything."""
    server = http.server.ThreadingHTTPServer((LOOPBACK, 0), _Refuse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"{LOOPBACK}:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
