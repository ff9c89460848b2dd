"""Git credentials from the data of a Kubernetes Secret, as a GitRepository's secretRef holds them.

Keys read, by the scheme of the repository URL:

- ``http``/``https``: ``username`` and ``password`` for basic auth, or ``bearerToken``
  sent as ``Authorization: Bearer``; the two kinds together are refused as ambiguous.
- ``ssh``: ``identity`` (private key), optional ``identity.pub`` and ``password`` (the
  key's passphrase), and ``known_hosts``, which is required: lockstep never trusts an
  SSH server whose host key the Secret does not list.

Other keys, such as CA bundles, are left to their own readers. ``known_hosts`` is
checked here line by line (host patterns, key type, a base64 key blob that carries the
same type) so that a malformed Secret fails with the line to fix before any connection.
The host matching itself is libssh2's, through libgit2; see :mod:`lockstep.sources.git`.

Called by the GitRepository reconciler with the Secret it read, and by
:mod:`lockstep.sources.git`, which turns the result into libgit2 credentials.
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from lockstep.sources.errors import InvalidSecret, InvalidUrl

HTTP_SCHEMES = frozenset({"http", "https"})
SSH_SCHEME = "ssh"
SUPPORTED_SCHEMES = HTTP_SCHEMES | {SSH_SCHEME, "git", "file"}
"""Flux accepts http, https and ssh; git and file serve loopback tests and local mirrors."""


@dataclass(frozen=True)
class BasicAuth:
    """HTTP basic auth."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class BearerToken:
    """An HTTP bearer token, sent in the ``Authorization`` header of every request."""

    token: str = field(repr=False)


@dataclass(frozen=True)
class KnownHost:
    """One host key line of a known_hosts file: ``hosts key-type base64-key [comment]``."""

    hosts: str
    key_type: str
    key: bytes

    def line(self) -> str:
        """The entry in OpenSSH's format, without a comment."""
        return f"{self.hosts} {self.key_type} {base64.b64encode(self.key).decode('ascii')}"


@dataclass(frozen=True)
class SshKey:
    """An SSH private key and the host keys the server must present."""

    identity: str = field(repr=False)
    public_key: str | None
    passphrase: str | None = field(repr=False)
    known_hosts: tuple[KnownHost, ...]


GitAuth = BasicAuth | BearerToken | SshKey


def url_scheme(url: str) -> str:
    """The scheme of a repository URL; raises `InvalidUrl` for one lockstep cannot fetch."""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in SUPPORTED_SCHEMES:
        raise InvalidUrl(
            f"repository URL {redact_url(url)} must start with http://, https:// or ssh://; "
            "correct spec.url"
        )
    return scheme


def redact_url(url: str) -> str:
    """`url` without the password or token that may be written into it."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}@" if parts.username else ""
    return parts._replace(netloc=user + host).geturl()


def auth_from_secret(data: Mapping[str, bytes], url: str) -> GitAuth | None:
    """The credentials in a Secret's `data` for the repository at `url`; None if it has none."""
    scheme = url_scheme(url)
    values = {key: _text(data, key, url) for key in data}
    if scheme in HTTP_SCHEMES:
        return _http_auth(values, url)
    if scheme == SSH_SCHEME:
        return _ssh_key(values, url)
    if {"username", "password", "bearerToken", "identity"} & values.keys():
        raise InvalidSecret(
            f"{redact_url(url)} uses {scheme}://, which carries no credentials; "
            "use an https:// or ssh:// URL or remove spec.secretRef"
        )
    return None


def parse_known_hosts(text: str) -> tuple[KnownHost, ...]:
    """The host key lines of a known_hosts file; raises `InvalidSecret` naming a bad line.

    ``@cert-authority`` and ``@revoked`` lines are skipped: libssh2 checks plain host
    keys only, and only plain lines grant trust.
    """
    entries = []
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line or line.startswith("#") or line.startswith("@"):
            continue
        fields = line.split()
        if len(fields) < 3:
            raise InvalidSecret(
                f"known_hosts line {number} needs host patterns, a key type and a key; "
                "copy it from ssh-keyscan"
            )
        hosts, key_type, encoded = fields[:3]
        entries.append(KnownHost(hosts, key_type, _key_blob(encoded, key_type, number)))
    return tuple(entries)


def _http_auth(values: Mapping[str, str], url: str) -> GitAuth | None:
    username, password, token = (values.get(key) for key in ("username", "password", "bearerToken"))
    if token and (username or password):
        raise InvalidSecret(
            f"the Secret for {redact_url(url)} has both bearerToken and username/password; "
            "keep one of them"
        )
    if token:
        return BearerToken(token)
    if password and not username:
        raise InvalidSecret(
            f"the Secret for {redact_url(url)} has a password but no username; add username"
        )
    if username:
        return BasicAuth(username, password or "")
    return None


def _ssh_key(values: Mapping[str, str], url: str) -> SshKey:
    missing = [key for key in ("identity", "known_hosts") if not values.get(key)]
    if missing:
        raise InvalidSecret(
            f"the Secret for {redact_url(url)} lacks {' and '.join(missing)}, which SSH needs; "
            "add the private key as identity and the output of ssh-keyscan as known_hosts"
        )
    known_hosts = parse_known_hosts(values["known_hosts"])
    if not known_hosts:
        raise InvalidSecret(
            f"known_hosts in the Secret for {redact_url(url)} lists no host key; "
            "add the output of ssh-keyscan for the host"
        )
    return SshKey(
        identity=values["identity"],
        public_key=values.get("identity.pub") or None,
        passphrase=values.get("password") or None,
        known_hosts=known_hosts,
    )


def _text(data: Mapping[str, bytes], key: str, url: str) -> str:
    try:
        return data[key].decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidSecret(
            f"{key} in the Secret for {redact_url(url)} is not UTF-8 text; store it unencoded"
        ) from error


def _key_blob(encoded: str, key_type: str, number: int) -> bytes:
    """Decode a host key; its wire form starts with its own type, which must match the line."""
    try:
        blob = base64.b64decode(encoded, validate=True)
        (length,) = struct.unpack(">I", blob[:4])
        embedded_type = blob[4 : 4 + length].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError) as error:
        raise InvalidSecret(
            f"known_hosts line {number} has a key that is not valid base64 SSH key data; "
            "copy it again from ssh-keyscan"
        ) from error
    if embedded_type != key_type:
        raise InvalidSecret(
            f"known_hosts line {number} says {key_type} but its key is {embedded_type or 'empty'}; "
            "copy it again from ssh-keyscan"
        )
    return blob
