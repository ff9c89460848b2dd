"""Scanning tags and resolving digests against an in-memory registry: pages, auth, faults,
the exclusion list, Flux's order of ``latestTags`` and its revision."""

from __future__ import annotations

import httpx2
import pytest

from lockstep.sources.errors import (
    AuthenticationFailed,
    RepositoryNotFound,
    ServerUnavailable,
    Unreachable,
)
from lockstep.sources.image_names import ImageName
from lockstep.sources.image_scan import (
    InvalidExclusionList,
    parse_exclusion_list,
    resolve_digest,
    scan_tags,
    tag_scan,
    tags_revision,
)
from unit.sources.image_registry import USER, ImageRegistry

IMAGE = ImageName("registry.test", "team/app")
SIGNATURES = parse_exclusion_list([r"^.*\.sig$"])


def test_latest_tags_are_the_ten_first_in_descending_alphabetical_order() -> None:
    """As Flux: byte order, descending, so 'v9' is above 'v10' and letters above digits."""
    tags = [f"1.0.{patch}" for patch in range(12)] + ["latest", "v10", "v9"]
    scan = tag_scan(tags, SIGNATURES)
    assert scan.latest_tags == (
        "v9",
        "v10",
        "latest",
        "1.0.9",
        "1.0.8",
        "1.0.7",
        "1.0.6",
        "1.0.5",
        "1.0.4",
        "1.0.3",
    )
    assert len(scan.tags) == 15


def test_revision_is_the_one_flux_reports_for_the_same_tags() -> None:
    """Values computed with Go's encoding/json and hash/adler32, as Flux computes them."""
    assert tags_revision(["1.3.0", "1.2.2", "1.2.1"]) == "1019872430"
    assert tags_revision(["v2", "v10", "latest"]) == "999032297"
    assert tags_revision([]) == "18153657"


def test_revision_ignores_the_order_the_registry_lists_tags_in() -> None:
    first = tag_scan(["1.2.1", "1.3.0", "1.2.2"], SIGNATURES)
    second = tag_scan(["1.3.0", "1.2.2", "1.2.1"], SIGNATURES)
    assert first == second
    assert first.revision == "1019872430"
    assert tag_scan(["1.2.1"], SIGNATURES).revision != first.revision


def test_default_exclusion_drops_cosign_signatures_only() -> None:
    scan = tag_scan(["1.0.0", "sha256-abc.sig", "sig", "1.0.0.sig.old"], SIGNATURES)
    assert scan.tags == ("sig", "1.0.0.sig.old", "1.0.0")


def test_every_pattern_of_the_exclusion_list_is_searched_anywhere_in_the_tag() -> None:
    exclusions = parse_exclusion_list(["^dev-", "rc"])
    scan = tag_scan(["dev-1", "1.0.0-rc.1", "1.0.0", "prod-dev-2"], exclusions)
    assert scan.tags == ("prod-dev-2", "1.0.0")


def test_a_pattern_that_does_not_compile_is_named() -> None:
    with pytest.raises(InvalidExclusionList, match=r"spec.exclusionList pattern '\(unclosed'"):
        parse_exclusion_list([r"^.*\.sig$", "(unclosed"])


def test_tags_are_read_across_every_page_of_the_list() -> None:
    registry = ImageRegistry(page_size=2)
    registry.push("team/app", "1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.3.0.sig")
    scan = scan_tags(IMAGE, SIGNATURES, registry.options())
    assert scan.tags == ("1.3.0", "1.2.0", "1.1.0", "1.0.0")
    pages = [r for r in registry.requests if "/tags/list" in r]
    assert len(pages) == 3


@pytest.mark.parametrize("scheme", ["basic", "bearer"])
def test_credentials_answer_the_registry_challenge(scheme: str) -> None:
    registry = ImageRegistry(auth=scheme)
    registry.push("team/app", "1.0.0")
    assert scan_tags(IMAGE, SIGNATURES, registry.options(auth=USER)).tags == ("1.0.0",)


@pytest.mark.parametrize("scheme", ["basic", "bearer"])
def test_missing_credentials_say_to_set_spec_secret_ref(scheme: str) -> None:
    registry = ImageRegistry(auth=scheme)
    registry.push("team/app", "1.0.0")
    with pytest.raises(AuthenticationFailed, match=r"spec\.secretRef"):
        scan_tags(IMAGE, SIGNATURES, registry.options())


@pytest.mark.parametrize("status", [429, 503])
def test_busy_or_failing_registries_are_worth_a_retry(status: int) -> None:
    registry = ImageRegistry()
    registry.push("team/app", "1.0.0")
    registry.fault = lambda request: httpx2.Response(status)
    with pytest.raises(ServerUnavailable, match=f"HTTP {status}"):
        scan_tags(IMAGE, SIGNATURES, registry.options())


def test_a_repository_the_registry_does_not_have_says_to_correct_spec_image() -> None:
    with pytest.raises(
        RepositoryNotFound, match=r"registry\.test/team/app does not exist.*spec\.image"
    ):
        scan_tags(IMAGE, SIGNATURES, ImageRegistry().options())


def test_a_loopback_registry_without_tls_is_scanned_over_plain_http() -> None:
    registry = ImageRegistry(host="127.0.0.1:5000", plain_http_only=True)
    registry.push("team/app", "1.0.0")
    scan = scan_tags(ImageName("127.0.0.1:5000", "team/app"), SIGNATURES, registry.options())
    assert scan.tags == ("1.0.0",)
    assert [r.split("://")[0] for r in registry.requests] == ["GET https", "GET http"]


def test_a_public_registry_without_tls_needs_spec_insecure() -> None:
    registry = ImageRegistry(plain_http_only=True)
    registry.push("team/app", "1.0.0")
    with pytest.raises(Unreachable, match=r"over HTTPS .*spec.insecure"):
        scan_tags(IMAGE, SIGNATURES, registry.options())
    assert scan_tags(IMAGE, SIGNATURES, registry.options(insecure=True)).tags == ("1.0.0",)


def test_the_digest_is_what_the_registry_reports_for_the_tag() -> None:
    registry = ImageRegistry(auth="bearer")
    digests = registry.push("team/app", "1.0.0", "1.1.0")
    assert resolve_digest(IMAGE, "1.1.0", registry.options(auth=USER)) == digests["1.1.0"]
    assert [r for r in registry.requests if "/manifests/" in r][-1].startswith("HEAD ")
