"""How the HTTP clients of sources reach a server: TLS settings and a proxy, from Secrets.

Two readers of Secret data, with the keys Flux's controllers read:

- `tls_from_secret` — a ``certSecretRef`` Secret: ``ca.crt`` (a CA bundle to trust) and
  ``tls.crt`` with ``tls.key`` (a client certificate), at least one of the two; the
  legacy ``caFile``, ``certFile`` and ``keyFile`` keys are read when the new ones are
  absent. `TlsSettings.ssl_context` turns them into an :class:`ssl.SSLContext`, either
  adding the CA to the system's roots (OCIRepository, as source-controller) or trusting
  it alone (ImageRepository, as image-reflector-controller).
- `proxy_from_secret` — a ``proxySecretRef`` Secret: ``address`` (an http or https proxy
  URL, required) and optional ``username`` and ``password``.

Used by the OCIRepository and ImageRepository reconcilers, which put the results in
:class:`lockstep.sources.registry_client.RegistryOptions`. Malformed data raises
:class:`lockstep.sources.errors.InvalidSecret` naming the Secret and the key to fix.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

from lockstep.sources.errors import InvalidSecret

CA_KEYS = ("ca.crt", "caFile")
CERT_KEYS = ("tls.crt", "certFile")
KEY_KEYS = ("tls.key", "keyFile")
"""Each key first, then its legacy spelling, which Flux still reads."""

PROXY_SCHEMES = ("http", "https")
"""Proxy schemes lockstep speaks; Flux also takes socks5, refused here with a clear message."""

MAX_PROXY_URL_LENGTH = 2048
"""The longest proxy address Flux accepts."""


@dataclass(frozen=True)
class TlsSettings:
    """A CA bundle to trust and/or a client certificate, all PEM."""

    ca: bytes | None = None
    cert: bytes | None = None
    key: bytes | None = field(default=None, repr=False)
    keep_system_roots: bool = True
    """Trust the CA in addition to the system's roots, not instead of them."""
    secret: str = ""
    """``namespace/name`` of the Secret, for messages."""

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that verifies servers (with the CA) and presents the certificate."""
        if self.ca is not None and not self.keep_system_roots:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        else:
            context = ssl.create_default_context()
        if self.ca is not None:
            try:
                context.load_verify_locations(cadata=self.ca.decode("ascii"))
            except (ssl.SSLError, ValueError) as error:
                raise InvalidSecret(
                    f"ca.crt of Secret {self.secret} is not a PEM certificate bundle ({error}); "
                    "correct the Secret"
                ) from error
        if self.cert is not None and self.key is not None:
            _load_client_certificate(context, self.cert, self.key, self.secret)
        return context


def tls_from_secret(
    data: Mapping[str, bytes], secret: str, keep_system_roots: bool = True
) -> TlsSettings:
    """The TLS settings of a certSecretRef Secret's `data`; `secret` names it in messages."""
    ca, cert, key = (_first(data, keys) for keys in (CA_KEYS, CERT_KEYS, KEY_KEYS))
    if (cert is None) != (key is None):
        present, missing = ("tls.crt", "tls.key") if key is None else ("tls.key", "tls.crt")
        raise InvalidSecret(
            f"Secret {secret} has {present} but no {missing}; a client certificate needs both"
        )
    if ca is None and cert is None:
        raise InvalidSecret(
            f"Secret {secret} must hold ca.crt, or tls.crt and tls.key, or all three; "
            "add them to the Secret"
        )
    return TlsSettings(ca, cert, key, keep_system_roots, secret)


@dataclass(frozen=True)
class ProxySettings:
    """An HTTP(S) proxy and the credentials it asks for."""

    address: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The address with the credentials in it, as HTTP clients take a proxy."""
        if self.username is None:
            return self.address
        parts = urlsplit(self.address)
        userinfo = quote(self.username, safe="")
        if self.password is not None:
            userinfo += ":" + quote(self.password, safe="")
        return parts._replace(netloc=f"{userinfo}@{parts.netloc}").geturl()


def proxy_from_secret(data: Mapping[str, bytes], secret: str) -> ProxySettings:
    """The proxy of a proxySecretRef Secret's `data`; `secret` names it in messages."""
    raw = data.get("address")
    if raw is None:
        raise InvalidSecret(f"Secret {secret} has no 'address' key; set it to the proxy URL")
    address = raw.decode("utf-8", errors="replace").strip()
    if not address:
        raise InvalidSecret(f"Secret {secret}: the proxy address is empty; set 'address'")
    if len(address) > MAX_PROXY_URL_LENGTH:
        raise InvalidSecret(
            f"Secret {secret}: the proxy address is longer than {MAX_PROXY_URL_LENGTH} characters"
        )
    parts = urlsplit(address)
    if parts.scheme == "socks5":
        raise InvalidSecret(
            f"Secret {secret}: socks5 proxies are not supported yet; use an http or https proxy"
        )
    if parts.scheme not in PROXY_SCHEMES or not parts.hostname:
        raise InvalidSecret(
            f"Secret {secret}: the proxy address {address!r} must be an http:// or https:// URL "
            "with a host"
        )
    if parts.username is not None:
        raise InvalidSecret(
            f"Secret {secret}: put the proxy credentials in 'username' and 'password', "
            "not in the address"
        )
    username, password = data.get("username"), data.get("password")
    return ProxySettings(
        address,
        username.decode() if username is not None else None,
        password.decode() if password is not None and username is not None else None,
    )


def _first(data: Mapping[str, bytes], keys: tuple[str, ...]) -> bytes | None:
    return next((data[key] for key in keys if data.get(key)), None)


def _load_client_certificate(context: ssl.SSLContext, cert: bytes, key: bytes, secret: str) -> None:
    """Python's ssl reads client certificates from files only: a private folder, then gone."""
    with tempfile.TemporaryDirectory(prefix="client-cert-") as folder:
        cert_path, key_path = Path(folder) / "tls.crt", Path(folder) / "tls.key"
        for path, content in ((cert_path, cert), (key_path, key)):
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as written:
                written.write(content)
        try:
            context.load_cert_chain(cert_path, key_path)
        except ssl.SSLError as error:
            raise InvalidSecret(
                f"tls.crt and tls.key of Secret {secret} are not a matching PEM certificate "
                f"and key ({error.reason or error}); correct the Secret"
            ) from error
