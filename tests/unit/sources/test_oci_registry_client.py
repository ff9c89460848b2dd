"""Resolving and pulling against an in-memory registry: what the loopback one cannot show.

The registry behind `httpx2.MockTransport` here speaks just enough of the distribution
API to check ref precedence and revisions, the requests a poll costs, tag pages, the
token and basic challenges, the status codes and digest checks. Behaviour against a
real registry is in tests/integration/test_oci_source.py.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import httpx2
import pytest

from lockstep.api.source import OCILayerSelector
from lockstep.egress import Egress
from lockstep.sources.credentials import BasicAuth
from lockstep.sources.errors import (
    AddressRefused,
    AuthenticationFailed,
    DigestMismatch,
    FetchTimeout,
    InvalidArtifact,
    InvalidRef,
    NoSemverMatch,
    RefNotFound,
    RepositoryNotFound,
    ServerUnavailable,
    TooLarge,
    Unreachable,
)
from lockstep.sources.oci import (
    FLUX_CONFIG_MEDIA_TYPE,
    FLUX_CONTENT_MEDIA_TYPE,
    OciRef,
    PulledArtifact,
    ResolvedArtifact,
    pull_oci,
    resolve_oci,
)
from lockstep.sources.registry_client import OCI_INDEX, OCI_MANIFEST, RegistryOptions

HOST = "registry.test"
URL = f"oci://{HOST}/acme/app"
TOKEN_REALM = "https://auth.test/token"


def digest_of(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def gzip_tarball(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return out.getvalue()


class FakeRegistry:
    """Manifests, blobs and tags of one repository, served with optional auth and faults."""

    def __init__(self, auth: str | None = None, tags_per_page: int = 0) -> None:
        self.auth = auth  # None, "basic" or "bearer"
        self.tags_per_page = tags_per_page
        self.tags: dict[str, str] = {}
        self.manifests: dict[str, tuple[bytes, str]] = {}
        self.blobs: dict[str, bytes] = {}
        self.requests: list[str] = []
        self.fault: Callable[[httpx2.Request], httpx2.Response | None] = lambda request: None
        self.head_has_digest = True

    def options(self, auth: BasicAuth | None = None, timeout: float = 5.0) -> RegistryOptions:
        return RegistryOptions(auth=auth, timeout=timeout, transport=httpx2.MockTransport(self))

    def blob(self, data: bytes, media_type: str) -> dict[str, object]:
        self.blobs[digest_of(data)] = data
        return {"mediaType": media_type, "digest": digest_of(data), "size": len(data)}

    def push(
        self,
        tag: str,
        layers: list[tuple[bytes, str]] | None = None,
        annotations: dict[str, str] | None = None,
        media_type: str = OCI_MANIFEST,
    ) -> str:
        """Store a Flux-style artifact under `tag`; returns its manifest digest."""
        if layers is None:
            layers = [
                (gzip_tarball({"app.yaml": f"tag: {tag}\n".encode()}), FLUX_CONTENT_MEDIA_TYPE)
            ]
        manifest = {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": self.blob(b"{}", FLUX_CONFIG_MEDIA_TYPE),
            "layers": [self.blob(data, kind) for data, kind in layers],
            "annotations": annotations or {},
        }
        raw = json.dumps(manifest).encode()
        self.manifests[digest_of(raw)] = (raw, media_type)
        self.tags[tag] = digest_of(raw)
        return digest_of(raw)

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(f"{request.method} {request.url.host}{request.url.path}")
        if request.url.host == "auth.test":
            return self._token(request)
        refused = self._refuse_unauthenticated(request)
        if refused is not None:
            return refused
        faulty = self.fault(request)
        if faulty is not None:
            return faulty
        path = request.url.path.removeprefix("/v2/acme/app/")
        if path == "tags/list":
            return self._tags(request)
        kind, _, reference = path.partition("/")
        if kind == "manifests":
            return self._manifest(request, self.tags.get(reference, reference))
        if kind == "blobs" and reference in self.blobs:
            return httpx2.Response(200, content=self.blobs[reference])
        return httpx2.Response(404, json={"errors": [{"code": "NAME_UNKNOWN"}]})

    def _refuse_unauthenticated(self, request: httpx2.Request) -> httpx2.Response | None:
        given = request.headers.get("Authorization", "")
        if self.auth == "basic" and given != "Basic " + base64.b64encode(b"bot:pw").decode():
            return httpx2.Response(401, headers={"WWW-Authenticate": 'Basic realm="test"'})
        if self.auth == "bearer" and given != "Bearer t0k3n":
            challenge = f'Bearer realm="{TOKEN_REALM}",service="{HOST}"'
            return httpx2.Response(401, headers={"WWW-Authenticate": challenge})
        return None

    def _token(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.params.get("scope") != "repository:acme/app:pull":
            return httpx2.Response(400)
        credentials = request.headers.get("Authorization")
        if credentials not in (None, "Basic " + base64.b64encode(b"bot:pw").decode()):
            return httpx2.Response(401)
        return httpx2.Response(200, json={"token": "t0k3n"})

    def _tags(self, request: httpx2.Request) -> httpx2.Response:
        names = sorted(self.tags)
        if not names:  # the distribution registry knows no repository without a tag
            return httpx2.Response(404, json={"errors": [{"code": "NAME_UNKNOWN"}]})
        if not self.tags_per_page:
            return httpx2.Response(200, json={"name": "acme/app", "tags": names})
        last = request.url.params.get("last")
        start = names.index(last) + 1 if last else 0
        page = names[start : start + self.tags_per_page]
        headers = {}
        if start + self.tags_per_page < len(names):
            headers["Link"] = f'</v2/acme/app/tags/list?last={page[-1]}>; rel="next"'
        return httpx2.Response(200, json={"tags": page}, headers=headers)

    def _manifest(self, request: httpx2.Request, digest: str) -> httpx2.Response:
        if digest not in self.manifests:
            return httpx2.Response(404, json={"errors": [{"code": "MANIFEST_UNKNOWN"}]})
        raw, media_type = self.manifests[digest]
        headers = {"Content-Type": media_type}
        if self.head_has_digest:
            headers["Docker-Content-Digest"] = digest
        return httpx2.Response(
            200, headers=headers, content=b"" if request.method == "HEAD" else raw
        )


@pytest.fixture
def registry() -> FakeRegistry:
    return FakeRegistry()


def resolve(registry: FakeRegistry, ref: OciRef, auth: BasicAuth | None = None) -> ResolvedArtifact:
    return resolve_oci(URL, ref, registry.options(auth))


def test_a_tag_resolves_to_tag_at_digest_with_one_head_request(registry: FakeRegistry) -> None:
    digest = registry.push("v1.0.0")

    resolved = resolve(registry, OciRef(tag="v1.0.0"))

    assert resolved.revision == f"v1.0.0@{digest}"
    assert (resolved.tag, resolved.digest, resolved.url) == ("v1.0.0", digest, URL)
    assert registry.requests == [f"HEAD {HOST}/v2/acme/app/manifests/v1.0.0"]


def test_no_ref_means_the_latest_tag(registry: FakeRegistry) -> None:
    digest = registry.push("latest")

    assert resolve(registry, OciRef()).revision == f"latest@{digest}"


def test_a_digest_wins_over_semver_and_tag_and_is_its_own_revision(
    registry: FakeRegistry,
) -> None:
    pinned = registry.push("v1.0.0")
    registry.push("v2.0.0")

    resolved = resolve(registry, OciRef(tag="v2.0.0", semver=">=2", digest=pinned))

    assert resolved.revision == pinned
    assert resolved.tag is None
    assert registry.requests == [f"HEAD {HOST}/v2/acme/app/manifests/{pinned}"]


def test_semver_wins_over_tag_and_costs_the_tag_list_and_one_head(
    registry: FakeRegistry,
) -> None:
    for tag in ("v1.0.0", "v1.2.0", "v2.0.0-rc.1", "latest"):
        registry.push(tag)

    resolved = resolve(registry, OciRef(tag="latest", semver="^1.0"))

    assert resolved.revision == f"v1.2.0@{registry.tags['v1.2.0']}"
    assert len(registry.requests) == 2


def test_semver_filter_narrows_the_tags_first(registry: FakeRegistry) -> None:
    for tag in ("1.0.0-dev.1", "1.0.0-dev.2", "1.1.0"):
        registry.push(tag)

    resolved = resolve(registry, OciRef(semver=">=1.0.0-0", semver_filter=r"-dev\.\d+$"))

    assert resolved.tag == "1.0.0-dev.2"


def test_a_filter_that_leaves_no_match_says_so(registry: FakeRegistry) -> None:
    registry.push("1.0.0")

    with pytest.raises(NoSemverMatch, match=r"semverFilter '\^v' kept 0 of 1 tags"):
        resolve(registry, OciRef(semver="^1", semver_filter="^v"))


def test_tags_are_read_across_pages() -> None:
    registry = FakeRegistry(tags_per_page=2)
    for minor in range(5):
        registry.push(f"1.{minor}.0")

    assert resolve(registry, OciRef(semver="^1")).tag == "1.4.0"
    assert sum("tags/list" in request for request in registry.requests) == 3


@pytest.mark.parametrize(
    ("ref", "complaint"),
    [
        (OciRef(digest="sha256:abc"), "not sha256:<64 hex digits>"),
        (OciRef(digest="sha512:" + "a" * 128), "not sha256:<64 hex digits>"),
        (OciRef(semver="^1", semver_filter="(unclosed"), "not a valid regular expression"),
        (OciRef(semver="not a range"), "semver range 'not a range' is invalid"),
    ],
)
def test_unusable_refs_are_refused(registry: FakeRegistry, ref: OciRef, complaint: str) -> None:
    registry.push("1.0.0")

    with pytest.raises(InvalidRef, match=complaint):
        resolve(registry, ref)


def test_a_missing_tag_or_repository_says_what_is_missing(registry: FakeRegistry) -> None:
    with pytest.raises(RepositoryNotFound, match=f"{URL} does not exist"):
        resolve(registry, OciRef(semver="^1"))
    with pytest.raises(RefNotFound, match=f"{URL} has no tag v9 .*correct spec.ref"):
        resolve(registry, OciRef(tag="v9"))


def test_a_head_without_digest_header_falls_back_to_get(registry: FakeRegistry) -> None:
    digest = registry.push("v1")
    registry.head_has_digest = False

    assert resolve(registry, OciRef(tag="v1")).digest == digest
    assert [request.split()[0] for request in registry.requests] == ["HEAD", "GET"]


def test_a_bearer_challenge_fetches_a_token_once_per_operation() -> None:
    registry = FakeRegistry(auth="bearer")
    registry.push("1.0.0")

    resolve(registry, OciRef(semver="^1"), auth=BasicAuth("bot", "pw"))

    assert registry.requests == [
        f"GET {HOST}/v2/acme/app/tags/list",
        "GET auth.test/token",
        f"GET {HOST}/v2/acme/app/tags/list",
        f"HEAD {HOST}/v2/acme/app/manifests/1.0.0",
    ]


def test_a_bearer_token_may_be_fetched_anonymously() -> None:
    registry = FakeRegistry(auth="bearer")
    digest = registry.push("v1")

    assert resolve(registry, OciRef(tag="v1")).digest == digest


def test_a_token_service_refusing_the_credentials_is_an_authentication_failure() -> None:
    registry = FakeRegistry(auth="bearer")
    registry.push("v1")

    with pytest.raises(AuthenticationFailed, match=r"refused a token .*check the credentials"):
        resolve(registry, OciRef(tag="v1"), auth=BasicAuth("bot", "wrong"))


def test_a_basic_challenge_is_answered_with_the_credentials() -> None:
    registry = FakeRegistry(auth="basic")
    digest = registry.push("v1")

    assert resolve(registry, OciRef(tag="v1"), auth=BasicAuth("bot", "pw")).digest == digest
    with pytest.raises(AuthenticationFailed, match=r"set spec.secretRef to a docker-registry"):
        resolve(registry, OciRef(tag="v1"))
    with pytest.raises(AuthenticationFailed, match=f"check the credentials for {HOST}"):
        resolve(registry, OciRef(tag="v1"), auth=BasicAuth("bot", "wrong"))


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_busy_or_failing_registries_are_worth_a_retry(registry: FakeRegistry, status: int) -> None:
    registry.push("v1")
    registry.fault = lambda request: httpx2.Response(status)

    with pytest.raises(ServerUnavailable, match=f"HTTP {status} for tag v1.*retries"):
        resolve(registry, OciRef(tag="v1"))


def test_transport_failures_become_unreachable_or_timeout(registry: FakeRegistry) -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("connection refused")

    def stall(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("timed out")

    registry.fault = refuse
    with pytest.raises(Unreachable, match=r"over HTTPS .*spec.insecure"):
        resolve(registry, OciRef(tag="v1"))
    registry.fault = stall
    with pytest.raises(FetchTimeout, match=r"within 5s; raise spec.timeout"):
        resolve(registry, OciRef(tag="v1"))


def pull(
    registry: FakeRegistry,
    tag: str,
    dest: Path,
    selector: OCILayerSelector | None = None,
    **kw: int,
) -> PulledArtifact:
    resolved = resolve(registry, OciRef(tag=tag))
    return pull_oci(resolved, dest, selector, registry.options(), **kw)


def test_a_pull_extracts_the_first_layer_and_keeps_the_annotations(
    registry: FakeRegistry, tmp_path: Path
) -> None:
    annotations = {"org.opencontainers.image.revision": "main@sha1:abc"}
    registry.push("v1", annotations=annotations)

    pulled = pull(registry, "v1", tmp_path / "out")

    assert (tmp_path / "out" / "app.yaml").read_text() == "tag: v1\n"
    assert pulled.metadata == annotations


def test_the_layer_selector_picks_the_first_layer_of_its_media_type(
    registry: FakeRegistry, tmp_path: Path
) -> None:
    layers = [
        (gzip_tarball({"first.yaml": b""}), FLUX_CONTENT_MEDIA_TYPE),
        (gzip_tarball({"chart.yaml": b""}), "application/vnd.cncf.helm.chart.content.v1.tar+gzip"),
    ]
    registry.push("v1", layers)

    pull(registry, "v1", tmp_path / "out", OCILayerSelector(mediaType=layers[1][1]))

    assert [path.name for path in (tmp_path / "out").iterdir()] == ["chart.yaml"]
    with pytest.raises(InvalidArtifact, match="no layer of media type text/plain"):
        pull(registry, "v1", tmp_path / "other", OCILayerSelector(mediaType="text/plain"))


def test_copy_keeps_the_layer_as_it_is_but_only_gzip(
    registry: FakeRegistry, tmp_path: Path
) -> None:
    layer = gzip_tarball({"app.yaml": b"a: 1\n"})
    registry.push("v1", [(layer, FLUX_CONTENT_MEDIA_TYPE)])
    registry.push("plain", [(b"plain text", "text/plain")])

    pulled = pull(registry, "v1", tmp_path / "out", OCILayerSelector(operation="copy"))

    assert pulled.path.read_bytes() == layer
    with pytest.raises(InvalidArtifact, match="not gzip-compressed"):
        pull(registry, "plain", tmp_path / "other", OCILayerSelector(operation="copy"))


def test_content_that_does_not_match_its_digest_is_refused(
    registry: FakeRegistry, tmp_path: Path
) -> None:
    registry.push("v1")
    layer_digest = next(d for d, data in registry.blobs.items() if data[:2] == b"\x1f\x8b")
    registry.blobs[layer_digest] = gzip.compress(b"tampered")

    with pytest.raises(DigestMismatch, match=f"does not match its digest {layer_digest}"):
        pull(registry, "v1", tmp_path / "out")


def test_a_manifest_that_does_not_match_its_digest_is_refused(
    registry: FakeRegistry, tmp_path: Path
) -> None:
    digest = registry.push("v1")
    registry.manifests[digest] = (b'{"layers": []}', OCI_MANIFEST)

    with pytest.raises(DigestMismatch, match=f"not {digest}"):
        pull(registry, "v1", tmp_path / "out")


def test_an_index_or_an_oversized_layer_is_not_pulled(
    registry: FakeRegistry, tmp_path: Path
) -> None:
    registry.push("index", media_type=OCI_INDEX)
    registry.push("big", [(gzip_tarball({"a": os.urandom(5000)}), FLUX_CONTENT_MEDIA_TYPE)])

    with pytest.raises(InvalidArtifact, match="is an image index"):
        pull(registry, "index", tmp_path / "index")
    with pytest.raises(TooLarge, match="over the limit of 100"):
        pull(registry, "big", tmp_path / "big", max_bytes=100)


BLOCKING = Egress.of(True, [HOST, "auth.test"])
"""Internal hosts refused, the test registry and its token service allowed by name."""


def test_a_redirect_to_an_internal_host_is_refused_before_it_is_sent(
    registry: FakeRegistry,
) -> None:
    registry.push("v1")
    registry.fault = lambda request: (
        httpx2.Response(307, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
        if request.method == "HEAD"
        else None
    )
    options = replace(registry.options(), egress=BLOCKING)

    with pytest.raises(AddressRefused, match=r"169\.254\.169\.254 is an internal address"):
        resolve_oci(URL, OciRef(tag="v1"), options)
    assert not any("169.254" in request for request in registry.requests)


def test_a_token_service_on_an_internal_host_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "TOKEN_REALM", "http://10.0.0.7/token")
    registry = FakeRegistry(auth="bearer")
    registry.push("v1")
    options = replace(registry.options(), egress=BLOCKING)

    with pytest.raises(AddressRefused, match=r"10\.0\.0\.7 is an internal address"):
        resolve_oci(URL, OciRef(tag="v1"), options)
    assert not any("10.0.0.7" in request for request in registry.requests)


def test_allowed_hosts_are_fetched_from_as_before() -> None:
    registry = FakeRegistry(auth="bearer")
    digest = registry.push("v1")
    options = replace(registry.options(), egress=BLOCKING)

    assert resolve_oci(URL, OciRef(tag="v1"), options).digest == digest
