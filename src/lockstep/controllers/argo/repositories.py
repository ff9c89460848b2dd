"""Argo CD's repository credentials for an Application's sources: which of Argo CD's
repository Secrets serves a source, and the Flux Secret data it becomes.

Argo CD reads Secrets of its own namespace labelled ``argocd.argoproj.io/secret-type``:

- ``repository``: one repository, ``url`` compared with the source's ``repoURL`` as
  Argo CD compares them (case, a trailing ``/`` or ``.git``, an SCP-like address and its
  ``ssh://`` form do not matter);
- ``repo-creds``: a credential template, ``url`` a prefix of the repositories it serves.

A source gets the credentials of the ``repository`` Secret of its URL when that Secret
holds any; otherwise those of the template with the longest matching prefix. A Secret
with ``project`` serves only Applications of that AppProject; among ``repository``
Secrets of one URL the one of the Application's project comes before an unscoped one,
as in Argo CD; a Secret scoped to another project is never used. Two departures, both
stricter than Argo CD: ``project`` scopes templates too, and a template's prefix matches
only up to a path boundary (``https://git.example/team`` serves
``https://git.example/team/app``, not ``https://git.example/teams`` nor
``https://git.example.evil``), so a credential is never sent to a host it was not
written for.

Keys mapped onto Flux's Secret keys (:func:`flux_secret_data`):

- Git over HTTP(S): ``username``/``password`` → ``username``/``password``,
  ``bearerToken`` → ``bearerToken``;
- Git over SSH: ``sshPrivateKey`` → ``identity`` (parsed here, so a key that does not
  parse is told before any fetch), and the host keys of ConfigMap
  ``argocd-ssh-known-hosts-cm`` (key ``ssh_known_hosts``) → ``known_hosts``. lockstep
  always checks the host key: ``insecureIgnoreHostKey`` (and ``insecure`` for SSH) is
  accepted, but the host must be listed there;
- a Helm repository: ``username``/``password``, and ``tlsClientCertData``/
  ``tlsClientCertKey`` → ``tls.crt``/``tls.key``; for an OCI registry (``oci://``, no
  scheme, ``enableOCI: "true"`` or ``type: oci``) the username and password become a
  ``.dockerconfigjson`` for the registry's host.

What lockstep cannot do is refused with :class:`RepositoryCredentialsError`, never
ignored: ``insecure`` TLS, ``proxy``, TLS client certificates for Git, GitHub App and
Google Cloud credentials, Git LFS. ``type`` and ``name`` change nothing of the fetch;
``forceHttpBasicAuth`` neither (lockstep answers the server's challenge with the
username and password).

When a source's fetch is refused, :func:`access_advice` says what to do in Argo CD's
terms (the Secret to add or correct) instead of the Flux object's ``spec.secretRef``.

Called by the Application reconciler (which Secret, which data) and by the controller
manager (which Applications a changed Secret concerns).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from lockstep.kube import KubeObject
from lockstep.runtime.informer import ObjectKey, object_key
from lockstep.sources.credentials import parse_known_hosts
from lockstep.sources.errors import InvalidSecret

SECRET_TYPE_LABEL = "argocd.argoproj.io/secret-type"
REPOSITORY = "repository"
TEMPLATE = "repo-creds"
KNOWN_HOSTS_CONFIGMAP = "argocd-ssh-known-hosts-cm"
KNOWN_HOSTS_KEY = "ssh_known_hosts"
DOCKER_CONFIG_KEY = ".dockerconfigjson"

SourceKind = Literal["git", "helm", "oci"]

_CREDENTIAL_KEYS = (
    "username",
    "password",
    "bearerToken",
    "sshPrivateKey",
    "tlsClientCertData",
    "tlsClientCertKey",
    "githubAppPrivateKey",
    "gcpServiceAccountKey",
)
_UNSUPPORTED = (
    ("githubAppPrivateKey", "GitHub App credentials"),
    ("gcpServiceAccountKey", "Google Cloud credentials"),
    ("proxy", "a proxy"),
    ("enableLfs", "Git LFS"),
)
_SCP_LIKE = re.compile(r"^(?P<user>[^@/:]+@[^/:]+):(?!//)")
_AUTH_SIGNS = ("spec.secretRef", "refused access", "requires credentials")


class RepositoryCredentialsError(Exception):
    """An Argo CD repository Secret (or the known hosts) cannot serve a source; the
    message names the Secret and says what to do."""


@dataclass(frozen=True)
class RepositorySecret:
    """One ``repository`` or ``repo-creds`` Secret, decoded."""

    namespace: str
    name: str
    type: str
    url: str
    project: str
    values: Mapping[str, str] = field(repr=False)
    uid: str
    version: str
    """The Secret's uid and resourceVersion: changes whenever the Secret does."""

    @property
    def where(self) -> str:
        return f"Argo CD {self.type} Secret {self.namespace}/{self.name}"

    @property
    def has_credentials(self) -> bool:
        return any(self.values.get(key) for key in _CREDENTIAL_KEYS)

    @property
    def oci(self) -> bool:
        return self.flag("enableOCI") or self.values.get("type") == "oci"

    def flag(self, key: str) -> bool:
        return self.values.get(key, "").strip().lower() == "true"


@dataclass(frozen=True)
class Credentials:
    """The credentials of one source: Flux Secret data, and where they come from."""

    secret: RepositorySecret
    data: Mapping[str, str] = field(repr=False)
    """Flux's keys, plain text."""
    version: str
    """Changes when the Argo CD Secret, or the known hosts it was given, change; no value
    of either can be learnt from it."""
    client_certificate: bool
    """Whether ``data`` holds ``tls.crt``/``tls.key`` (Flux's ``certSecretRef``)."""


def parse_secret(raw: KubeObject) -> RepositorySecret | None:
    """The repository Secret ``raw`` decoded; None for a Secret of another type."""
    metadata = raw.get("metadata") or {}
    kind = (metadata.get("labels") or {}).get(SECRET_TYPE_LABEL)
    if kind not in (REPOSITORY, TEMPLATE):
        return None
    values = {}
    for key, value in (raw.get("data") or {}).items():
        try:
            values[str(key)] = base64.b64decode(str(value)).decode("utf-8", "replace")
        except binascii.Error:
            values[str(key)] = ""
    return RepositorySecret(
        namespace=str(metadata.get("namespace") or ""),
        name=str(metadata.get("name") or ""),
        type=str(kind),
        url=values.get("url", "").strip(),
        project=values.get("project", "").strip(),
        values=values,
        uid=str(metadata.get("uid") or ""),
        version=f"{metadata.get('uid', '')}/{metadata.get('resourceVersion', '')}",
    )


def normalized_url(url: str) -> str:
    """``url`` as repository URLs are compared: lower case, an SCP-like address as its
    ``ssh://`` form, without the scheme ``ssh://`` or ``oci://``, a trailing ``/`` or
    ``.git``."""
    text = _SCP_LIKE.sub(r"\g<user>/", url.strip().lower())
    for scheme in ("ssh://", "oci://"):
        text = text.removeprefix(scheme)
    text = text.rstrip("/")
    return text.removesuffix(".git").rstrip("/")


def template_covers(prefix: str, url: str) -> bool:
    """Whether a template of URL ``prefix`` serves the repository at ``url``: the same
    URL, or one below it at a path boundary."""
    wanted, start = normalized_url(url), normalized_url(prefix)
    if not start:
        return False
    return wanted == start or wanted.startswith(start + "/")


def select(
    url: str, project: str, secrets: Iterable[RepositorySecret]
) -> tuple[RepositorySecret | None, RepositorySecret | None]:
    """The ``repository`` Secret of ``url`` and the template that covers it, each the one
    an Application of ``project`` may use (None when there is none)."""
    usable = [s for s in secrets if s.url and s.project in ("", project)]
    wanted = normalized_url(url)
    exact = [s for s in usable if s.type == REPOSITORY and normalized_url(s.url) == wanted]
    repository = min(exact, key=lambda s: (s.project == "", s.name), default=None)
    templates = [s for s in usable if s.type == TEMPLATE and template_covers(s.url, url)]
    template = min(
        templates,
        key=lambda s: (-len(normalized_url(s.url)), s.project == "", s.name),
        default=None,
    )
    return repository, template


def credentials_for(
    url: str,
    project: str,
    kind: SourceKind,
    secrets: Iterable[RepositorySecret],
    known_hosts: KubeObject | None,
) -> Credentials | None:
    """The credentials a source of ``kind`` at ``url`` of an Application of ``project``
    fetches with; None when no Secret gives any. ``known_hosts``: the ConfigMap
    ``argocd-ssh-known-hosts-cm``, if it exists."""
    repository, template = select(url, project, secrets)
    chosen = repository if repository is not None and repository.has_credentials else template
    if chosen is None or not chosen.has_credentials:
        return None
    hosts = ""
    version = chosen.version
    if kind == "git" and _scheme(url) == "ssh":
        hosts = _known_hosts(chosen, known_hosts)
        version += "/" + str(((known_hosts or {}).get("metadata") or {}).get("resourceVersion"))
    data = flux_secret_data(kind, url, chosen, hosts)
    return Credentials(
        secret=chosen,
        data=data,
        version=hashlib.sha256(version.encode()).hexdigest()[:16],
        client_certificate="tls.crt" in data,
    )


def is_oci_chart(url: str, secrets: Iterable[RepositorySecret], project: str) -> bool:
    """Whether a chart at ``url`` is in an OCI registry: ``oci://``, no scheme, or a
    repository Secret of the URL that says so (``enableOCI``, ``type: oci``)."""
    if url.startswith("oci://") or "://" not in url:
        return True
    repository, _ = select(url, project, secrets)
    return repository is not None and repository.oci


def flux_secret_data(
    kind: SourceKind, url: str, secret: RepositorySecret, known_hosts: str = ""
) -> dict[str, str]:
    """The Flux Secret data of ``secret``'s credentials for a source of ``kind`` at
    ``url`` (``known_hosts``: the host keys, for SSH); raises
    :class:`RepositoryCredentialsError` for what lockstep cannot do."""
    values = secret.values
    for key, what in _UNSUPPORTED:
        if values.get(key) and (key != "enableLfs" or secret.flag(key)):
            raise RepositoryCredentialsError(
                f"{secret.where} asks for {what} ({key}), which lockstep does not support "
                f"yet; remove {key} from the Secret"
            )
    ssh = kind == "git" and _scheme(url) == "ssh"
    if secret.flag("insecure") and not ssh:
        raise RepositoryCredentialsError(
            f"{secret.where} asks to skip TLS verification (insecure), which lockstep does "
            "not do; serve the repository with a certificate the system trusts and remove "
            "insecure"
        )
    if ssh:
        return {"identity": _ssh_key(secret), "known_hosts": known_hosts}
    data = {key: values[key] for key in ("username", "password") if values.get(key)}
    if data.get("password") and not data.get("username"):
        raise RepositoryCredentialsError(
            f"{secret.where} has a password but no username; add username"
        )
    tls = {k: values[k] for k in ("tlsClientCertData", "tlsClientCertKey") if values.get(k)}
    if kind == "git":
        if tls:
            raise RepositoryCredentialsError(
                f"{secret.where} holds a TLS client certificate, which lockstep cannot use "
                "for Git yet; remove tlsClientCertData and tlsClientCertKey"
            )
        if values.get("bearerToken"):
            data["bearerToken"] = values["bearerToken"]
        return data
    if tls:
        if len(tls) == 1:
            raise RepositoryCredentialsError(
                f"{secret.where} needs both tlsClientCertData and tlsClientCertKey; add the "
                "missing one"
            )
        data.update({"tls.crt": tls["tlsClientCertData"], "tls.key": tls["tlsClientCertKey"]})
    if kind == "oci" and "username" in data:
        data[DOCKER_CONFIG_KEY] = _docker_config(
            url, data.pop("username"), data.pop("password", "")
        )
    return data


def access_advice(message: str, url: str, origin: str, namespace: str) -> str:
    """``message`` of a source that failed, told in Argo CD's terms when the repository
    refused access or its host key is unknown (``origin``: the Argo CD Secret the
    credentials came from, empty for none; ``namespace``: Argo CD's); as it is otherwise."""
    if not any(sign in message for sign in (*_AUTH_SIGNS, "known_hosts")):
        return message
    happened = (message.rpartition("; ")[0] or message).replace(" of spec.secretRef", "")
    if "known_hosts" in message and "host key" in message:
        return (
            f"{happened}; add the host's key (ssh-keyscan) to {KNOWN_HOSTS_KEY} of ConfigMap "
            f"{namespace}/{KNOWN_HOSTS_CONFIGMAP}"
        )
    if not origin:
        return (
            f"{happened}; add a Secret labelled {SECRET_TYPE_LABEL}: {REPOSITORY} with url "
            f"{url} and its credentials (or a {TEMPLATE} template covering it) to namespace "
            f"{namespace}"
        )
    return f"{happened}; correct the credentials of {origin}"


def concerned_applications(
    secret: KubeObject, previous: KubeObject | None, applications: Iterable[KubeObject]
) -> list[ObjectKey]:
    """The Applications with a source the repository Secret ``secret`` (or what it was
    before, ``previous``) may serve."""
    parsed = [s for s in (parse_secret(secret), parse_secret(previous or {})) if s and s.url]
    concerned = []
    for application in applications:
        spec = application.get("spec") or {}
        sources = [spec.get("source") or {}, *(spec.get("sources") or [])]
        urls = [str(s.get("repoURL") or "") for s in sources if isinstance(s, Mapping)]
        if any(_serves(s, url) for s in parsed for url in urls if url):
            concerned.append(object_key(application))
    return concerned


def _serves(secret: RepositorySecret, url: str) -> bool:
    if secret.type == REPOSITORY:
        return normalized_url(secret.url) == normalized_url(url)
    return template_covers(secret.url, url)


def _scheme(url: str) -> str:
    if _SCP_LIKE.match(url) and "://" not in url:
        return "ssh"
    return urlsplit(url).scheme.lower()


def _ssh_key(secret: RepositorySecret) -> str:
    key = secret.values.get("sshPrivateKey", "")
    if not key.strip():
        raise RepositoryCredentialsError(
            f"{secret.where} has no sshPrivateKey for an SSH URL; add the private key"
        )
    problem = _key_problem(key.encode())
    if problem:
        raise RepositoryCredentialsError(
            f"sshPrivateKey of {secret.where} {problem}; store the unencrypted private key "
            "in OpenSSH or PEM format"
        )
    return key if key.endswith("\n") else key + "\n"


def _key_problem(key: bytes) -> str:
    """Why ``key`` is not a usable private key; empty when it is."""
    loaders = (serialization.load_ssh_private_key, serialization.load_pem_private_key)
    encrypted = False
    for load in loaders:
        try:
            load(key, password=None)
        except TypeError:
            encrypted = True
        except (ValueError, UnsupportedAlgorithm):
            continue
        else:
            return ""
    return "is encrypted with a passphrase" if encrypted else "does not parse as a private key"


def _known_hosts(secret: RepositorySecret, config_map: KubeObject | None) -> str:
    where = f"ConfigMap {secret.namespace}/{KNOWN_HOSTS_CONFIGMAP}"
    text = str(((config_map or {}).get("data") or {}).get(KNOWN_HOSTS_KEY) or "")
    skip = " (lockstep checks host keys even with insecureIgnoreHostKey)"
    skipping = secret.flag("insecureIgnoreHostKey") or secret.flag("insecure")
    try:
        entries = parse_known_hosts(text)
    except InvalidSecret as error:
        raise RepositoryCredentialsError(f"{where}: {error}") from error
    if not entries:
        raise RepositoryCredentialsError(
            f"{secret.where} is for an SSH URL, but {where} lists no host key under "
            f"{KNOWN_HOSTS_KEY}{skip if skipping else ''}; add the output of ssh-keyscan for "
            "the host"
        )
    return "".join(entry.line() + "\n" for entry in entries)


def _docker_config(url: str, username: str, password: str) -> str:
    registry = url.removeprefix("oci://").split("/", 1)[0]
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    entry: dict[str, Any] = {"username": username, "password": password, "auth": token}
    return json.dumps({"auths": {registry: entry}}, sort_keys=True)
