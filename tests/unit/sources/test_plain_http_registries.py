"""Which registries are reached over plain HTTP without ``insecure``, and how.

The rule is go-containerregistry's, the client inside Flux: localhost, 127.0.0.1, ::1
and the RFC 1918 blocks get HTTPS first and HTTP when HTTPS cannot connect; every other
registry is HTTPS only unless ``insecure`` is set. The registry here is in memory; the
loopback one is in tests/integration/test_cli_artifact.py.
"""

from __future__ import annotations

import httpx2
import pytest

from lockstep.sources.errors import Unreachable
from lockstep.sources.registry_client import (
    OciUrl,
    RegistryClient,
    RegistryOptions,
    parse_oci_url,
    plain_http_allowed,
)
from unit.sources.image_registry import ImageRegistry


@pytest.mark.parametrize(
    ("registry", "allowed"),
    [
        ("localhost", True),
        ("localhost:5000", True),
        ("registry.localhost", True),
        ("registry.localhost:5000", True),
        ("127.0.0.1", True),
        ("127.0.0.1:5000", True),
        ("::1", True),
        ("[::1]:5000", True),
        ("10.1.2.3", True),
        ("10.1.2.3:5000", True),
        ("172.16.0.1", True),
        ("172.31.255.255:5000", True),
        ("192.168.1.10:443", True),
        # go-containerregistry names 127.0.0.1 only, not the whole loopback block.
        ("127.0.0.2:5000", False),
        ("172.15.0.1", False),
        ("172.32.0.1", False),
        ("192.169.0.1", False),
        ("11.0.0.1", False),
        ("8.8.8.8", False),
        ("localhost.example.com", False),
        ("mylocalhost:5000", False),
        ("ghcr.io", False),
        ("docker.io", False),
        ("10.example.com", False),
    ],
)
def test_plain_http_is_allowed_for_loopback_and_private_hosts_only(
    registry: str, allowed: bool
) -> None:
    assert plain_http_allowed(registry) is allowed


def test_an_ipv6_loopback_registry_url_parses() -> None:
    assert parse_oci_url("oci://[::1]:5000/team/app") == OciUrl("[::1]:5000", "team/app")


def schemes(registry: ImageRegistry) -> list[str]:
    return [request.split(" ")[1].split("://")[0] for request in registry.requests]


def test_a_loopback_registry_without_tls_is_reached_over_http_after_one_https_try() -> None:
    registry = ImageRegistry(host="127.0.0.1:5000", plain_http_only=True)
    registry.push("team/app", "1.0.0", "2.0.0")
    with RegistryClient(OciUrl("127.0.0.1:5000", "team/app"), registry.options()) as client:
        assert sorted(client.list_tags()) == ["1.0.0", "2.0.0"]
        client.manifest_digest("1.0.0", "tag 1.0.0")
        client.manifest_digest("2.0.0", "tag 2.0.0")
    assert schemes(registry) == ["https", "http", "http", "http"]


def test_a_private_registry_with_tls_stays_on_https() -> None:
    registry = ImageRegistry(host="192.168.1.10:5000")
    registry.push("team/app", "1.0.0")
    with RegistryClient(OciUrl("192.168.1.10:5000", "team/app"), registry.options()) as client:
        client.list_tags()
        client.manifest_digest("1.0.0", "tag 1.0.0")
    assert schemes(registry) == ["https", "https"]


def test_a_public_registry_without_tls_is_not_tried_over_http() -> None:
    registry = ImageRegistry(host="registry.test", plain_http_only=True)
    registry.push("team/app", "1.0.0")
    location = OciUrl("registry.test", "team/app")
    with (
        pytest.raises(Unreachable, match=r"over HTTPS .*spec\.insecure"),
        RegistryClient(location, registry.options()) as client,
    ):
        client.list_tags()
    assert schemes(registry) == ["https"]
    with RegistryClient(location, registry.options(insecure=True)) as client:
        assert client.list_tags() == ["1.0.0"]


def test_insecure_tries_https_then_http_for_any_registry() -> None:
    registry = ImageRegistry(host="registry.test", plain_http_only=True)
    registry.push("team/app", "1.0.0")
    options = registry.options(insecure=True)
    with RegistryClient(OciUrl("registry.test", "team/app"), options) as client:
        client.list_tags()
        client.manifest_digest("1.0.0", "tag 1.0.0")
    assert schemes(registry) == ["https", "http", "http"]


def test_a_loopback_registry_down_on_both_schemes_says_so() -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("connection refused", request=request)

    options = RegistryOptions(timeout=5.0, transport=httpx2.MockTransport(refuse))
    with (
        pytest.raises(Unreachable, match=r"over HTTPS or HTTP .*connection refused"),
        RegistryClient(OciUrl("localhost:5000", "team/app"), options) as client,
    ):
        client.list_tags()


def test_an_unreachable_token_service_does_not_move_the_registry_to_http() -> None:
    registry = ImageRegistry(host="10.0.0.5", auth="bearer")
    registry.push("team/app", "1.0.0")
    inner = registry.transport

    def token_down(request: httpx2.Request) -> httpx2.Response:
        if request.url.host != "10.0.0.5":
            raise httpx2.ConnectError("token service down", request=request)
        return inner.handle_request(request)

    options = RegistryOptions(timeout=5.0, transport=httpx2.MockTransport(token_down))
    with (
        pytest.raises(Unreachable, match="token service down"),
        RegistryClient(OciUrl("10.0.0.5", "team/app"), options) as client,
    ):
        client.list_tags()
    assert schemes(registry) == ["https"]
