"""Helm chart repositories over HTTP(S): the index, and the chart packages it lists.

The HelmRepository reconciler (``type: default``) calls `fetch_index` and stores
``ChartIndex.raw`` as ``ChartIndex.artifact_filename`` with revision
``ChartIndex.revision``, as Flux's source-controller does (see
:mod:`lockstep.sources.helm_index` for the format). The HelmChart reconciler reads that
artifact back with `load_index`, picks a version with `select_chart` and fetches it with
`download_chart`. Both run in the reconcilers' thread pool: every call blocks.

How requests go, as in Flux (``internal/helm/getter``) and Helm's HTTP getter:

- ``GET <url>/index.yaml`` (a trailing slash on the URL or not, its query kept), bounded
  by ``--helm-index-max-size`` (50 MiB); a package by the first URL the index gives for
  it, resolved against the repository URL when relative (the repository's query kept,
  as Helm's ``ResolveReferenceURL`` does), bounded by ``--helm-chart-max-size`` (10 MiB).
- Basic auth (``spec.secretRef``: ``username`` and ``password``, both or neither) goes
  only to the repository's own scheme and host:port, unless ``spec.passCredentials``;
  a redirect to another host drops it too.
- TLS: ``spec.certSecretRef`` (``ca.crt``, ``tls.crt``, ``tls.key``), the CA added to
  the system's roots; TLS keys in ``spec.secretRef`` are still read when there is no
  ``certSecretRef`` (deprecated in Flux). HTTP repositories have no ``insecure`` switch.
- ``spec.timeout`` (60 s by default) bounds each whole operation, not each request.
- Every request, redirects included, passes the egress check of :mod:`lockstep.egress`.

Where lockstep is stricter than Flux: a package whose sha256 differs from the digest
the index gives is refused (`DigestMismatch`), and so is one that is not gzip.
Failures are those of :mod:`lockstep.sources.errors`: 401/403 → AuthenticationFailed,
404 → RepositoryNotFound (the index) or RefNotFound (a package), 429/5xx →
ServerUnavailable, no connection → Unreachable, past the time limit → FetchTimeout.
Messages name the URL without credentials; credentials never appear in them.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import posixpath
import re
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import SplitResult, urljoin, urlsplit

import httpx2

from lockstep import __version__
from lockstep.egress import OPEN, Egress, EgressRefused
from lockstep.sources.credentials import redact_url
from lockstep.sources.errors import (
    AddressRefused,
    AuthenticationFailed,
    DigestMismatch,
    FetchTimeout,
    InvalidArtifact,
    InvalidIndex,
    InvalidSecret,
    InvalidUrl,
    RefNotFound,
    RepositoryNotFound,
    ServerUnavailable,
    SourceError,
    TooLarge,
    Unreachable,
)
from lockstep.sources.helm_index import (
    MAX_INDEX_BYTES,
    ChartIndex,
    ChartVersion,
    load_index,
    parse_index,
    select_chart,
)
from lockstep.sources.transport import (
    CA_KEYS,
    CERT_KEYS,
    KEY_KEYS,
    ProxySettings,
    TlsSettings,
    tls_from_secret,
)

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "MAX_CHART_BYTES",
    "MAX_INDEX_BYTES",
    "ChartIndex",
    "ChartVersion",
    "HelmRepositoryOptions",
    "credentials_from_secret",
    "default_helm_repository_options",
    "download_chart",
    "fetch_index",
    "load_index",
    "select_chart",
    "tls_from_auth_secret",
]

DEFAULT_TIMEOUT_SECONDS = 60.0
"""Flux's default ``spec.timeout`` of a HelmRepository."""

MAX_CHART_BYTES = 10 * 1024 * 1024
"""Flux's ``--helm-chart-max-size`` default: 10 MiB."""

HTTP_SCHEMES = ("http", "https")

_GZIP_MAGIC = b"\x1f\x8b"
_HEX_DIGEST = re.compile(r"^(?:sha256:)?([0-9a-fA-F]{64})$")
_IDENTIFIERS = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
_PACKAGE_NAME = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}"
    rf"-v?[0-9]+\.[0-9]+\.[0-9]+(?:-{_IDENTIFIERS})?(?:\+{_IDENTIFIERS})?\.tgz$"
)
"""``<chart>-<semver>.tgz``, the names the artifact store accepts for a package."""
_CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class HelmRepositoryOptions:
    """How to reach an HTTP chart repository; shared by `fetch_index` and `download_chart`."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    """Basic auth, from `credentials_from_secret`; sent only when both are set."""

    tls: TlsSettings | None = None
    """A CA to trust (besides the system's) and/or a client certificate."""

    pass_credentials: bool = False
    """``spec.passCredentials``: send the credentials to chart hosts other than the
    repository's too."""

    timeout: float = DEFAULT_TIMEOUT_SECONDS
    """Time limit in seconds for the whole operation, not for each request."""

    proxy: ProxySettings | None = None
    """An HTTP(S) proxy; None for a direct connection."""

    transport: httpx2.BaseTransport | None = field(default=None, repr=False)
    """Where requests go; None for the network. Tests wrap it to count requests."""

    egress: Egress = OPEN
    """Which hosts may be asked: the repository's, its chart hosts and redirects."""


def default_helm_repository_options() -> HelmRepositoryOptions:
    """Anonymous, system CAs, Flux's default time limit."""
    return HelmRepositoryOptions()


def credentials_from_secret(
    data: Mapping[str, bytes], secret: str
) -> tuple[str | None, str | None]:
    """``username`` and ``password`` of a HelmRepository's ``spec.secretRef`` Secret.

    Both keys or neither, as Flux reads them; neither gives ``(None, None)``. `secret`
    (``namespace/name``) names the Secret in messages.
    """
    username, password = data.get("username"), data.get("password")
    if username is None and password is None:
        return None, None
    if username is None or password is None:
        present, missing = (
            ("username", "password") if password is None else ("password", "username")
        )
        raise InvalidSecret(
            f"Secret {secret} has '{present}' but no '{missing}'; basic auth needs both"
        )
    try:
        return username.decode("utf-8"), password.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidSecret(f"Secret {secret}: username or password is not UTF-8") from error


def tls_from_auth_secret(data: Mapping[str, bytes], secret: str) -> TlsSettings | None:
    """TLS settings in ``spec.secretRef`` itself, deprecated but still read by Flux when
    there is no ``spec.certSecretRef``; None when the Secret holds no TLS keys."""
    if not any(data.get(key) for key in (*CA_KEYS, *CERT_KEYS, *KEY_KEYS)):
        return None
    return tls_from_secret(data, secret)


def fetch_index(
    url: str,
    options: HelmRepositoryOptions | None = None,
    max_bytes: int = MAX_INDEX_BYTES,
) -> ChartIndex:
    """Download, check and parse ``index.yaml`` of the repository at `url`."""
    options = options or default_helm_repository_options()
    _check_repository_url(url)
    index_url = _index_url(url)
    shown = redact_url(url)
    missing = RepositoryNotFound(
        f"index.yaml not found at {redact_url(index_url)} (HTTP 404); correct spec.url "
        "to the folder that holds index.yaml"
    )
    with _RepositoryClient(url, options) as client:
        sink = io.BytesIO()
        client.fetch(index_url, sink, max_bytes, "index.yaml", missing)
    return parse_index(sink.getvalue(), shown)


def download_chart(
    repository_url: str,
    chart_version: ChartVersion,
    dest_dir: Path,
    options: HelmRepositoryOptions | None = None,
    max_bytes: int = MAX_CHART_BYTES,
) -> Path:
    """Download the package of `chart_version` into `dest_dir` as ``<name>-<version>.tgz``.

    The package is checked against the index's digest and written atomically: either the
    whole file is there, or none.
    """
    options = options or default_helm_repository_options()
    _check_repository_url(repository_url)
    shown = redact_url(repository_url)
    what = f"chart '{chart_version.name}' version {chart_version.version}"
    filename = f"{chart_version.name}-{chart_version.version}.tgz"
    if not _PACKAGE_NAME.match(filename):
        raise InvalidIndex(
            f"the index of {shown} lists {what}, whose name or version cannot name a "
            "package file; correct the repository index"
        )
    if not chart_version.urls:
        raise InvalidIndex(f"the index of {shown} gives no URL for {what}; re-index the repository")
    package_url = resolve_chart_url(repository_url, chart_version.urls[0])
    missing = RefNotFound(
        f"{what} is listed by the index of {shown} but {redact_url(package_url)} is not "
        "found (HTTP 404); re-index the repository"
    )
    dest_dir.mkdir(parents=True, exist_ok=True)
    descriptor, temp_name = tempfile.mkstemp(dir=dest_dir, prefix=".download-", suffix=".partial")
    temp_path = Path(temp_name)
    try:
        with os.fdopen(descriptor, "wb") as sink:
            hashing = _HashingWriter(sink)
            with _RepositoryClient(repository_url, options) as client:
                client.fetch(package_url, hashing, max_bytes, what, missing)
            sink.flush()
            os.fsync(sink.fileno())
        _check_package(temp_path, hashing.hexdigest(), chart_version, what, package_url)
        final_path = dest_dir / filename
        os.replace(temp_path, final_path)
    finally:
        temp_path.unlink(missing_ok=True)
    return final_path


def resolve_chart_url(repository_url: str, chart_url: str) -> str:
    """Where a package is: `chart_url` if absolute, else relative to the repository
    folder, with the repository URL's query (Helm's ``repo.ResolveReferenceURL``)."""
    if urlsplit(chart_url).scheme:
        resolved = chart_url
    else:
        base = urlsplit(repository_url)
        folder = base._replace(path=base.path.rstrip("/") + "/", query="", fragment="")
        joined = urlsplit(urljoin(folder.geturl(), chart_url))
        resolved = joined._replace(query=base.query).geturl()
    if urlsplit(resolved).scheme.lower() not in HTTP_SCHEMES:
        raise InvalidUrl(
            f"the index of {redact_url(repository_url)} points a chart at "
            f"{redact_url(resolved)}; only http:// and https:// chart URLs are fetched"
        )
    return resolved


def _check_repository_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as error:
        # The URL is not shown: a password in it could not be removed.
        raise InvalidUrl(
            f"the Helm repository URL cannot be parsed ({error}); correct spec.url"
        ) from error
    if parts.scheme.lower() not in HTTP_SCHEMES or not parts.hostname:
        raise InvalidUrl(
            f"Helm repository URL {redact_url(url)} must be http:// or https:// with a host "
            "(oci:// needs spec.type: oci); correct spec.url"
        )
    if parts.username is not None:
        raise InvalidUrl(
            f"Helm repository URL {redact_url(url)} carries credentials; put them in the "
            "Secret of spec.secretRef and remove them from spec.url"
        )


def _index_url(url: str) -> str:
    """``<url>/index.yaml`` with one slash between, the query kept (Go's path.Join)."""
    parts = urlsplit(url)
    path = posixpath.join("/", parts.path, "index.yaml")
    return parts._replace(path=posixpath.normpath(path), fragment="").geturl()


def _check_package(
    path: Path, sha256_hex: str, chart_version: ChartVersion, what: str, url: str
) -> None:
    expected = _HEX_DIGEST.match(chart_version.digest)
    if expected is not None and expected[1].lower() != sha256_hex:
        raise DigestMismatch(
            f"{what} from {redact_url(url)} hashes to sha256:{sha256_hex}, but the index "
            f"says sha256:{expected[1].lower()}; the package changed after it was indexed, "
            "re-index the repository"
        )
    with path.open("rb") as package:
        if package.read(len(_GZIP_MAGIC)) != _GZIP_MAGIC:
            raise InvalidArtifact(
                f"{what} from {redact_url(url)} is not a gzip tarball; it is no chart package"
            )


class _HashingWriter:
    """A write-only stream that hashes what passes through it on the way to `target`."""

    def __init__(self, target: IO[bytes]) -> None:
        self._target = target
        self._hash = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        return self._target.write(data)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


class _RepositoryClient:
    """GET requests on behalf of one repository, within one time limit."""

    def __init__(self, repository_url: str, options: HelmRepositoryOptions) -> None:
        self._repository = urlsplit(repository_url)
        self._shown = redact_url(repository_url)
        self._options = options
        self._deadline = time.monotonic() + options.timeout
        transport = options.transport
        self._http = httpx2.Client(
            transport=_BorrowedTransport(transport) if transport is not None else None,
            verify=options.tls.ssl_context() if options.tls is not None else True,
            proxy=options.proxy.url if options.proxy else None,
            follow_redirects=True,  # httpx2 drops Authorization on a redirect to another host
            headers={"User-Agent": f"lockstep/{__version__}"},
            event_hooks={"request": [self._check_address]} if not options.egress.open else None,
        )

    def __enter__(self) -> _RepositoryClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._http.close()

    def fetch(
        self,
        url: str,
        sink: IO[bytes] | _HashingWriter,
        max_bytes: int,
        what: str,
        missing: SourceError,
    ) -> None:
        """Stream `url` into `sink`, refusing more than `max_bytes`; `missing` is raised on 404."""
        with self._transport_errors(url, what):
            request = self._http.build_request(
                "GET", url, headers=self._credentials(url), timeout=self._remaining(what)
            )
            response = self._http.send(request, stream=True)
            try:
                self._expect_ok(response, url, what, missing)
                announced = response.headers.get("Content-Length", "")
                if announced.isdigit() and int(announced) > max_bytes:
                    raise self._too_large(url, what, max_bytes)
                received = 0
                for chunk in response.iter_bytes(_CHUNK_BYTES):
                    received += len(chunk)
                    if received > max_bytes:
                        raise self._too_large(url, what, max_bytes)
                    self._remaining(what)
                    sink.write(chunk)
            finally:
                response.close()

    def _credentials(self, url: str) -> dict[str, str]:
        """Basic auth for `url` when it is the repository's host, or passCredentials says so."""
        username, password = self._options.username, self._options.password
        if not username or not password:
            return {}
        same_host = _origin(urlsplit(url)) == _origin(self._repository)
        if not same_host and not self._options.pass_credentials:
            return {}
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        return {"Authorization": f"Basic {token}"}

    def _check_address(self, request: httpx2.Request) -> None:
        try:
            self._options.egress.check_host(request.url.host, self._shown)
        except EgressRefused as error:
            raise AddressRefused(str(error)) from None

    def _expect_ok(
        self, response: httpx2.Response, url: str, what: str, missing: SourceError
    ) -> None:
        code = response.status_code
        if code == 200:
            return
        shown = redact_url(url)
        if code in (401, 403):
            hint = (
                "check username and password in the Secret of spec.secretRef"
                if self._options.username
                else "set spec.secretRef to a Secret with username and password"
            )
            raise AuthenticationFailed(
                f"{shown}: the repository refused access to {what} (HTTP {code}); {hint}"
            )
        if code == 404:
            raise missing
        if code == 429 or code >= 500:
            raise ServerUnavailable(
                f"{shown}: the repository answered HTTP {code} for {what}; it is busy or "
                "failing, lockstep retries with backoff"
            )
        raise SourceError(
            f"{shown}: the repository answered HTTP {code} for {what}; check spec.url"
        )

    def _too_large(self, url: str, what: str, limit: int) -> TooLarge:
        return TooLarge(
            f"{redact_url(url)}: {what} is larger than the limit of {limit} bytes; "
            "raise the limit or make the repository serve a smaller one"
        )

    def _remaining(self, what: str) -> float:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise self._timed_out(what)
        return remaining

    def _timed_out(self, what: str) -> FetchTimeout:
        return FetchTimeout(
            f"{self._shown}: {what} did not arrive within {self._options.timeout:g}s; "
            "raise spec.timeout or check the repository"
        )

    @contextmanager
    def _transport_errors(self, url: str, what: str) -> Iterator[None]:
        """Turn httpx2's connection and timeout errors into the sources hierarchy."""
        try:
            yield
        except httpx2.TimeoutException as error:
            raise self._timed_out(what) from error
        except httpx2.TransportError as error:
            raise Unreachable(
                f"cannot reach {redact_url(url)} for {what} ({error or type(error).__name__}); "
                "check spec.url and that the repository is up"
            ) from error


class _BorrowedTransport(httpx2.BaseTransport):
    """A caller's transport, used but left open when the client closes."""

    def __init__(self, transport: httpx2.BaseTransport) -> None:
        self._transport = transport

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        return self._transport.handle_request(request)


def _origin(parts: SplitResult) -> tuple[str, str, int | None]:
    """Scheme, host and port as written: Helm sends credentials only to the same three."""
    return (parts.scheme.lower(), (parts.hostname or "").lower(), parts.port)
