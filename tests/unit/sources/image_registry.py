"""An in-memory image registry behind `httpx2.MockTransport`, for the image scanning tests.

It speaks the part of the distribution API a scan and a digest lookup use: the tag
list in pages of ``page_size`` with ``Link`` headers, manifest HEAD with
``Docker-Content-Digest``, basic or token (bearer) challenges, injected faults, and a
registry that only speaks plain HTTP (HTTPS connections fail as a TLS handshake would).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable

import httpx2

from lockstep.sources.credentials import BasicAuth
from lockstep.sources.registry_client import OCI_MANIFEST, RegistryOptions

TOKEN_HOST = "auth.test"
USER = BasicAuth("alice", "s3cret")


def manifest_for(tag: str) -> bytes:
    """A distinct small manifest per tag, so that each tag has its own digest."""
    return json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "annotations": {"tag": tag}}
    ).encode()


def digest_of(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


class ImageRegistry:
    """Tags of one or more repositories on one host, with optional auth and faults."""

    def __init__(
        self,
        host: str = "registry.test",
        auth: str | None = None,
        page_size: int = 0,
        plain_http_only: bool = False,
    ) -> None:
        self.host = host
        self.auth = auth  # None, "basic" or "bearer"
        self.page_size = page_size
        self.plain_http_only = plain_http_only
        self.repositories: dict[str, dict[str, bytes]] = {}
        self.requests: list[str] = []
        self.fault: Callable[[httpx2.Request], httpx2.Response | None] = lambda request: None

    def options(self, auth: BasicAuth | None = None, insecure: bool = False) -> RegistryOptions:
        return RegistryOptions(auth=auth, insecure=insecure, timeout=5.0, transport=self.transport)

    @property
    def transport(self) -> httpx2.MockTransport:
        return httpx2.MockTransport(self)

    def push(self, repository: str, *tags: str) -> dict[str, str]:
        """Store a manifest under each tag; their digests by tag."""
        stored = self.repositories.setdefault(repository, {})
        for tag in tags:
            stored[tag] = manifest_for(tag)
        return {tag: digest_of(stored[tag]) for tag in tags}

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        self.requests.append(f"{request.method} {url.scheme}://{url.host}{url.raw_path.decode()}")
        if url.host == TOKEN_HOST:
            return self._token(request)
        if self.plain_http_only and url.scheme == "https":
            raise httpx2.ConnectError("[SSL] record layer failure", request=request)
        refused = self._refuse_unauthenticated(request)
        if refused is not None:
            return refused
        faulty = self.fault(request)
        if faulty is not None:
            return faulty
        path = url.path.removeprefix("/v2/")
        if path.endswith("/tags/list"):
            return self._tags(request, path.removesuffix("/tags/list"))
        repository, _, reference = path.partition("/manifests/")
        manifest = self.repositories.get(repository, {}).get(reference)
        if manifest is None:
            return httpx2.Response(404, json={"errors": [{"code": "MANIFEST_UNKNOWN"}]})
        headers = {"Docker-Content-Digest": digest_of(manifest), "Content-Type": OCI_MANIFEST}
        return httpx2.Response(200, headers=headers, content=manifest)

    def _tags(self, request: httpx2.Request, repository: str) -> httpx2.Response:
        if repository not in self.repositories:
            return httpx2.Response(404, json={"errors": [{"code": "NAME_UNKNOWN"}]})
        tags = sorted(self.repositories[repository])
        last = request.url.params.get("last")
        if last is not None:
            tags = [tag for tag in tags if tag > last]
        if not self.page_size or len(tags) <= self.page_size:
            return httpx2.Response(200, json={"name": repository, "tags": tags})
        page = tags[: self.page_size]
        link = f'</v2/{repository}/tags/list?n={self.page_size}&last={page[-1]}>; rel="next"'
        return httpx2.Response(200, json={"name": repository, "tags": page}, headers={"Link": link})

    def _refuse_unauthenticated(self, request: httpx2.Request) -> httpx2.Response | None:
        given = request.headers.get("Authorization", "")
        if self.auth == "basic":
            pair = base64.b64encode(f"{USER.username}:{USER.password}".encode()).decode()
            if given != f"Basic {pair}":
                return httpx2.Response(401, headers={"WWW-Authenticate": 'Basic realm="test"'})
        if self.auth == "bearer" and given != "Bearer t0ken":
            challenge = (
                f'Bearer realm="https://{TOKEN_HOST}/token",service="{self.host}",'
                'scope="repository:team/app:pull"'
            )
            return httpx2.Response(401, headers={"WWW-Authenticate": challenge})
        return None

    def _token(self, request: httpx2.Request) -> httpx2.Response:
        pair = base64.b64encode(f"{USER.username}:{USER.password}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {pair}":
            return httpx2.Response(401)
        return httpx2.Response(200, json={"token": "t0ken"})
