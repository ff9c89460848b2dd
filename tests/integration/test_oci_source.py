"""OCI sources against the real loopback registry: resolve, pull, and cosign signatures.

Artifacts are pushed with oras-py in Flux's format (``flux push artifact``: a gzip
tarball of the files at its root as an ``application/vnd.cncf.flux.content.v1.tar+gzip``
layer, an ``application/vnd.cncf.flux.config.v1+json`` config and the source, revision
and created annotations), so lockstep reads what another tool wrote. Requests are
counted with a transport that wraps httpx2's own; timings are printed, not asserted.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import httpx2
import pytest

from ground.oci import ANNOTATIONS, FILES, flux_tarball, push
from lockstep.api.source import OCILayerSelector
from lockstep.dev.loopback import free_port
from lockstep.dev.registry import OciRegistry
from lockstep.sources.cosign import (
    generate_key_pair,
    public_keys_from_secret,
    sign_artifact,
    signature_tag,
    verify_cosign,
)
from lockstep.sources.errors import (
    KeyMismatch,
    NotSigned,
    PayloadMismatch,
    RefNotFound,
    RepositoryNotFound,
    Unreachable,
)
from lockstep.sources.oci import (
    FLUX_CONTENT_MEDIA_TYPE,
    OciRef,
    ResolvedArtifact,
    pull_oci,
    resolve_oci,
)
from lockstep.sources.registry_client import (
    OCI_MANIFEST,
    RegistryClient,
    RegistryOptions,
    parse_oci_url,
)

pytestmark = pytest.mark.integration

HELM_CHART_MEDIA_TYPE = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


class CountingTransport(httpx2.BaseTransport):
    """httpx2's transport, noting each request the registry answered as ``METHOD /path``.

    ``insecure`` tries HTTPS first, as Flux does; against this plain-HTTP registry that
    attempt ends in the TLS handshake, and is noted in ``handshakes_failed`` instead.
    """

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.handshakes_failed = 0
        self._inner = httpx2.HTTPTransport()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            response = self._inner.handle_request(request)
        except httpx2.ConnectError:
            self.handshakes_failed += 1
            raise
        self.requests.append(f"{request.method} {request.url.path}")
        return response


def options(transport: httpx2.BaseTransport | None = None) -> RegistryOptions:
    return RegistryOptions(insecure=True, timeout=30.0, transport=transport)


def resolve(
    repository: str, ref: OciRef, transport: httpx2.BaseTransport | None = None
) -> ResolvedArtifact:
    started = time.perf_counter()
    resolved = resolve_oci(f"oci://{repository}", ref, options(transport))
    print(f"resolve {ref.describe()}: {(time.perf_counter() - started) * 1000:.1f} ms")
    return resolved


def test_a_tag_resolves_to_flux_s_revision(
    oci_registry: OciRegistry, oci_repository: str, tmp_path: Path
) -> None:
    digest = push(oci_registry, oci_repository, "v1.0.0", tmp_path)
    latest = push(oci_registry, oci_repository, "latest", tmp_path)

    assert resolve(oci_repository, OciRef(tag="v1.0.0")).revision == f"v1.0.0@{digest}"
    assert resolve(oci_repository, OciRef()).revision == f"latest@{latest}"


def test_semver_picks_the_highest_matching_tag(
    oci_registry: OciRegistry, oci_repository: str, tmp_path: Path
) -> None:
    for tag in ("v1.0.0", "v1.3.0", "v2.0.0", "v1.4.0-rc.1", "latest"):
        push(oci_registry, oci_repository, tag, tmp_path)

    assert resolve(oci_repository, OciRef(semver="^1.0")).tag == "v1.3.0"
    assert resolve(oci_repository, OciRef(semver=">=1.4.0-0 <2.0.0")).tag == "v1.4.0-rc.1"
    assert resolve(oci_repository, OciRef(semver="*")).tag == "v2.0.0"


def test_semver_filter_keeps_only_matching_tags(
    oci_registry: OciRegistry, oci_repository: str, tmp_path: Path
) -> None:
    for tag in ("1.0.0-dev.1", "1.0.0-dev.7", "1.0.0-rc.1", "1.2.0"):
        push(oci_registry, oci_repository, tag, tmp_path)

    filtered = resolve(oci_repository, OciRef(semver=">=1.0.0-0", semver_filter=r".*-dev\.\d+"))

    assert filtered.tag == "1.0.0-dev.7"
    assert resolve(oci_repository, OciRef(semver=">=1.0.0-0")).tag == "1.2.0"


def test_a_digest_resolves_to_itself(
    oci_registry: OciRegistry, oci_repository: str, tmp_path: Path
) -> None:
    digest = push(oci_registry, oci_repository, "v1.0.0", tmp_path)
    push(
        oci_registry,
        oci_repository,
        "v2.0.0",
        tmp_path,
        [(flux_tarball({"b": b"2"}), FLUX_CONTENT_MEDIA_TYPE)],
    )

    resolved = resolve(oci_repository, OciRef(tag="v2.0.0", semver="^2", digest=digest))

    assert (resolved.revision, resolved.digest) == (digest, digest)


def test_a_poll_that_finds_the_same_digest_costs_one_request(
    oci_registry: OciRegistry, oci_repository: str, tmp_path: Path
) -> None:
    for tag in ("v1.0.0", "v1.1.0"):
        push(oci_registry, oci_repository, tag, tmp_path)
    first = resolve(oci_repository, OciRef(tag="v1.1.0"))
    by_tag, by_semver = CountingTransport(), CountingTransport()

    again = resolve(oci_repository, OciRef(tag="v1.1.0"), by_tag)
    by_range = resolve(oci_repository, OciRef(semver="^1"), by_semver)

    name = parse_oci_url(f"oci://{oci_repository}").repository
    assert again.revision == by_range.revision == first.revision
    assert by_tag.requests == [f"HEAD /v2/{name}/manifests/v1.1.0"]
    assert by_semver.requests == [f"GET /v2/{name}/tags/list", f"HEAD /v2/{name}/manifests/v1.1.0"]
    assert by_tag.handshakes_failed == by_semver.handshakes_failed == 1, "HTTPS tried once"


def test_extract_writes_the_files_and_returns_the_annotations(
    oci_registry: OciRegistry, oci_repository: str, tmp_path: Path
) -> None:
    push(oci_registry, oci_repository, "v1.0.0", tmp_path)
    resolved = resolve(oci_repository, OciRef(tag="v1.0.0"))

    started = time.perf_counter()
    pulled = pull_oci(resolved, tmp_path / "out", None, options())
    print(f"pull extract: {(time.perf_counter() - started) * 1000:.1f} ms")

    assert {path.name: path.read_bytes() for path in pulled.path.iterdir()} == FILES
    assert pulled.operation == "extract"
    assert pulled.layer.media_type == FLUX_CONTENT_MEDIA_TYPE
    assert pulled.content_bytes == sum(len(content) for content in FILES.values())
    assert {key: pulled.metadata[key] for key in ANNOTATIONS} == ANNOTATIONS


def test_copy_stores_the_layer_byte_for_byte(
    oci_registry: OciRegistry, oci_repository: str, tmp_path: Path
) -> None:
    layer = flux_tarball(FILES)
    push(oci_registry, oci_repository, "v1.0.0", tmp_path, [(layer, FLUX_CONTENT_MEDIA_TYPE)])
    resolved = resolve(oci_repository, OciRef(tag="v1.0.0"))

    pulled = pull_oci(resolved, tmp_path / "out", OCILayerSelector(operation="copy"), options())

    assert pulled.path.read_bytes() == layer
    assert pulled.layer.digest == "sha256:" + hashlib.sha256(layer).hexdigest()


def test_the_layer_selector_picks_the_second_layer_by_media_type(
    oci_registry: OciRegistry, oci_repository: str, tmp_path: Path
) -> None:
    layers = [
        (flux_tarball(FILES), FLUX_CONTENT_MEDIA_TYPE),
        (flux_tarball({"Chart.yaml": b"name: web\n"}), HELM_CHART_MEDIA_TYPE),
    ]
    push(oci_registry, oci_repository, "v1.0.0", tmp_path, layers)
    resolved = resolve(oci_repository, OciRef(tag="v1.0.0"))

    chart = pull_oci(
        resolved, tmp_path / "chart", OCILayerSelector(mediaType=HELM_CHART_MEDIA_TYPE), options()
    )
    first = pull_oci(resolved, tmp_path / "first", None, options())

    assert [path.name for path in chart.path.iterdir()] == ["Chart.yaml"]
    assert sorted(path.name for path in first.path.iterdir()) == sorted(FILES)


def test_a_missing_tag_or_repository_is_named(
    oci_registry: OciRegistry, oci_repository: str, tmp_path: Path
) -> None:
    push(oci_registry, oci_repository, "v1.0.0", tmp_path)

    with pytest.raises(RefNotFound, match=r"has no tag v9\.9\.9 \(HTTP 404\); push it"):
        resolve(oci_repository, OciRef(tag="v9.9.9"))
    with pytest.raises(RepositoryNotFound, match="does not exist on the registry"):
        resolve(f"{oci_registry.host}/never-pushed", OciRef(semver="^1"))


def test_a_closed_port_is_unreachable() -> None:
    url = f"oci://127.0.0.1:{free_port()}/app"

    with pytest.raises(Unreachable, match=f"cannot reach {url} over HTTPS or HTTP for tag latest"):
        resolve_oci(url, OciRef(), options())


def test_cosign_signatures_verify_only_with_the_right_key_for_the_right_artifact(
    oci_registry: OciRegistry, oci_repository: str, tmp_path: Path
) -> None:
    signed_digest = push(oci_registry, oci_repository, "v1.0.0", tmp_path)
    push(
        oci_registry,
        oci_repository,
        "v2.0.0",
        tmp_path,
        [(flux_tarball({"b": b"2"}), FLUX_CONTENT_MEDIA_TYPE)],
    )
    push(
        oci_registry,
        oci_repository,
        "v3.0.0",
        tmp_path,
        [(flux_tarball({"c": b"3"}), FLUX_CONTENT_MEDIA_TYPE)],
    )
    signer, stranger = generate_key_pair(b"pw"), generate_key_pair(b"")
    trusted = public_keys_from_secret({"cosign.pub": signer.public_pem})
    registry, repository = oci_repository.split("/", 1)
    signed = resolve(oci_repository, OciRef(tag="v1.0.0"))
    foreign = resolve(oci_repository, OciRef(tag="v2.0.0"))
    copied = resolve(oci_repository, OciRef(tag="v3.0.0"))

    started = time.perf_counter()
    sign_artifact(registry, repository, signed_digest, signer.private_key, options())
    print(f"sign: {(time.perf_counter() - started) * 1000:.1f} ms")
    sign_artifact(registry, repository, foreign.digest, stranger.private_key, options())
    copy_signature(signed, copied)

    started = time.perf_counter()
    verified = verify_cosign(signed, trusted, options())
    print(f"verify: {(time.perf_counter() - started) * 1000:.1f} ms")
    assert verified.key_name == "cosign.pub"
    with pytest.raises(
        KeyMismatch, match=r"no signature at tag .* verifies with the keys cosign\.pub"
    ):
        verify_cosign(foreign, trusted, options())
    with pytest.raises(PayloadMismatch, match=f"was made for {signed_digest}, not this artifact"):
        verify_cosign(copied, trusted, options())


def test_an_unsigned_artifact_says_so(
    oci_registry: OciRegistry, oci_repository: str, tmp_path: Path
) -> None:
    push(oci_registry, oci_repository, "v1.0.0", tmp_path)
    resolved = resolve(oci_repository, OciRef(tag="v1.0.0"))
    keys = public_keys_from_secret({"cosign.pub": generate_key_pair(b"").public_pem})

    with pytest.raises(
        NotSigned, match=f"is unsigned: no cosign signature at tag {signature_tag(resolved.digest)}"
    ):
        verify_cosign(resolved, keys, options())


def test_signing_again_adds_a_second_key_but_never_a_duplicate(
    oci_registry: OciRegistry, oci_repository: str, tmp_path: Path
) -> None:
    digest = push(oci_registry, oci_repository, "v1.0.0", tmp_path)
    resolved = resolve(oci_repository, OciRef(tag="v1.0.0"))
    first, second = generate_key_pair(b""), generate_key_pair(b"")
    registry, repository = oci_repository.split("/", 1)

    once = sign_artifact(registry, repository, digest, first.private_key, options())
    again = sign_artifact(registry, repository, digest, first.private_key, options())
    both = sign_artifact(registry, repository, digest, second.private_key, options())

    assert once == again != both
    for pair in (first, second):
        keys = public_keys_from_secret({"team.pub": pair.public_pem})
        assert verify_cosign(resolved, keys, options()).key_name == "team.pub"


def copy_signature(source: ResolvedArtifact, target: ResolvedArtifact) -> None:
    """Store `source`'s signature manifest as `target`'s, as an attacker replaying it would."""
    with RegistryClient(source.location, options(), push=True) as client:
        manifest = client.get_manifest(signature_tag(source.digest), "signature")
        client.push_manifest(signature_tag(target.digest), manifest.raw, OCI_MANIFEST, "copy")
