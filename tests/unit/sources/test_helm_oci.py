"""Charts in an OCI registry: versions resolved from tags, the chart layer pulled.

Charts are pushed by the real ``helm push`` to the loopback registry of the test ground,
so the manifests, media types and ``+`` → ``_`` tags are Helm's own. A manifest without
a chart layer is pushed with lockstep's registry client.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from ground.charts import Chart, Helm
from lockstep.dev.registry import OciRegistry
from lockstep.egress import Egress
from lockstep.sources.cosign import sign_artifact, verify_cosign
from lockstep.sources.errors import (
    AddressRefused,
    InvalidArtifact,
    InvalidRef,
    NoSemverMatch,
    RefNotFound,
    RepositoryNotFound,
    TooLarge,
)
from lockstep.sources.helm_oci import (
    HELM_CHART_MEDIA_TYPE,
    ResolvedChart,
    pull_oci_chart,
    resolve_oci_chart,
)
from lockstep.sources.oci import FLUX_CONFIG_MEDIA_TYPE, FLUX_CONTENT_MEDIA_TYPE
from lockstep.sources.registry_client import (
    OCI_MANIFEST,
    RegistryClient,
    RegistryOptions,
    parse_oci_url,
)

VERSIONS = ("1.0.0", "1.1.0+build.1", "2.0.0-rc.1")


def podinfo(version: str) -> Chart:
    return Chart("podinfo", version, templates={"cm.yaml": "kind: ConfigMap\n"})


class CountingTransport(httpx2.BaseTransport):
    """The network, with every request's method and path written down."""

    def __init__(self) -> None:
        self.network = httpx2.HTTPTransport()
        self.requests: list[str] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(f"{request.method} {request.url.path}")
        return self.network.handle_request(request)


@pytest.fixture
def helm(helm_binary: Path, tmp_path: Path) -> Helm:
    """The real helm for pushing only: it never reads the kubeconfig it is given."""
    return Helm(helm_binary, tmp_path / "no-kubeconfig", tmp_path / "helm-home")


@pytest.fixture
def charts(helm: Helm, oci_registry: OciRegistry, oci_repository: str) -> str:
    """``oci://<registry>/<path>`` holding podinfo at every version of `VERSIONS`."""
    path = oci_repository.split("/", 1)[1]
    for version in VERSIONS:
        helm.push(podinfo(version), oci_registry, path)
    return f"oci://{oci_repository}"


def test_an_exact_version_is_used_as_the_tag_without_listing_tags(charts: str) -> None:
    transport = CountingTransport()
    resolved = resolve_oci_chart(charts, "podinfo", "1.0.0", RegistryOptions(transport=transport))
    assert (resolved.name, resolved.version, resolved.artifact.tag) == ("podinfo", "1.0.0", "1.0.0")
    assert resolved.url == f"{charts}/podinfo"
    assert resolved.artifact.revision == f"1.0.0@{resolved.artifact.digest}"
    assert not any(request.endswith("/tags/list") for request in transport.requests)


def test_build_metadata_maps_to_an_underscore_tag(charts: str, tmp_path: Path) -> None:
    resolved = resolve_oci_chart(charts, "podinfo", "1.1.0+build.1")
    assert (resolved.version, resolved.artifact.tag) == ("1.1.0+build.1", "1.1.0_build.1")
    path = pull_oci_chart(resolved, tmp_path / "charts")
    assert path == tmp_path / "charts" / "podinfo-1.1.0+build.1.tgz"
    assert path.read_bytes() == podinfo("1.1.0+build.1").package()


@pytest.mark.parametrize(
    ("version_range", "version"),
    [
        ("", "1.1.0+build.1"),
        ("*", "1.1.0+build.1"),
        ("~1.0", "1.0.0"),
        (">=2.0.0-0", "2.0.0-rc.1"),
        ("^1", "1.1.0+build.1"),
    ],
)
def test_a_range_picks_the_highest_matching_tag(
    charts: str, version_range: str, version: str
) -> None:
    resolved = resolve_oci_chart(charts, "podinfo", version_range)
    assert resolved.version == version
    assert resolved.artifact.tag == version.replace("+", "_")


def test_no_matching_version_lists_the_versions_there(charts: str) -> None:
    with pytest.raises(NoSemverMatch) as caught:
        resolve_oci_chart(charts, "podinfo", ">=3")
    assert str(caught.value) == (
        f"no chart version of 'podinfo' at {charts}/podinfo matches '>=3': available "
        "2.0.0-rc.1, 1.1.0+build.1, 1.0.0; widen spec.version or push a matching version"
    )


def test_a_missing_version_or_chart_is_named(charts: str) -> None:
    with pytest.raises(RefNotFound, match=r"chart 'podinfo' version 9\.9\.9 not found at"):
        resolve_oci_chart(charts, "podinfo", "9.9.9")
    with pytest.raises(RepositoryNotFound, match=r"chart 'nginx' not found"):
        resolve_oci_chart(charts, "nginx", "*")


def test_invalid_chart_names_and_ranges_are_refused(charts: str) -> None:
    with pytest.raises(InvalidRef, match=r"chart name '\.\./x'"):
        resolve_oci_chart(charts, "../x", "*")
    with pytest.raises(InvalidRef, match=r"spec\.version of chart 'podinfo'"):
        resolve_oci_chart(charts, "podinfo", ">=1 <<2")


def test_a_manifest_without_a_chart_layer_is_refused(
    oci_registry: OciRegistry, oci_repository: str, tmp_path: Path
) -> None:
    location = parse_oci_url(f"oci://{oci_repository}/notachart")
    with RegistryClient(location, RegistryOptions(), push=True) as client:
        config = client.push_blob(b"{}", FLUX_CONFIG_MEDIA_TYPE, "config")
        layer = client.push_blob(b"\x1f\x8bnot a chart", FLUX_CONTENT_MEDIA_TYPE, "layer")
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config.to_json(),
            "layers": [layer.to_json()],
        }
        client.push_manifest("1.0.0", json.dumps(manifest).encode(), OCI_MANIFEST, "manifest")
    resolved = resolve_oci_chart(f"oci://{oci_repository}", "notachart", "1.0.0")
    with pytest.raises(InvalidArtifact) as caught:
        pull_oci_chart(resolved, tmp_path)
    assert str(caught.value) == (
        f"oci://{oci_repository}/notachart:1.0.0 has no Helm chart layers "
        f"({HELM_CHART_MEDIA_TYPE}), not one (its layers: {FLUX_CONTENT_MEDIA_TYPE}); "
        "push the chart with helm push"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_chart_over_the_limit_is_refused(charts: str, tmp_path: Path) -> None:
    resolved = resolve_oci_chart(charts, "podinfo", "1.0.0")
    dest = tmp_path / "charts"
    with pytest.raises(TooLarge):
        pull_oci_chart(resolved, dest, max_bytes=10)
    assert list(dest.iterdir()) == []


def test_egress_refuses_an_internal_registry(charts: str) -> None:
    options = RegistryOptions(egress=Egress.of(block_internal=True))
    with pytest.raises(AddressRefused, match=r"internal address"):
        resolve_oci_chart(charts, "podinfo", "*", options)


def test_the_resolved_chart_is_what_cosign_verifies(charts: str) -> None:
    resolved: ResolvedChart = resolve_oci_chart(charts, "podinfo", "1.0.0")
    key = ec.generate_private_key(ec.SECP256R1())
    location = resolved.artifact.location
    sign_artifact(location.registry, location.repository, resolved.artifact.digest, key)
    verified = verify_cosign(resolved.artifact, {"cosign.pub": key.public_key()})
    assert verified.key_name == "cosign.pub"
