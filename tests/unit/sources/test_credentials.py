"""Credentials from a Secret's data, known_hosts parsing, and URL checks.

SSH is covered here by parsing and by the libgit2 settings it changes; no SSH server
runs on the test ground yet, so no test connects over SSH.
"""

from __future__ import annotations

import base64
import struct
import time
from pathlib import Path

import pygit2
import pytest
from pygit2.enums import CredentialType

from lockstep.sources import git
from lockstep.sources.credentials import (
    BasicAuth,
    BearerToken,
    SshKey,
    auth_from_secret,
    parse_known_hosts,
    redact_url,
    url_scheme,
)
from lockstep.sources.errors import AuthenticationFailed, InvalidSecret, InvalidUrl, UnknownHostKey

HTTPS = "https://git.example/acme/infra.git"
SSH = "ssh://git@git.example:2222/acme/infra.git"


def host_key(key_type: str = "ssh-ed25519") -> str:
    name = key_type.encode()
    blob = struct.pack(">I", len(name)) + name + struct.pack(">I", 32) + bytes(range(32))
    return base64.b64encode(blob).decode()


KNOWN_HOSTS = f"""\
# scanned with ssh-keyscan
[git.example]:2222 ssh-ed25519 {host_key()} comment
@cert-authority *.example ssh-ed25519 {host_key()}
|1|c2FsdA==|aGFzaA== ssh-rsa {host_key("ssh-rsa")}
"""


def secret(**values: str) -> dict[str, bytes]:
    return {key.replace("_pub", ".pub"): value.encode() for key, value in values.items()}


def test_username_and_password_give_basic_auth() -> None:
    assert auth_from_secret(secret(username="bot", password="s3cret"), HTTPS) == BasicAuth(
        "bot", "s3cret"
    )


def test_a_username_alone_is_basic_auth_with_an_empty_password() -> None:
    assert auth_from_secret(secret(username="token-as-user"), HTTPS) == BasicAuth(
        "token-as-user", ""
    )


def test_a_bearer_token_is_its_own_kind() -> None:
    assert auth_from_secret(secret(bearerToken="t0ken"), HTTPS) == BearerToken("t0ken")


def test_secrets_without_credentials_give_none() -> None:
    assert auth_from_secret(secret(**{"ca.crt": "PEM"}), HTTPS) is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"bearerToken": "t", "username": "u"}, "both bearerToken and username/password"),
        ({"password": "p"}, "a password but no username"),
    ],
)
def test_ambiguous_http_secrets_are_refused(values: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidSecret, match=message):
        auth_from_secret(secret(**values), HTTPS)


def test_ssh_needs_an_identity_and_known_hosts() -> None:
    auth = auth_from_secret(
        secret(
            identity="PRIVATE",
            identity_pub="ssh-ed25519 AAA",
            password="pp",
            known_hosts=KNOWN_HOSTS,
        ),
        SSH,
    )

    assert isinstance(auth, SshKey)
    assert (auth.identity, auth.public_key, auth.passphrase) == ("PRIVATE", "ssh-ed25519 AAA", "pp")
    assert [entry.hosts for entry in auth.known_hosts] == [
        "[git.example]:2222",
        "|1|c2FsdA==|aGFzaA==",
    ]


@pytest.mark.parametrize(
    ("values", "missing"),
    [
        ({"known_hosts": KNOWN_HOSTS}, "lacks identity,"),
        ({"identity": "PRIVATE"}, "lacks known_hosts,"),
        ({"username": "u", "password": "p"}, "lacks identity and known_hosts"),
    ],
)
def test_ssh_without_identity_or_known_hosts_is_refused(
    values: dict[str, str], missing: str
) -> None:
    with pytest.raises(InvalidSecret, match=missing):
        auth_from_secret(secret(**values), SSH)


def test_known_hosts_with_only_comments_is_refused() -> None:
    with pytest.raises(InvalidSecret, match="lists no host key"):
        auth_from_secret(secret(identity="K", known_hosts="# nothing\n"), SSH)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("git.example ssh-ed25519\n", "line 1 needs host patterns, a key type and a key"),
        (
            f"# c\ngit.example ssh-ed25519 {host_key()[:-8]}!!\n",
            "line 2 has a key that is not valid base64",
        ),
        (f"git.example ssh-rsa {host_key()}\n", "line 1 says ssh-rsa but its key is ssh-ed25519"),
    ],
)
def test_malformed_known_hosts_lines_are_named(text: str, message: str) -> None:
    with pytest.raises(InvalidSecret, match=message):
        parse_known_hosts(text)


def test_known_hosts_entries_are_rewritten_without_comments() -> None:
    [entry, _] = parse_known_hosts(KNOWN_HOSTS)

    assert entry.line() == f"[git.example]:2222 ssh-ed25519 {host_key()}"


def test_git_protocol_carries_no_credentials() -> None:
    with pytest.raises(InvalidSecret, match="git://, which carries no credentials"):
        auth_from_secret(secret(username="u", password="p"), "git://127.0.0.1/repo.git")


def test_secret_values_must_be_text() -> None:
    with pytest.raises(InvalidSecret, match=r"password in the Secret .* is not UTF-8"):
        auth_from_secret({"username": b"u", "password": b"\xff\xfe"}, HTTPS)


@pytest.mark.parametrize("url", ["ftp://host/repo", "git@github.com:acme/infra.git", "/srv/repo"])
def test_unsupported_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidUrl, match="must start with http://, https:// or ssh://"):
        url_scheme(url)


def test_passwords_never_appear_in_shown_urls() -> None:
    assert (
        redact_url("https://bot:s3cret@git.example:8443/x.git")
        == "https://bot@git.example:8443/x.git"
    )
    assert redact_url(HTTPS) == HTTPS


def test_ssh_operations_see_only_the_secrets_known_hosts() -> None:
    key = SshKey("PRIVATE", None, None, parse_known_hosts(KNOWN_HOSTS))
    before = pygit2.settings.homedir

    with git._known_hosts_home(key, deadline=time.monotonic() + 60, url=SSH):
        home = Path(pygit2.settings.homedir or "")
        written = (home / ".ssh" / "known_hosts").read_text()

    assert written.splitlines() == [entry.line() for entry in key.known_hosts]
    assert pygit2.settings.homedir == before
    assert not home.exists()


def test_ssh_credentials_use_the_url_user_and_the_secrets_key() -> None:
    key = SshKey("PRIVATE", None, "pp", parse_known_hosts(KNOWN_HOSTS))
    callbacks = git._Callbacks(key, SSH, deadline=time.monotonic() + 60, timeout=60)

    offered = callbacks.credentials(SSH, "deploy", CredentialType.SSH_MEMORY)

    assert isinstance(offered, pygit2.KeypairFromMemory)
    assert offered.credential_tuple == ("deploy", None, "PRIVATE", "pp")
    with pytest.raises(AuthenticationFailed, match="rejected the credentials"):
        callbacks.credentials(SSH, "deploy", CredentialType.SSH_MEMORY)


def test_an_unknown_ssh_host_key_is_refused() -> None:
    key = SshKey("PRIVATE", None, None, parse_known_hosts(KNOWN_HOSTS))
    callbacks = git._Callbacks(key, SSH, deadline=time.monotonic() + 60, timeout=60)

    assert callbacks.certificate_check(None, True, b"git.example")
    with pytest.raises(UnknownHostKey, match=r"host key of git\.example .* is not in known_hosts"):
        callbacks.certificate_check(None, False, b"git.example")
