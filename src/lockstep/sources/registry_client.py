"""A small client for the OCI distribution API: the part that pulling and signing need.

Used by :mod:`lockstep.sources.oci` (resolve a ref, pull a layer) and
:mod:`lockstep.sources.cosign` (read and write signatures), which the OCIRepository
reconciler calls from its thread pool, and by :mod:`lockstep.sources.oci_push` (push,
tag and list artifacts) for the ``lockstep push/tag/list artifact`` commands. One `RegistryClient` serves one operation on one
repository; the subset of the API it speaks:

- ``GET /v2/<name>/tags/list``, following ``Link: <...>; rel="next"`` pages;
- ``HEAD`` and ``GET /v2/<name>/manifests/<tag or digest>``, accepting OCI and Docker v2
  manifests and indexes, so the digest answered is that of the stored manifest;
- ``GET /v2/<name>/blobs/<digest>``, streamed, size-limited and hashed as it arrives;
- monolithic blob upload (``POST``, then ``PUT ?digest=``) and manifest ``PUT``;
- authentication as the registry's ``WWW-Authenticate`` asks, through
  :class:`lockstep.sources.registry_auth.ChallengeAuth`.

Why hand-written: oras-py, the maintained Python OCI client, is built on requests, ships
no type hints (mypy runs strict here), returns manifests as parsed dicts without their
bytes or digest, retries failed requests by sleeping inside the call, and has no
manifest HEAD, which a cheap poll needs. The subset above is small; it runs over httpx2,
which lightkube already brings in, and whose transports let tests count requests.

The scheme follows the rule of go-containerregistry, the client inside Flux's controllers
and ``flux push artifact``: HTTPS; and with ``insecure``, or for registries that
commonly run without TLS (`plain_http_allowed`: localhost, 127.0.0.1, ::1 and the RFC
1918 private blocks), HTTPS first, then plain HTTP when HTTPS cannot connect, the
scheme that answered kept for the rest of the operation. TLS takes a custom CA and a
client certificate, or skips verification where Flux does; requests may go through a
proxy (:mod:`lockstep.sources.transport`).

Credentials and the challenge flow live in :mod:`lockstep.sources.registry_auth`. Failures are those of :mod:`lockstep.sources.errors`:
401/403 → AuthenticationFailed, 404 → what the call names as missing, 429/5xx →
ServerUnavailable, no connection → Unreachable, past the time limit → FetchTimeout.
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import json
import re
import ssl
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

import httpx2

from lockstep import __version__
from lockstep.egress import OPEN, Egress, EgressRefused
from lockstep.sources.credentials import BasicAuth
from lockstep.sources.errors import (
    AddressRefused,
    AuthenticationFailed,
    DigestMismatch,
    FetchTimeout,
    InvalidArtifact,
    InvalidUrl,
    RefNotFound,
    RepositoryNotFound,
    ServerUnavailable,
    SourceError,
    TooLarge,
    Unreachable,
)
from lockstep.sources.registry_auth import DOCKER_HUB, DOCKER_HUB_API, ChallengeAuth
from lockstep.sources.transport import ProxySettings, TlsSettings

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_MEDIA_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX, DOCKER_MANIFEST_LIST)

DEFAULT_TIMEOUT_SECONDS = 60.0
"""Flux's default ``spec.timeout`` for OCI operations."""

MAX_MANIFEST_BYTES = 4 * 1024 * 1024
"""Manifests larger than this are refused; the distribution registry stores none larger."""

MAX_TAG_PAGES = 1000
"""A tag list that pages on past this is treated as a registry fault."""

_SHA256_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_REGISTRY_HOST = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(?::[0-9]{1,5})?")
_PORT = r"(?::[0-9]{1,5})?"
_PLAIN_HTTP_NAMES = (
    re.compile(rf"localhost{_PORT}"),
    re.compile(rf".*\.localhost{_PORT}"),
    re.compile(rf"127\.0\.0\.1{_PORT}"),
    re.compile(rf"::1|\[::1\]{_PORT}"),
)
_PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(block) for block in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)
_REPOSITORY = re.compile(
    r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)


@dataclass(frozen=True)
class OciUrl:
    """An ``oci://host[:port]/repository`` URL taken apart."""

    registry: str
    """``host[:port]`` as written in the URL."""

    repository: str

    @property
    def url(self) -> str:
        return f"oci://{self.registry}/{self.repository}"

    @property
    def api_host(self) -> str:
        """The host that serves the API: Docker Hub answers on another name than its own."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry


@dataclass(frozen=True)
class RegistryOptions:
    """How to reach a registry; shared by every call of :mod:`lockstep.sources.oci`."""

    auth: BasicAuth | None = None
    """Credentials for the registry, from `auth_from_docker_config`; None for anonymous."""

    insecure: bool = False
    """Plain HTTP when HTTPS cannot connect, as ``spec.insecure`` asks. Without it, only
    registries that `plain_http_allowed` names are tried over HTTP."""

    skip_tls_verify: bool = False
    """HTTPS without checking the server's certificate: OCIRepository's ``spec.insecure``
    without ``certSecretRef`` and ``--insecure`` of the artifact commands, as in Flux."""

    tls: TlsSettings | None = None
    """A CA to trust and/or a client certificate, from ``spec.certSecretRef``."""

    proxy: ProxySettings | None = None
    """The proxy of ``spec.proxySecretRef``; None for a direct connection."""

    timeout: float = DEFAULT_TIMEOUT_SECONDS
    """Time limit in seconds for the whole operation, not for each request."""

    transport: httpx2.BaseTransport | None = field(default=None, repr=False)
    """Where requests go; None for the network. Tests wrap it to count requests."""

    egress: Egress = OPEN
    """Which hosts may be asked: the registry's, and those of its token service and its
    blob redirects, each request checked as it is sent."""


def default_registry_options() -> RegistryOptions:
    """Anonymous HTTPS with Flux's default time limit."""
    return RegistryOptions()


@dataclass(frozen=True)
class Descriptor:
    """A content descriptor of a manifest: what a blob is, its digest and size."""

    media_type: str
    digest: str
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The descriptor as manifests write it, fields in the order Go tools write them."""
        written: dict[str, Any] = {
            "mediaType": self.media_type,
            "size": self.size,
            "digest": self.digest,
        }
        if self.annotations:
            written["annotations"] = dict(self.annotations)
        return written


@dataclass(frozen=True)
class Manifest:
    """A manifest as the registry stores it: its bytes, their digest, and what they list."""

    digest: str
    media_type: str
    raw: bytes = field(repr=False)
    layers: tuple[Descriptor, ...]
    annotations: Mapping[str, str]


def parse_oci_url(url: str) -> OciUrl:
    """Split ``oci://host[:port]/repository``; raises `InvalidUrl` naming what to fix."""
    rest = url.removeprefix("oci://")
    registry, _, repository = rest.partition("/")
    if rest == url or not registry or not repository:
        raise InvalidUrl(
            f"OCI repository URL {url!r} must look like oci://registry.example/org/repo; "
            "correct spec.url"
        )
    if "@" in registry or not _REGISTRY_HOST.fullmatch(registry):
        raise InvalidUrl(
            f"{url!r} has an invalid registry host {registry!r}; write host or host:port "
            "without credentials in spec.url (credentials go in spec.secretRef)"
        )
    if not _REPOSITORY.match(repository):
        raise InvalidUrl(
            f"{url!r} has an invalid repository name {repository!r}: lower-case letters, "
            "digits and . _ - / only, no tag or digest; put the tag in spec.ref"
        )
    return OciUrl(registry.lower(), repository)


def plain_http_allowed(registry: str) -> bool:
    """Whether `registry` (``host[:port]``) is tried over HTTP when HTTPS cannot connect.

    go-containerregistry's rule, which Flux inherits: ``localhost`` and ``*.localhost``,
    ``127.0.0.1`` and ``::1`` (other loopback addresses are not named), and addresses in
    the RFC 1918 blocks 10/8, 172.16/12 and 192.168/16. Host names are not resolved.
    """
    if any(pattern.fullmatch(registry) for pattern in _PLAIN_HTTP_NAMES):
        return True
    try:
        address = ipaddress.ip_address(registry.split(":", 1)[0])
    except ValueError:
        return False
    return any(address in block for block in _PRIVATE_NETWORKS)


def is_digest(value: str) -> bool:
    """Whether `value` is a ``sha256:<64 hex>`` digest, the one algorithm handled here."""
    return _SHA256_DIGEST.match(value) is not None


def sha256_digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


class RegistryClient:
    """Requests to one repository for one operation, within one time limit.

    `push` asks token services for push rights too. Use as a context manager.
    """

    def __init__(self, location: OciUrl, options: RegistryOptions, push: bool = False) -> None:
        self.location = location
        self._options = options
        self._deadline = time.monotonic() + options.timeout
        scope = f"repository:{location.repository}:{'pull,push' if push else 'pull'}"
        self._plain_http = False
        self._may_fall_back = options.insecure or plain_http_allowed(location.registry)
        transport = options.transport
        self._http = httpx2.Client(
            base_url=self._base_url(),
            auth=ChallengeAuth(options.auth, scope, location.url, location.registry),
            transport=_BorrowedTransport(transport) if transport is not None else None,
            verify=_verification(options),
            proxy=options.proxy.url if options.proxy else None,
            follow_redirects=True,  # blobs are often served from a storage host
            headers={"User-Agent": f"lockstep/{__version__}"},
            event_hooks={"request": [self._check_address]} if not options.egress.open else None,
        )

    def _check_address(self, request: httpx2.Request) -> None:
        """Refuse a request to an internal host, when the options' egress refuses those."""
        try:
            self._options.egress.check_host(request.url.host, self.location.url)
        except EgressRefused as error:
            raise AddressRefused(str(error)) from None

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._http.close()

    def list_tags(self) -> list[str]:
        """Every tag of the repository, across all pages of the list."""
        path = f"/v2/{self.location.repository}/tags/list"
        tags: list[str] = []
        for _ in range(MAX_TAG_PAGES):
            response = self._send("GET", path, "the tag list")
            if response.status_code == 404:
                raise RepositoryNotFound(
                    f"{self.location.url} does not exist on the registry; correct spec.url "
                    "or push an artifact to it"
                )
            self._expect(response, 200, "the tag list")
            page = _json_object(response.content, f"{self.location.url}: the tag list")
            tags.extend(str(tag) for tag in page.get("tags") or [])
            path = response.links.get("next", {}).get("url", "")
            if not path:
                return tags
        raise ServerUnavailable(
            f"{self.location.url}: the tag list has more than {MAX_TAG_PAGES} pages; "
            "check the registry"
        )

    def manifest_digest(self, reference: str, what: str) -> str:
        """The digest of the manifest at `reference` (tag or digest), by one HEAD request.

        `what` names the reference in messages, as ``tag v1.0.0``. Registries that answer
        HEAD without ``Docker-Content-Digest`` cost a GET of the manifest instead.
        """
        response = self._send("HEAD", self._manifest_path(reference), what, _accept_manifests())
        self._expect(response, 200, what)
        digest = response.headers.get("Docker-Content-Digest", "")
        if not is_digest(digest):
            return self.get_manifest(reference, what).digest
        if is_digest(reference) and digest != reference:
            raise DigestMismatch(
                f"{self.location.url}: the registry answered {digest} for {what}; "
                "the registry is faulty or tampered with"
            )
        return digest

    def get_manifest(self, reference: str, what: str) -> Manifest:
        """The manifest at `reference`, its digest computed from the bytes received."""
        headers = _accept_manifests()
        with self._stream("GET", self._manifest_path(reference), what, headers) as response:
            self._expect(response, 200, what)
            raw = self._read_limited(response, MAX_MANIFEST_BYTES, what)
        digest = sha256_digest(raw)
        claimed = response.headers.get("Docker-Content-Digest", "")
        for expected in (reference, claimed):
            if is_digest(expected) and expected != digest:
                raise DigestMismatch(
                    f"{self.location.url}: the manifest of {what} hashes to {digest}, not "
                    f"{expected}; the registry is faulty or tampered with"
                )
        return _parse_manifest(raw, digest, response.headers.get("Content-Type", ""), what)

    def fetch_blob(self, blob: Descriptor, sink: IO[bytes], max_bytes: int, what: str) -> None:
        """Stream the blob into `sink`, checking its size and sha256 against `blob`."""
        if blob.size > max_bytes:
            raise TooLarge(
                f"{self.location.url}: {what} is {blob.size} bytes, over the limit of "
                f"{max_bytes}; push a smaller artifact"
            )
        hasher = hashlib.sha256()
        received = 0
        path = f"/v2/{self.location.repository}/blobs/{blob.digest}"
        with self._stream("GET", path, what) as response:
            if response.status_code == 404:
                raise InvalidArtifact(
                    f"{self.location.url}: {what} ({blob.digest}) is listed in the manifest "
                    "but missing from the registry; push the artifact again"
                )
            self._expect(response, 200, what)
            for chunk in response.iter_bytes():
                received += len(chunk)
                if received > blob.size:
                    break
                self._check_deadline(what)
                hasher.update(chunk)
                sink.write(chunk)
        if received != blob.size or f"sha256:{hasher.hexdigest()}" != blob.digest:
            raise DigestMismatch(
                f"{self.location.url}: {what} does not match its digest {blob.digest} "
                f"({received} of {blob.size} bytes received); push the artifact again"
            )

    def read_blob(self, blob: Descriptor, max_bytes: int, what: str) -> bytes:
        """A small blob in memory, checked like `fetch_blob`."""
        sink = io.BytesIO()
        self.fetch_blob(blob, sink, max_bytes, what)
        return sink.getvalue()

    def push_blob(self, data: bytes, media_type: str, what: str) -> Descriptor:
        """Upload `data` unless the repository has it already; returns its descriptor."""
        digest = sha256_digest(data)
        blob_path = f"/v2/{self.location.repository}/blobs/{digest}"
        if self._send("HEAD", blob_path, what).status_code != 200:
            started = self._send("POST", f"/v2/{self.location.repository}/blobs/uploads/", what)
            self._expect(started, 202, what)
            location = httpx2.URL(started.headers.get("Location", ""))
            upload_url = location.copy_merge_params({"digest": digest})
            headers = {"Content-Type": "application/octet-stream"}
            finished = self._send("PUT", str(upload_url), what, headers, content=data)
            self._expect(finished, 201, what)
        return Descriptor(media_type, digest, len(data))

    def push_manifest(self, reference: str, raw: bytes, media_type: str, what: str) -> str:
        """Store a manifest under `reference` (a tag); returns its digest."""
        headers = {"Content-Type": media_type}
        response = self._send("PUT", self._manifest_path(reference), what, headers, content=raw)
        self._expect(response, 201, what)
        return sha256_digest(raw)

    def _manifest_path(self, reference: str) -> str:
        return f"/v2/{self.location.repository}/manifests/{reference}"

    def _base_url(self) -> str:
        return f"{'http' if self._plain_http else 'https'}://{self.location.api_host}"

    def _send(
        self,
        method: str,
        path: str,
        what: str,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx2.Response:
        with self._transport_errors(what):
            return self._send_once(method, path, what, headers, content, stream=False)

    @contextmanager
    def _stream(
        self, method: str, path: str, what: str, headers: Mapping[str, str] | None = None
    ) -> Iterator[httpx2.Response]:
        """A streamed response; errors while reading its body are translated too."""
        with self._transport_errors(what):
            response = self._send_once(method, path, what, headers, None, stream=True)
            try:
                yield response
            finally:
                response.close()

    def _send_once(
        self,
        method: str,
        path: str,
        what: str,
        headers: Mapping[str, str] | None,
        content: bytes | None,
        stream: bool,
    ) -> httpx2.Response:
        """One request; the first that cannot connect over HTTPS may move the client to HTTP.

        Only requests to the registry itself switch: a token service or a blob storage
        host keeps the scheme its address names.
        """
        request = self._build(method, path, what, headers, content)
        try:
            response = self._http.send(request, stream=stream)
        except httpx2.TransportError as error:
            if not self._may_fall_back or not self._at_registry(error, request):
                raise
            self._may_fall_back = False
            self._plain_http = True
            self._http.base_url = self._base_url()
            request = self._build(method, path, what, headers, content)
            return self._http.send(request, stream=stream)
        if request.url.host == self._http.base_url.host:
            self._may_fall_back = False  # the registry answered: keep its scheme
        return response

    def _at_registry(self, error: httpx2.TransportError, sent: httpx2.Request) -> bool:
        """Whether `error` happened talking to the registry, not to its token service."""
        try:
            failed = error.request
        except RuntimeError:
            failed = sent
        return failed.url.host == self._http.base_url.host

    def _build(
        self,
        method: str,
        path: str,
        what: str,
        headers: Mapping[str, str] | None,
        content: bytes | None,
    ) -> httpx2.Request:
        remaining = self._check_deadline(what)
        return self._http.build_request(
            method, path, headers=headers, content=content, timeout=remaining
        )

    @contextmanager
    def _transport_errors(self, what: str) -> Iterator[None]:
        """Turn httpx2's connection and timeout errors into the sources hierarchy."""
        try:
            yield
        except httpx2.TimeoutException as error:
            raise self._timed_out(what) from error
        except httpx2.TransportError as error:
            if self._plain_http:
                scheme, hint = "HTTPS or HTTP", ""
            else:
                scheme, hint = "HTTPS", ", spec.insecure (for a plain HTTP registry)"
            raise Unreachable(
                f"cannot reach {self.location.url} over {scheme} for {what} "
                f"({error or type(error).__name__}); check spec.url{hint} and that the "
                "registry is up"
            ) from error

    def _check_deadline(self, what: str) -> float:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise self._timed_out(what)
        return remaining

    def _timed_out(self, what: str) -> FetchTimeout:
        return FetchTimeout(
            f"{self.location.url}: {what} did not finish within {self._options.timeout:g}s; "
            "raise spec.timeout or check the registry"
        )

    def _expect(self, response: httpx2.Response, status: int, what: str) -> None:
        """Raise the error that `response` means unless it has the `status` expected."""
        code = response.status_code
        if code == status:
            return
        url = self.location.url
        detail = f"HTTP {code}{_error_code(response)}"
        if code in (401, 403):
            host = self.location.registry
            hint = (
                f"check the credentials for {host} in spec.secretRef"
                if self._options.auth
                else f"set spec.secretRef to a docker-registry Secret with credentials for {host}"
            )
            raise AuthenticationFailed(
                f"{url}: the registry refused access to {what} ({detail}); {hint}"
            )
        if code == 404:
            raise RefNotFound(f"{url} has no {what} ({detail}); push it or correct spec.ref")
        if code == 429 or code >= 500:
            raise ServerUnavailable(
                f"{url}: the registry answered {detail} for {what}; it is busy or failing, "
                "lockstep retries with backoff"
            )
        raise SourceError(f"{url}: the registry answered {detail} for {what}; check the registry")

    def _read_limited(self, response: httpx2.Response, limit: int, what: str) -> bytes:
        chunks = bytearray()
        for chunk in response.iter_bytes():
            chunks += chunk
            if len(chunks) > limit:
                raise InvalidArtifact(
                    f"{self.location.url}: {what} is larger than {limit} bytes; it is no "
                    "manifest lockstep can use"
                )
            self._check_deadline(what)
        return bytes(chunks)


class _BorrowedTransport(httpx2.BaseTransport):
    """A caller's transport, used but left open when the client closes."""

    def __init__(self, transport: httpx2.BaseTransport) -> None:
        self._transport = transport

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        return self._transport.handle_request(request)


def _verification(options: RegistryOptions) -> ssl.SSLContext | bool:
    """What httpx2 checks the server's certificate with."""
    if options.tls is not None:
        return options.tls.ssl_context()
    return not options.skip_tls_verify


def _accept_manifests() -> dict[str, str]:
    return {"Accept": ", ".join(MANIFEST_MEDIA_TYPES)}


def _parse_manifest(raw: bytes, digest: str, content_type: str, what: str) -> Manifest:
    body = _json_object(raw, f"the manifest of {what}")
    media_type = str(body.get("mediaType") or content_type.split(";")[0].strip())
    return Manifest(
        digest=digest,
        media_type=media_type,
        raw=raw,
        layers=tuple(_descriptor(layer, what) for layer in body.get("layers") or []),
        annotations=_string_map(body.get("annotations")),
    )


def _descriptor(value: Any, what: str) -> Descriptor:
    try:
        media_type, digest, size = value["mediaType"], value["digest"], value["size"]
    except (KeyError, TypeError) as error:
        raise InvalidArtifact(
            f"the manifest of {what} has a descriptor without mediaType, digest or size; "
            "push the artifact again with flux push artifact or oras"
        ) from error
    if not isinstance(size, int) or size < 0 or not isinstance(media_type, str):
        raise InvalidArtifact(f"the manifest of {what} has a malformed descriptor for {digest}")
    if not isinstance(digest, str) or not is_digest(digest):
        raise InvalidArtifact(
            f"the manifest of {what} names blob {digest!r}; only sha256 digests are supported"
        )
    return Descriptor(media_type, digest, size, _string_map(value.get("annotations")))


def _string_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(key): str(item) for key, item in value.items()}


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError as error:
        raise InvalidArtifact(f"{what} is not JSON; check the registry") from error
    if not isinstance(value, dict):
        raise InvalidArtifact(f"{what} is not a JSON object; check the registry")
    return value


def _error_code(response: httpx2.Response) -> str:
    """The code of a registry's error body, as `` MANIFEST_UNKNOWN``; empty without one."""
    try:
        errors = json.loads(response.read()).get("errors") or []
        return f" {errors[0]['code']}"
    except (ValueError, AttributeError, LookupError, TypeError):
        return ""
