"""Pushing, tagging and listing Flux artifacts against an in-memory registry; references.

The registry behind `httpx2.MockTransport` keeps blobs, manifests and tags of one
repository and answers the upload, manifest and tag-list endpoints the push side uses.
The same commands against the real loopback registry are in
tests/integration/test_cli_artifact.py.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import httpx2
import pytest

from lockstep.sources.errors import InvalidRef, InvalidUrl
from lockstep.sources.oci import (
    CREATED_ANNOTATION,
    FLUX_CONFIG_MEDIA_TYPE,
    FLUX_CONTENT_MEDIA_TYPE,
    REVISION_ANNOTATION,
    SOURCE_ANNOTATION,
)
from lockstep.sources.oci_push import (
    REPRODUCIBLE_CREATED,
    ArtifactReference,
    artifact_annotations,
    created_timestamp,
    is_cosign_tag,
    list_artifacts,
    pack_artifact,
    parse_artifact_reference,
    parse_repository,
    push_artifact,
    tag_artifact,
)
from lockstep.sources.registry_client import OCI_MANIFEST, RegistryOptions

HOST = "registry.test"
DIGEST = "sha256:" + "ab" * 32


class MemoryRegistry:
    """Blobs, manifests and tags of one repository, pushed to and read through HTTP."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, tuple[bytes, str]] = {}
        self.tags: dict[str, str] = {}

    def options(self) -> RegistryOptions:
        return RegistryOptions(transport=httpx2.MockTransport(self.handle))

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        path, method = request.url.path, request.method
        if match := re.fullmatch(r"/v2/acme/app/blobs/(sha256:\w+)", path):
            found = match[1] in self.blobs
            return httpx2.Response(200 if found else 404, content=self.blobs.get(match[1], b""))
        if path == "/v2/acme/app/blobs/uploads/" and method == "POST":
            return httpx2.Response(202, headers={"Location": "/v2/acme/app/blobs/uploads/1"})
        if path == "/v2/acme/app/blobs/uploads/1" and method == "PUT":
            digest = request.url.params["digest"]
            assert digest == "sha256:" + hashlib.sha256(request.content).hexdigest()
            self.blobs[digest] = request.content
            return httpx2.Response(201)
        if match := re.fullmatch(r"/v2/acme/app/manifests/(.+)", path):
            return self._manifest(request, match[1])
        if path == "/v2/acme/app/tags/list":
            return httpx2.Response(200, json={"name": "acme/app", "tags": sorted(self.tags)})
        return httpx2.Response(404)

    def _manifest(self, request: httpx2.Request, reference: str) -> httpx2.Response:
        if request.method == "PUT":
            digest = "sha256:" + hashlib.sha256(request.content).hexdigest()
            self.manifests[digest] = (request.content, request.headers["Content-Type"])
            self.tags[reference] = digest
            return httpx2.Response(201, headers={"Docker-Content-Digest": digest})
        digest = self.tags.get(reference, reference)
        if digest not in self.manifests:
            return httpx2.Response(404, json={"errors": [{"code": "MANIFEST_UNKNOWN"}]})
        raw, media_type = self.manifests[digest]
        headers = {"Content-Type": media_type, "Docker-Content-Digest": digest}
        return httpx2.Response(200, content=raw, headers=headers)

    def manifest(self, tag: str) -> dict[str, object]:
        manifest: dict[str, object] = json.loads(self.manifests[self.tags[tag]][0])
        return manifest


def pushed(
    registry: MemoryRegistry, tmp_path: Path, tag: str, revision: str = "main@sha1:1"
) -> str:
    (tmp_path / "app.yaml").write_text("kind: ConfigMap\n")
    reference = parse_artifact_reference(f"oci://{HOST}/acme/app:{tag}")
    annotations = artifact_annotations("https://git.test/app", revision, "2026-01-01T00:00:00Z")
    return push_artifact(reference, pack_artifact(tmp_path), annotations, registry.options())


def test_a_pushed_artifact_has_exactly_fluxs_media_types_and_annotations(tmp_path: Path) -> None:
    registry = MemoryRegistry()
    digest = pushed(registry, tmp_path, "v1.0.0")

    manifest = registry.manifest("v1.0.0")
    assert registry.tags["v1.0.0"] == digest
    assert manifest["mediaType"] == OCI_MANIFEST
    assert manifest["config"] == {
        "mediaType": FLUX_CONFIG_MEDIA_TYPE,
        "size": 2,
        "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest(),
    }
    layers = manifest["layers"]
    assert isinstance(layers, list)
    assert len(layers) == 1
    assert layers[0]["mediaType"] == FLUX_CONTENT_MEDIA_TYPE
    assert registry.blobs[layers[0]["digest"]] == pack_artifact(tmp_path).tarball
    assert manifest["annotations"] == {
        SOURCE_ANNOTATION: "https://git.test/app",
        REVISION_ANNOTATION: "main@sha1:1",
        CREATED_ANNOTATION: "2026-01-01T00:00:00Z",
    }


def test_a_second_push_of_the_same_content_uploads_no_blob_again(tmp_path: Path) -> None:
    registry = MemoryRegistry()
    pushed(registry, tmp_path, "v1")
    blobs = dict(registry.blobs)
    pushed(registry, tmp_path, "v2")
    assert registry.blobs == blobs


def test_tagging_copies_the_manifest_bytes_so_the_digest_holds(tmp_path: Path) -> None:
    registry = MemoryRegistry()
    digest = pushed(registry, tmp_path, "v1.0.0")
    reference = parse_artifact_reference(f"oci://{HOST}/acme/app:v1.0.0")

    assert tag_artifact(reference, ["latest", "stable"], registry.options()) == digest
    assert registry.tags["latest"] == registry.tags["stable"] == digest


def test_tagging_refuses_an_invalid_tag_before_any_request(tmp_path: Path) -> None:
    registry = MemoryRegistry()
    reference = parse_artifact_reference(f"oci://{HOST}/acme/app:v1")
    with pytest.raises(InvalidRef, match=re.escape("'-bad' of oci://registry.test/acme/app")):
        tag_artifact(reference, ["-bad"], registry.options())


def test_listing_shows_each_tag_highest_first_without_cosign_tags(tmp_path: Path) -> None:
    registry = MemoryRegistry()
    first = pushed(registry, tmp_path, "v1.0.0", revision="main@sha1:1")
    second = pushed(registry, tmp_path, "v1.1.0", revision="main@sha1:2")
    registry.tags[f"sha256-{first.removeprefix('sha256:')}.sig"] = first

    listed = list_artifacts(parse_repository(f"oci://{HOST}/acme/app"), registry.options())
    assert [(entry.tag, entry.digest, entry.revision) for entry in listed] == [
        ("v1.1.0", second, "main@sha1:2"),
        ("v1.0.0", first, "main@sha1:1"),
    ]
    assert listed[0].source == "https://git.test/app"
    assert listed[0].created == "2026-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("url", "tag", "digest", "reference"),
    [
        ("oci://registry.test/acme/app:v1.0.0", "v1.0.0", None, "v1.0.0"),
        ("oci://127.0.0.1:5000/app:latest", "latest", None, "latest"),
        ("oci://127.0.0.1:5000/app", None, None, "latest"),
        (f"oci://registry.test/acme/app@{DIGEST}", None, DIGEST, DIGEST),
    ],
)
def test_artifact_references(url: str, tag: str | None, digest: str | None, reference: str) -> None:
    parsed = parse_artifact_reference(url)
    assert (parsed.tag, parsed.digest, parsed.reference) == (tag, digest, reference)


def test_a_reference_prints_as_written() -> None:
    location = parse_repository("oci://127.0.0.1:5000/acme/app")
    assert str(ArtifactReference(location, tag="v1")) == "oci://127.0.0.1:5000/acme/app:v1"
    assert str(ArtifactReference(location, digest=DIGEST)) == f"{location.url}@{DIGEST}"
    assert location.registry == "127.0.0.1:5000"


@pytest.mark.parametrize(
    ("url", "error", "words"),
    [
        ("https://registry.test/app:v1", InvalidUrl, "not an OCI artifact address"),
        ("oci://registry.test", InvalidUrl, "not an OCI artifact address"),
        ("oci://registry.test/Acme/App:v1", InvalidUrl, "lower-case repository name"),
        ("oci://registry.test/app:-v1", InvalidRef, "not a valid OCI tag"),
        ("oci://registry.test/app@sha256:1234", InvalidRef, "not sha256:<64 hex digits>"),
    ],
)
def test_malformed_references_are_refused_in_one_line(
    url: str, error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=re.escape(words)) as raised:
        parse_artifact_reference(url)
    assert "\n" not in str(raised.value)
    assert "spec." not in str(raised.value), "no OCIRepository field to fix on the command line"


def test_a_digest_is_refused_where_a_tag_is_needed() -> None:
    with pytest.raises(InvalidRef, match="write a tag"):
        parse_artifact_reference(f"oci://registry.test/app@{DIGEST}", digest_allowed=False)


def test_extra_annotations_win_over_the_defaults() -> None:
    annotations = artifact_annotations(
        "src", "rev", "2026-01-01T00:00:00Z", {CREATED_ANNOTATION: "2020-01-01T00:00:00Z", "a": "b"}
    )
    assert annotations == {
        SOURCE_ANNOTATION: "src",
        REVISION_ANNOTATION: "rev",
        CREATED_ANNOTATION: "2020-01-01T00:00:00Z",
        "a": "b",
    }


def test_created_is_rfc3339_utc_or_fixed_when_reproducible() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", created_timestamp())
    assert created_timestamp(reproducible=True) == REPRODUCIBLE_CREATED == "1970-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("tag", "cosign"),
    [("sha256-ab.sig", True), ("sha256-ab.att", True), ("sha256-ab.sbom", True), ("v1", False)],
)
def test_cosign_tags(tag: str, cosign: bool) -> None:
    assert is_cosign_tag(tag) is cosign
