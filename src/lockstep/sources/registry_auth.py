"""Registry credentials and the ``WWW-Authenticate`` dance of the OCI distribution API.

Two parts, both used by :class:`lockstep.sources.registry_client.RegistryClient`:

- `auth_from_docker_config` reads the credentials for one registry out of a Secret of
  type kubernetes.io/dockerconfigjson, the kind ``spec.secretRef`` of an OCIRepository
  names. The OCIRepository reconciler calls it with the Secret's data and passes the
  result on in :class:`lockstep.sources.registry_client.RegistryOptions`.
- `ChallengeAuth` answers a registry's 401 as its challenge asks: ``Basic`` with the
  credentials, or ``Bearer`` with a token fetched from the challenge's realm, for its
  service and scope, with the credentials as basic auth or anonymously. The answer is
  kept for the rest of the client's operation, so only the first request pays the
  round trips. It plugs into httpx2 as an auth flow, so the token request travels the
  same transport and time limit as the rest.

Hand-written with the client, for the reasons its docstring gives.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx2

from lockstep.sources.credentials import BasicAuth
from lockstep.sources.errors import AuthenticationFailed, InvalidSecret, ServerUnavailable

DOCKER_CONFIG_KEY = ".dockerconfigjson"
"""The key of a kubernetes.io/dockerconfigjson Secret that holds the config."""

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
"""Docker Hub serves the registry API on another name than the one images carry."""

_DOCKER_HUB_ALIASES = frozenset({DOCKER_HUB, "index.docker.io", DOCKER_HUB_API})
_CHALLENGE_PARAM = re.compile(r'([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))')


@dataclass(frozen=True)
class Challenge:
    """A parsed ``WWW-Authenticate`` header: the scheme in lower case and its parameters."""

    scheme: str
    params: Mapping[str, str]


def auth_from_docker_config(data: Mapping[str, bytes], registry: str) -> BasicAuth | None:
    """The credentials for `registry` in a dockerconfigjson Secret's `data`; None if absent.

    An ``auths`` entry matches by host, whatever scheme or path its key carries (Docker
    writes ``https://index.docker.io/v1/``). It holds ``auth`` (base64 ``user:password``)
    or ``username`` and ``password``; token-only entries are refused as unsupported.
    """
    raw = data.get(DOCKER_CONFIG_KEY)
    if raw is None:
        raise InvalidSecret(
            f"the Secret for {registry} has no {DOCKER_CONFIG_KEY} key; create it with "
            "'kubectl create secret docker-registry'"
        )
    try:
        auths = json.loads(raw).get("auths", {})
    except (ValueError, AttributeError) as error:
        raise InvalidSecret(
            f"{DOCKER_CONFIG_KEY} in the Secret for {registry} is not a JSON object; "
            "create the Secret with 'kubectl create secret docker-registry'"
        ) from error
    if not isinstance(auths, dict):
        raise InvalidSecret(f"'auths' in {DOCKER_CONFIG_KEY} for {registry} must be an object")
    wanted = _host_aliases(registry.lower())
    for key, entry in auths.items():
        if _config_host(key) in wanted:
            return _entry_credentials(entry, registry)
    return None


def parse_challenge(header: str) -> Challenge | None:
    """The first challenge of a ``WWW-Authenticate`` header; None when there is none."""
    scheme, _, rest = header.strip().partition(" ")
    if not scheme:
        return None
    params = {
        match[1].lower(): re.sub(r"\\(.)", r"\1", match[2]) if match[2] else match[3]
        for match in _CHALLENGE_PARAM.finditer(rest)
    }
    return Challenge(scheme.lower(), params)


class ChallengeAuth(httpx2.Auth):
    """Answers the registry's ``WWW-Authenticate`` challenge, then reuses the answer."""

    def __init__(self, credentials: BasicAuth | None, scope: str, url: str, registry: str) -> None:
        self._credentials = credentials
        self._scope = scope
        self._url = url
        self._registry = registry
        self._authorization: str | None = None

    def auth_flow(
        self, request: httpx2.Request
    ) -> Generator[httpx2.Request, httpx2.Response, None]:
        if self._authorization is not None:
            request.headers["Authorization"] = self._authorization
        response = yield request
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if response.status_code != 401 or challenge is None:
            return
        if challenge.scheme == "basic":
            authorization = self._basic()
        elif challenge.scheme == "bearer" and challenge.params.get("realm"):
            token_request = self._token_request(challenge, request)
            authorization = self._bearer((yield token_request))
        else:
            return
        if authorization is None or authorization == self._authorization:
            return  # nothing new to offer: the 401 stands
        self._authorization = authorization
        request.headers["Authorization"] = authorization
        yield request

    def _basic(self) -> str | None:
        if self._credentials is None:
            return None
        pair = f"{self._credentials.username}:{self._credentials.password}".encode()
        return f"Basic {base64.b64encode(pair).decode('ascii')}"

    def _token_request(self, challenge: Challenge, request: httpx2.Request) -> httpx2.Request:
        params = {"scope": challenge.params.get("scope") or self._scope}
        if "service" in challenge.params:
            params["service"] = challenge.params["service"]
        basic = self._basic()
        return httpx2.Request(
            "GET",
            challenge.params["realm"],
            params=params,
            headers={"Authorization": basic} if basic else None,
            extensions={"timeout": request.extensions.get("timeout")},
        )

    def _bearer(self, response: httpx2.Response) -> str:
        response.read()
        where = f"{self._url}: the token service {response.request.url.host}"
        if response.status_code in (401, 403):
            hint = (
                "check the credentials in spec.secretRef"
                if self._credentials
                else f"set spec.secretRef to a docker-registry Secret for {self._registry}"
            )
            raise AuthenticationFailed(
                f"{where} refused a token (HTTP {response.status_code}); {hint}"
            )
        if response.status_code != 200:
            raise ServerUnavailable(
                f"{where} answered HTTP {response.status_code}; lockstep retries with backoff"
            )
        try:
            body = json.loads(response.content)
            token = body.get("token") or body.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise AuthenticationFailed(f"{where} answered without a token; check the registry")
        return f"Bearer {token}"


def _host_aliases(registry: str) -> frozenset[str]:
    return _DOCKER_HUB_ALIASES if registry in _DOCKER_HUB_ALIASES else frozenset({registry})


def _config_host(key: str) -> str:
    """The host of an ``auths`` key: ``https://index.docker.io/v1/`` → ``index.docker.io``."""
    without_scheme = key.split("://", 1)[-1]
    return without_scheme.split("/", 1)[0].lower()


def _entry_credentials(entry: Any, registry: str) -> BasicAuth:
    if not isinstance(entry, dict):
        raise InvalidSecret(
            f"the auths entry for {registry} in {DOCKER_CONFIG_KEY} must be an object"
        )
    encoded = entry.get("auth")
    if encoded:
        try:
            username, colon, password = (
                base64.b64decode(encoded, validate=True).decode().partition(":")
            )
        except (binascii.Error, UnicodeDecodeError, TypeError) as error:
            raise InvalidSecret(
                f"'auth' for {registry} in {DOCKER_CONFIG_KEY} is not base64 of "
                "username:password; recreate the Secret"
            ) from error
        if not colon or not username:
            raise InvalidSecret(
                f"'auth' for {registry} in {DOCKER_CONFIG_KEY} must encode username:password; "
                "recreate the Secret"
            )
        return BasicAuth(username, password)
    if entry.get("username"):
        return BasicAuth(str(entry["username"]), str(entry.get("password") or ""))
    raise InvalidSecret(
        f"the auths entry for {registry} in {DOCKER_CONFIG_KEY} has neither 'auth' nor "
        "'username'/'password' (identity and registry tokens are not supported); "
        "recreate the Secret with a username and password"
    )
