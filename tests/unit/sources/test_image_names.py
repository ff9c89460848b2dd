"""Reading ``spec.image`` of an ImageRepository: registry, repository, canonical name."""

from __future__ import annotations

import pytest

from lockstep.sources.errors import InvalidUrl
from lockstep.sources.image_names import ImageName, parse_image_name


@pytest.mark.parametrize(
    ("image", "registry", "repository", "canonical"),
    [
        ("alpine", "docker.io", "library/alpine", "index.docker.io/library/alpine"),
        ("fluxcd/flux", "docker.io", "fluxcd/flux", "index.docker.io/fluxcd/flux"),
        ("docker.io/alpine", "docker.io", "library/alpine", "index.docker.io/library/alpine"),
        ("index.docker.io/acme/app", "docker.io", "acme/app", "index.docker.io/acme/app"),
        ("ghcr.io/acme/app", "ghcr.io", "acme/app", "ghcr.io/acme/app"),
        (
            "127.0.0.1:5000/kaval-labs/payment-api",
            "127.0.0.1:5000",
            "kaval-labs/payment-api",
            "127.0.0.1:5000/kaval-labs/payment-api",
        ),
        ("localhost/app", "localhost", "app", "localhost/app"),
        ("registry.example/a/b/c-d_e.f", "registry.example", "a/b/c-d_e.f", None),
    ],
)
def test_implied_parts_are_spelled_out(
    image: str, registry: str, repository: str, canonical: str | None
) -> None:
    name = parse_image_name(image)
    assert name == ImageName(registry, repository)
    assert name.canonical == (canonical or image)


def test_docker_hub_is_reached_on_its_api_host() -> None:
    assert parse_image_name("alpine").location.api_host == "registry-1.docker.io"


@pytest.mark.parametrize(
    ("image", "complaint"),
    [
        ("https://ghcr.io/acme/app", "remove 'https://'"),
        ("ghcr.io/acme/app:1.0.0", "remove ':1.0.0'"),
        ("alpine:3.20", "remove ':3.20'"),
        ("ghcr.io/acme/app@sha256:" + "0" * 64, "must not include a digest"),
        ("ghcr.io/acme/App", "lower-case"),
        ("ghcr.io/", "invalid repository name"),
        ("bad_host.io:x/app", "invalid registry host"),
    ],
)
def test_unusable_images_are_refused_naming_spec_image(image: str, complaint: str) -> None:
    with pytest.raises(InvalidUrl, match=r"spec\.image") as raised:
        parse_image_name(image)
    assert complaint in str(raised.value)
