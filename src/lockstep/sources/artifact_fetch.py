"""A source's artifact fetched by its consumer: downloaded, its digest checked, extracted safely.

A Kustomization builds the artifact its source advertises in ``status.artifact``: a
``url`` (lockstep's artifact server, or Flux's source-controller during a migration)
and a ``digest`` (``<algorithm>:<hex>``). :func:`fetch_artifact`

1. downloads the tarball into a temporary file, hashing it on the way, and stops at
   the size limit (a gzip tarball is never larger than the files it holds, so a
   download past the limit could only extract past it too);
2. refuses it when its digest is not the advertised one: the file changed after the
   source wrote its status, or on its way here. Nothing is extracted then;
3. extracts it with :func:`lockstep.sources.extract.extract_tarball`, the extraction
   of OCI layers: no entry may land outside the folder (absolute paths, ``..``, links
   leaving it, devices), and the files together stay within the same size limit.

Digests use the algorithms Flux's ``--artifact-digest-algo`` offers that Python's
``hashlib`` has (sha256, the default, sha384 and sha512); an artifact without a
digest (written by an old Flux) is extracted unchecked, as Flux does.

Raises :mod:`lockstep.sources.errors`: ``Unreachable`` and ``FetchTimeout`` for no
answer, ``ServerUnavailable`` for 429 and 5xx, ``DigestMismatch``, ``TooLarge``,
``UnsafeArchive`` and ``InvalidArtifact`` for the rest, each one line naming the
artifact. Blocking: the Kustomization reconciler calls it from its thread pool.
"""

from __future__ import annotations

import hashlib
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from lockstep.sources.errors import (
    DigestMismatch,
    FetchTimeout,
    InvalidArtifact,
    ServerUnavailable,
    SourceError,
    TooLarge,
    Unreachable,
)
from lockstep.sources.extract import Wording, extract_tarball
from lockstep.sources.store import DEFAULT_MAX_CONTENT_BYTES

DIGEST_ALGORITHMS = ("sha256", "sha384", "sha512")
"""The digest algorithms of artifacts that are checked."""

DEFAULT_TIMEOUT_SECONDS = 60.0
"""How long the artifact server may stay silent before the download fails."""

_CHUNK_BYTES = 1 << 16

SOURCE_ARTIFACT = Wording(
    archive="the artifact",
    unsafe_advice="remove that entry from the source; the artifact is refused whole",
    size_advice="make the source smaller (spec.ignore, .sourceignore) or raise the "
    "engine's --max-artifact-size",
    format_advice="check that the source's artifact server serves Flux artifacts",
)


def fetch_artifact(
    url: str,
    digest: str | None,
    dest: Path,
    *,
    max_bytes: int = DEFAULT_MAX_CONTENT_BYTES,
    scratch: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> int:
    """Download the artifact at ``url``, check it against ``digest`` and extract it into
    ``dest`` (created when missing); returns the bytes of file content extracted.

    The download is kept in a temporary file in ``scratch`` (the system's temporary
    folder when ``None``) and deleted at once. On failure ``dest`` may hold a partial
    tree that the caller must discard.
    """
    source = f"artifact {url}"
    expected = _expected_digest(digest, source)
    with tempfile.TemporaryFile(prefix="lockstep-artifact-", dir=scratch) as tarball:
        actual = _download(url, tarball, max_bytes, source, timeout, expected)
        if expected is not None and actual != expected:
            raise DigestMismatch(
                f"{source}: its digest is {actual}, not {expected} as the source's status "
                "says; it changed after the source stored it or on its way here, and is not used"
            )
        tarball.seek(0)
        dest.mkdir(parents=True, exist_ok=True)
        return extract_tarball(
            tarball, dest, max_bytes=max_bytes, source=source, wording=SOURCE_ARTIFACT
        )


def _expected_digest(digest: str | None, source: str) -> str | None:
    if not digest:
        return None
    algorithm, _, value = digest.partition(":")
    if algorithm not in DIGEST_ALGORITHMS or not value:
        raise InvalidArtifact(
            f"{source}: digest {digest!r} is not <algorithm>:<hex> with one of "
            f"{', '.join(DIGEST_ALGORITHMS)}; run the source controller with one of them"
        )
    return f"{algorithm}:{value.lower()}"


def _download(
    url: str, out: IO[bytes], max_bytes: int, source: str, timeout: float, expected: str | None
) -> str:
    """Write the body at ``url`` into ``out``; returns its digest, in the algorithm of
    ``expected`` (sha256 without one)."""
    algorithm = (expected or "sha256").partition(":")[0]
    hasher = hashlib.new(algorithm)
    received = 0
    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except OSError as error:
        raise _failed(error, source, timeout) from error
    with response:
        while True:
            # Only the network is read in the try: a full disk is not an unreachable server.
            try:
                chunk = response.read(_CHUNK_BYTES)
            except OSError as error:
                raise _failed(error, source, timeout) from error
            if not chunk:
                break
            received += len(chunk)
            if received > max_bytes:
                raise TooLarge(
                    f"{source}: the download exceeds the artifact size limit of "
                    f"{max_bytes} bytes; {SOURCE_ARTIFACT.size_advice}"
                )
            hasher.update(chunk)
            out.write(chunk)
    return f"{algorithm}:{hasher.hexdigest()}"


def _failed(error: OSError, source: str, timeout: float) -> SourceError:
    """The source error for a failed request or read."""
    if isinstance(error, urllib.error.HTTPError):
        if error.code == 429 or error.code >= 500:
            return ServerUnavailable(
                f"{source}: the artifact server answered {error.code} {error.reason}; it is retried"
            )
        return InvalidArtifact(
            f"{source}: the artifact server answered {error.code} {error.reason}; the source "
            "may have replaced it with a newer artifact, which is fetched at the next attempt"
        )
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(error, TimeoutError) or isinstance(reason, TimeoutError):
        return FetchTimeout(
            f"{source}: the artifact server did not answer within {timeout:g}s; it is retried"
        )
    return Unreachable(
        f"{source}: cannot reach the artifact server ({reason}); check that the source "
        "controller serves its artifacts at that address"
    )
