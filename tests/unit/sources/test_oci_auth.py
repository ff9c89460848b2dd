"""Reading what an OCIRepository names: its URL, its ref, its docker config, a challenge."""

from __future__ import annotations

import base64
import json

import pytest

from lockstep.api.source import OCIRepositoryRef
from lockstep.sources.credentials import BasicAuth
from lockstep.sources.errors import InvalidSecret, InvalidUrl
from lockstep.sources.oci import OciRef
from lockstep.sources.registry_auth import (
    DOCKER_CONFIG_KEY,
    Challenge,
    auth_from_docker_config,
    parse_challenge,
)
from lockstep.sources.registry_client import OciUrl, parse_oci_url


def docker_config(auths: object) -> dict[str, bytes]:
    return {DOCKER_CONFIG_KEY: json.dumps({"auths": auths}).encode()}


def basic(user_and_password: str) -> str:
    return base64.b64encode(user_and_password.encode()).decode()


@pytest.mark.parametrize(
    ("url", "parsed"),
    [
        ("oci://ghcr.io/acme/manifests", OciUrl("ghcr.io", "acme/manifests")),
        ("oci://127.0.0.1:5000/app", OciUrl("127.0.0.1:5000", "app")),
        ("oci://Registry.Example/a/b/c-d_e.f", OciUrl("registry.example", "a/b/c-d_e.f")),
    ],
)
def test_oci_urls_split_into_registry_and_repository(url: str, parsed: OciUrl) -> None:
    assert parse_oci_url(url) == parsed
    assert parsed.url == url.lower()


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("https://ghcr.io/acme/app", "must look like oci://"),
        ("oci://ghcr.io", "must look like oci://"),
        ("oci://ghcr.io/acme/app:v1.0.0", "no tag or digest"),
        ("oci://ghcr.io/acme/App", "lower-case"),
        ("oci://user:pass@ghcr.io/app", "credentials go in spec.secretRef"),
    ],
)
def test_unusable_urls_are_refused_with_what_to_fix(url: str, complaint: str) -> None:
    with pytest.raises(InvalidUrl, match=complaint):
        parse_oci_url(url)


def test_docker_hub_is_reached_on_its_api_host() -> None:
    assert parse_oci_url("oci://docker.io/acme/app").api_host == "registry-1.docker.io"
    assert parse_oci_url("oci://ghcr.io/acme/app").api_host == "ghcr.io"


def test_the_spec_ref_reads_empty_strings_as_unset() -> None:
    spec = OCIRepositoryRef(tag="", semver="^1", semverFilter="", digest="")

    assert OciRef.from_spec(spec) == OciRef(semver="^1")
    assert OciRef.from_spec(None) == OciRef()


@pytest.mark.parametrize(
    ("ref", "words"),
    [
        (OciRef(), "tag latest"),
        (OciRef(tag="v1"), "tag v1"),
        (OciRef(tag="v1", semver="^1"), "semver range '^1'"),
        (OciRef(semver="^1", semver_filter="-rc"), "semver range '^1' among tags matching '-rc'"),
        (OciRef(tag="v1", semver="^1", digest="sha256:ab"), "digest sha256:ab"),
    ],
)
def test_the_ref_that_takes_effect_is_described(ref: OciRef, words: str) -> None:
    assert ref.describe() == words


@pytest.mark.parametrize(
    "key", ["ghcr.io", "https://ghcr.io", "https://ghcr.io/v2/", "http://GHCR.io/"]
)
def test_an_auths_entry_matches_its_host_whatever_scheme_or_path(key: str) -> None:
    data = docker_config({key: {"auth": basic("bot:s3cret:with:colons")}})

    assert auth_from_docker_config(data, "ghcr.io") == BasicAuth("bot", "s3cret:with:colons")


def test_username_and_password_fields_serve_when_auth_is_absent() -> None:
    data = docker_config({"127.0.0.1:5000": {"username": "bot", "password": "pw"}})

    assert auth_from_docker_config(data, "127.0.0.1:5000") == BasicAuth("bot", "pw")


def test_docker_hub_credentials_are_found_under_any_of_its_names() -> None:
    data = docker_config({"https://index.docker.io/v1/": {"auth": basic("bot:pw")}})

    assert auth_from_docker_config(data, "docker.io") == BasicAuth("bot", "pw")


def test_a_registry_without_an_entry_is_pulled_anonymously() -> None:
    data = docker_config({"ghcr.io": {"auth": basic("bot:pw")}})

    assert auth_from_docker_config(data, "quay.io") is None
    assert auth_from_docker_config(data, "ghcr.io:443") is None


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        ({"username": b"bot"}, "has no .dockerconfigjson key"),
        ({DOCKER_CONFIG_KEY: b"{not json"}, "is not a JSON object"),
        ({DOCKER_CONFIG_KEY: b"[]"}, "is not a JSON object"),
        (docker_config(["ghcr.io"]), "must be an object"),
        (docker_config({"ghcr.io": "bot:pw"}), "must be an object"),
        (docker_config({"ghcr.io": {"auth": "%%%"}}), "is not base64"),
        (docker_config({"ghcr.io": {"auth": basic("no-colon")}}), "must encode username:password"),
        (docker_config({"ghcr.io": {"identitytoken": "t"}}), "tokens are not supported"),
    ],
)
def test_malformed_docker_configs_name_what_to_fix(data: dict[str, bytes], complaint: str) -> None:
    with pytest.raises(InvalidSecret, match=complaint):
        auth_from_docker_config(data, "ghcr.io")


def test_a_bearer_challenge_gives_realm_service_and_scope() -> None:
    header = (
        'Bearer realm="https://auth.example/token",service="registry.example",'
        'scope="repository:acme/app:pull,push"'
    )

    assert parse_challenge(header) == Challenge(
        "bearer",
        {
            "realm": "https://auth.example/token",
            "service": "registry.example",
            "scope": "repository:acme/app:pull,push",
        },
    )


def test_challenge_parameters_may_be_bare_or_escaped() -> None:
    challenge = parse_challenge(r'Basic realm="say \"hi\"", charset=UTF-8')

    assert challenge == Challenge("basic", {"realm": 'say "hi"', "charset": "UTF-8"})


def test_a_missing_challenge_is_none() -> None:
    assert parse_challenge("") is None
    assert parse_challenge("   ") is None
