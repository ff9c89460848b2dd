"""Scanning an image repository for tags, and resolving a tag to its manifest digest.

The ImageRepository controller calls :func:`scan_tags` from a thread (it blocks on the
network): every tag of the repository across all pages of the list, minus those an
``exclusionList`` pattern matches, sorted newest first, with a revision that changes
exactly when the tags do. The ImagePolicy controller calls :func:`resolve_digest` for
``digestReflectionPolicy``. Both speak the distribution API through
:class:`~lockstep.sources.registry_client.RegistryClient`, with its challenge auth,
time limit and errors (:mod:`lockstep.sources.errors`).

"Newest first" is Flux's order: tags sorted in descending alphabetical (byte) order,
so ``latestTags``, the first ten, reads the same as Flux's status. The revision is the
Adler-32 checksum of that list as compact JSON, in decimal, which is the revision
Flux reports for the same tags, so a repository moved between the two keeps it.

Exclusion patterns are Python regular expressions searched anywhere in the tag, as
Go's ``MatchString`` does; the patterns people write (``^.*\\.sig$``) read the same
in both.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from lockstep.sources.errors import RefNotFound, RepositoryNotFound, Unreachable
from lockstep.sources.image_names import ImageName
from lockstep.sources.registry_client import RegistryClient, RegistryOptions, plain_http_allowed

LATEST_TAGS_COUNT = 10
"""How many tags ``status.lastScanResult.latestTags`` shows."""

T = TypeVar("T")


class InvalidExclusionList(ValueError):
    """A pattern of ``spec.exclusionList`` is not a regular expression; the message says which."""


@dataclass(frozen=True)
class ExclusionList:
    """The compiled ``spec.exclusionList``: tags any pattern matches are left out."""

    patterns: tuple[str, ...]
    compiled: tuple[re.Pattern[str], ...] = field(repr=False, compare=False)

    def excludes(self, tag: str) -> bool:
        return any(pattern.search(tag) for pattern in self.compiled)


def parse_exclusion_list(patterns: Iterable[str]) -> ExclusionList:
    """Compile the patterns; raises `InvalidExclusionList` naming the first bad one."""
    written = tuple(patterns)
    compiled = []
    for pattern in written:
        try:
            compiled.append(re.compile(pattern))
        except re.error as error:
            raise InvalidExclusionList(
                f"spec.exclusionList pattern {pattern!r} is not a valid regular expression: {error}"
            ) from error
    return ExclusionList(written, tuple(compiled))


@dataclass(frozen=True)
class TagScan:
    """The tags a scan kept, newest first, and their revision."""

    tags: tuple[str, ...]
    revision: str

    @property
    def latest_tags(self) -> tuple[str, ...]:
        """The sample of the tags the status shows."""
        return self.tags[:LATEST_TAGS_COUNT]


def tag_scan(listed: Iterable[str], exclusions: ExclusionList) -> TagScan:
    """The scan result of the tags a registry `listed`: filtered, ordered and hashed."""
    kept = sorted((tag for tag in listed if not exclusions.excludes(tag)), reverse=True)
    return TagScan(tuple(kept), tags_revision(kept))


def tags_revision(tags: Sequence[str]) -> str:
    """Adler-32 of the tags as compact JSON, in decimal: the same value Flux reports."""
    encoded = json.dumps(list(tags), separators=(",", ":"), ensure_ascii=False).encode()
    return str(zlib.adler32(encoded))


def scan_tags(image: ImageName, exclusions: ExclusionList, options: RegistryOptions) -> TagScan:
    """List every tag of `image` (following pages) and keep those not excluded."""
    try:
        listed = _on_registry(image, options, lambda client: client.list_tags())
    except RepositoryNotFound as error:
        raise RepositoryNotFound(
            f"image repository {image.canonical} does not exist on the registry; "
            "correct spec.image or push an image to it"
        ) from error
    return tag_scan(listed, exclusions)


def resolve_digest(image: ImageName, tag: str, options: RegistryOptions) -> str:
    """The digest of the manifest `tag` of `image` names, by one HEAD request."""
    try:
        return _on_registry(
            image, options, lambda client: client.manifest_digest(tag, f"tag {tag}")
        )
    except RefNotFound as error:
        raise RefNotFound(
            f"image {image.canonical} has no tag {tag} any more; it is elected again after "
            "the next scan"
        ) from error


def _on_registry(
    image: ImageName, options: RegistryOptions, call: Callable[[RegistryClient], T]
) -> T:
    """`call` with a client for `image`; an unreachable registry is named by the image."""
    try:
        with RegistryClient(image.location, options) as client:
            return call(client)
    except Unreachable as error:
        if options.insecure or plain_http_allowed(image.registry):
            scheme, hint = "HTTPS or HTTP", ""
        else:
            scheme, hint = "HTTPS", ", spec.insecure (for a plain HTTP registry)"
        cause = error.__cause__ or error
        raise Unreachable(
            f"cannot reach the registry of {image.canonical} over {scheme} "
            f"({str(cause) or type(cause).__name__}); check spec.image{hint} and that the "
            "registry is up"
        ) from error
