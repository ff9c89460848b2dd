"""TLS settings and proxies from Secret data, with the keys Flux reads."""

from __future__ import annotations

import ssl

import pytest

from ground.tls import TlsMaterial
from lockstep.sources.errors import InvalidSecret
from lockstep.sources.transport import proxy_from_secret, tls_from_secret

SECRET = "apps/registry-tls"


def test_a_ca_alone_is_trusted_besides_the_system_roots(tls_material: TlsMaterial) -> None:
    settings = tls_from_secret({"ca.crt": tls_material.ca}, SECRET)
    context = settings.ssl_context()

    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    subjects = [dict(entry[0] for entry in cert["subject"]) for cert in context.get_ca_certs()]
    assert {"commonName": "lockstep test CA"} in subjects
    assert len(subjects) > 1, "the system roots stay trusted"


def test_a_ca_can_replace_the_system_roots(tls_material: TlsMaterial) -> None:
    settings = tls_from_secret({"ca.crt": tls_material.ca}, SECRET, keep_system_roots=False)
    certificates = settings.ssl_context().get_ca_certs()
    assert [dict(entry[0] for entry in cert["subject"]) for cert in certificates] == [
        {"commonName": "lockstep test CA"}
    ]


def test_a_client_certificate_loads(tls_material: TlsMaterial) -> None:
    data = {"tls.crt": tls_material.client_cert, "tls.key": tls_material.client_key}
    settings = tls_from_secret(data, SECRET)
    assert settings.ca is None
    settings.ssl_context()  # loads the pair, or raises


def test_the_legacy_key_names_are_read(tls_material: TlsMaterial) -> None:
    data = {
        "caFile": tls_material.ca,
        "certFile": tls_material.client_cert,
        "keyFile": tls_material.client_key,
    }
    settings = tls_from_secret(data, SECRET)
    assert (settings.ca, settings.cert, settings.key) == (
        tls_material.ca,
        tls_material.client_cert,
        tls_material.client_key,
    )


@pytest.mark.parametrize(
    ("keys", "says"),
    [
        ({}, "must hold ca.crt, or tls.crt and tls.key"),
        ({"tls.crt"}, "has tls.crt but no tls.key"),
        ({"tls.key", "ca.crt"}, "has tls.key but no tls.crt"),
    ],
)
def test_incomplete_tls_secrets_say_what_is_missing(
    tls_material: TlsMaterial, keys: set[str], says: str
) -> None:
    values = {"ca.crt": tls_material.ca, "tls.crt": tls_material.client_cert, "tls.key": b"k"}
    with pytest.raises(InvalidSecret, match=f"Secret {SECRET} .*{says}"):
        tls_from_secret({key: values[key] for key in keys}, SECRET)


def test_malformed_pem_names_the_secret(tls_material: TlsMaterial) -> None:
    with pytest.raises(InvalidSecret, match=f"ca.crt of Secret {SECRET} is not a PEM"):
        tls_from_secret({"ca.crt": b"not a certificate"}, SECRET).ssl_context()
    mismatched = {"tls.crt": tls_material.client_cert, "tls.key": tls_material.server_key}
    with pytest.raises(InvalidSecret, match="not a matching PEM certificate and key"):
        tls_from_secret(mismatched, SECRET).ssl_context()


def test_a_proxy_with_credentials() -> None:
    proxy = proxy_from_secret(
        {"address": b"http://proxy.corp:3128", "username": b"me", "password": b"p@ss:w/rd"},
        SECRET,
    )
    assert proxy.url == "http://me:p%40ss%3Aw%2Frd@proxy.corp:3128"
    assert "p@ss" not in repr(proxy)


def test_a_proxy_without_credentials_or_with_a_user_only() -> None:
    assert proxy_from_secret({"address": b"https://proxy.corp"}, SECRET).url == (
        "https://proxy.corp"
    )
    alone = proxy_from_secret({"address": b"http://proxy.corp", "username": b"me"}, SECRET)
    assert alone.url == "http://me@proxy.corp"


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({}, "has no 'address' key"),
        ({"address": b"  "}, "the proxy address is empty"),
        ({"address": b"socks5://proxy.corp:1080"}, "socks5 proxies are not supported yet"),
        ({"address": b"ftp://proxy.corp"}, "must be an http:// or https:// URL"),
        ({"address": b"proxy.corp:3128"}, "must be an http:// or https:// URL"),
        ({"address": b"http://u:p@proxy.corp"}, "put the proxy credentials in 'username'"),
        ({"address": b"http://" + b"a" * 2048}, "longer than 2048 characters"),
    ],
)
def test_unusable_proxy_secrets_say_what_to_fix(data: dict[str, bytes], says: str) -> None:
    with pytest.raises(InvalidSecret, match=f"Secret {SECRET}.*{says}"):
        proxy_from_secret(data, SECRET)
