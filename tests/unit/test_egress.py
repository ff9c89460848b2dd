"""Which hosts ``--block-internal-addresses`` refuses: address literals and host names
resolved through /etc/hosts only, so no query leaves the machine."""

from __future__ import annotations

import pytest

from lockstep.egress import OPEN, Egress, EgressRefused, host_of

BLOCKING = Egress.of(True)


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://git.example.com/org/repo.git", "git.example.com"),
        ("ssh://git@git.example.com:2222/org/repo.git", "git.example.com"),
        ("git@github.com:org/repo.git", "github.com"),
        ("oci://ghcr.io/org/manifests", "ghcr.io"),
        ("http://user:secret@10.0.0.5:8080/repo", "10.0.0.5"),
        ("https://[fd00::1]:6443", "fd00::1"),
        ("git@[::1]:org/repo.git", "::1"),
        ("../sibling.git", ""),
        ("/srv/git/repo.git", ""),
        ("file:///srv/git/repo.git", ""),
    ],
)
def test_the_host_of_every_url_form_sources_take(url: str, host: str) -> None:
    assert host_of(url) == host


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.1",
        "169.254.169.254",  # the cloud metadata service
        "100.64.0.1",  # shared address space (carrier-grade NAT, some pod networks)
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fd00::1",
        "fe80::1",
        "::ffff:10.0.0.1",  # an IPv4 address written as IPv6
    ],
)
def test_internal_addresses_are_refused_naming_the_object_and_the_way_out(address: str) -> None:
    with pytest.raises(EgressRefused) as refused:
        BLOCKING.check_host(address, "GitRepository team-a/app")

    message = str(refused.value)
    assert message.startswith(f"GitRepository team-a/app: {address} is an internal address")
    assert "--allow-address" in message
    assert "\n" not in message


@pytest.mark.parametrize("address", ["8.8.8.8", "140.82.112.3", "2606:4700::1111"])
def test_global_addresses_pass(address: str) -> None:
    BLOCKING.check_host(address, "GitRepository team-a/app")


def test_a_name_is_refused_by_what_it_resolves_to() -> None:
    with pytest.raises(EgressRefused, match=r"localhost \((127\.0\.0\.1|::1)\) is an internal"):
        BLOCKING.check_url("http://localhost:3000/repo.git", "GitRepository team-a/app")


def test_a_name_that_does_not_resolve_is_left_to_the_client() -> None:
    BLOCKING.check_url("https://no-such-host.invalid/repo.git", "GitRepository team-a/app")


def test_allowed_networks_and_names_are_exceptions() -> None:
    egress = Egress.of(True, ["10.20.0.0/16", "192.168.7.7", "localhost", "*.corp.example"])

    egress.check_host("10.20.3.4", "x")
    egress.check_host("192.168.7.7", "x")
    egress.check_url("http://localhost:3000/repo.git", "x")
    egress.check_url("https://git.corp.example/repo.git", "x")
    egress.check_url("https://GIT.Corp.Example./repo.git", "x")
    with pytest.raises(EgressRefused):
        egress.check_host("10.21.0.1", "x")
    with pytest.raises(EgressRefused):
        egress.check_host("192.168.7.8", "x")


def test_a_wildcard_does_not_allow_a_lookalike_domain() -> None:
    egress = Egress.of(True, ["*.corp.example"])

    with pytest.raises(EgressRefused):
        egress.check_url("http://127.0.0.1/x", "x")
    assert not egress._host_allowed("evilcorp.example")
    assert not egress._host_allowed("corp.example")


def test_the_open_policy_checks_nothing() -> None:
    OPEN.check_url("http://169.254.169.254/latest/meta-data/", "x")
    assert Egress.of(False, ["10.0.0.0/8"]).open


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "git internal", "http://git.internal", "*"])
def test_an_allowed_entry_that_is_neither_network_nor_name_is_refused(entry: str) -> None:
    with pytest.raises(ValueError, match=r"--allow-address .* is neither a network"):
        Egress.of(True, [entry])
