"""Writing Flux-format OCI artifacts: pack a local folder, push it, tag it, list a repository.

The counterpart of :mod:`lockstep.sources.oci`, which reads them. Called by the
``lockstep push/tag/list artifact`` commands (:mod:`lockstep.cli.artifact`):

1. `parse_artifact_reference` takes ``oci://host[:port]/repository:tag`` (or ``@sha256:``)
   apart;
2. `pack_artifact` packs a folder, or a single file, as ``flux push artifact`` does: the
   files at the root of a gzip tarball, the `FLUX_PUSH_EXCLUSIONS` left out unless other
   patterns replace them, symbolic links left out (Flux's extraction refuses them). The
   tarball is :func:`lockstep.sources.tarball.pack_tree`'s, so the same content gives the
   same layer digest whatever the file times, owners and umask;
3. `push_artifact` uploads the layer and an empty ``application/vnd.cncf.flux.config.v1+json``
   config, then the manifest with the source, revision and created annotations that
   `artifact_annotations` makes; `tag_artifact` stores a manifest under more tags and
   `list_artifacts` reads back each tag's digest and annotations.

Why the hand-written :class:`lockstep.sources.registry_client.RegistryClient` rather than
oras-py: oras is only a test dependency here, and the client already uploads blobs and
manifests for cosign signatures; an artifact is two blobs and one manifest more, with the
same authentication, time limit and error mapping as pulling.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lockstep.sources.errors import InvalidRef, InvalidUrl
from lockstep.sources.ignore import IgnoreRules
from lockstep.sources.oci import (
    CREATED_ANNOTATION,
    DEFAULT_TAG,
    FLUX_CONFIG_MEDIA_TYPE,
    FLUX_CONTENT_MEDIA_TYPE,
    REVISION_ANNOTATION,
    SOURCE_ANNOTATION,
)
from lockstep.sources.registry_client import (
    OCI_MANIFEST,
    Descriptor,
    OciUrl,
    RegistryClient,
    RegistryOptions,
    is_digest,
    parse_oci_url,
    sha256_digest,
)
from lockstep.sources.store import DEFAULT_MAX_CONTENT_BYTES
from lockstep.sources.tarball import pack_tree

FLUX_PUSH_EXCLUSIONS: tuple[str, ...] = (
    ".git/",
    ".gitignore",
    ".gitmodules",
    ".gitattributes",
    "*.jpg",
    "*.jpeg",
    "*.gif",
    "*.png",
    "*.wmv",
    "*.flv",
    "*.tar.gz",
    "*.zip",
)
"""What ``flux push artifact`` leaves out by default: Git metadata, images and archives.
Narrower than the source reconcilers' defaults, and replaced whole by other patterns."""

REPRODUCIBLE_CREATED = "1970-01-01T00:00:00Z"
"""The created annotation of a reproducible push, so the manifest digest depends on content only."""

COSIGN_TAG_SUFFIXES = (".sig", ".att", ".sbom")
"""Tags cosign stores signatures, attestations and SBOMs under: not artifacts to list."""

FLUX_CONFIG = b"{}"
"""The config blob: Flux reads only its media type."""

_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class ArtifactReference:
    """An artifact in a repository, by tag or by digest."""

    location: OciUrl
    tag: str | None = None
    digest: str | None = None

    @property
    def reference(self) -> str:
        """What the manifest endpoint takes: the digest if there is one, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def __str__(self) -> str:
        if self.digest:
            return f"{self.location.url}@{self.digest}"
        return f"{self.location.url}:{self.tag or DEFAULT_TAG}"


@dataclass(frozen=True)
class PackOptions:
    """How `pack_artifact` packs a local folder."""

    ignore_paths: tuple[str, ...] = FLUX_PUSH_EXCLUSIONS
    """Patterns in .gitignore syntax, relative to the folder; they replace the defaults."""

    max_content_bytes: int = DEFAULT_MAX_CONTENT_BYTES
    """Limit on the file content before compression, as the engine's artifact store has."""


def default_pack_options() -> PackOptions:
    """Flux's exclusions and the artifact store's size limit."""
    return PackOptions()


@dataclass(frozen=True)
class PackedArtifact:
    """A packed layer, ready to push."""

    tarball: bytes
    digest: str
    """``sha256:<hex>`` of `tarball`: the layer digest the registry will store."""

    content_bytes: int
    warnings: tuple[str, ...]
    """What was left out and why, for the caller to show."""


@dataclass(frozen=True)
class ListedArtifact:
    """One tag of a repository, with what its manifest says about the artifact."""

    tag: str
    digest: str
    source: str
    revision: str
    created: str


def parse_artifact_reference(url: str, *, digest_allowed: bool = True) -> ArtifactReference:
    """Split ``oci://host[:port]/repository[:tag|@sha256:<hex>]``; no tag means ``latest``.

    Raises `InvalidUrl` for anything else, `InvalidRef` for a malformed tag or digest.
    """
    rest, at, digest = url.partition("@")
    head, slash, last = rest.rpartition("/")
    name, colon, tag = last.partition(":")
    location = _parse_location(f"{head}{slash}{name}", url, "oci://host[:port]/repository:tag")
    if at and not digest_allowed:
        raise InvalidRef(f"{url!r} names a digest; write a tag instead: repository:tag")
    if at and not is_digest(digest):
        raise InvalidRef(
            f"{url!r} has digest {digest!r}, not sha256:<64 hex digits>; correct the digest"
        )
    if colon:
        check_tag(tag, url)
    return ArtifactReference(location, tag or None, digest or None)


def parse_repository(url: str) -> OciUrl:
    """``oci://host[:port]/repository`` with neither tag nor digest."""
    return _parse_location(url, url, "oci://host[:port]/repository")


def check_tag(tag: str, url: str) -> None:
    """Raise `InvalidRef` unless `tag` is a valid OCI tag."""
    if not _TAG.match(tag):
        raise InvalidRef(
            f"tag {tag!r} of {url} is not a valid OCI tag; use up to 128 letters, digits, "
            "'.', '_' and '-', not starting with '.' or '-'"
        )


def pack_artifact(path: Path, options: PackOptions | None = None) -> PackedArtifact:
    """Pack the folder at `path` (its content at the root), or the file at `path` alone.

    Raises `TooLarge` past ``options.max_content_bytes`` of file content.
    """
    options = options or default_pack_options()
    if path.is_dir():
        return _pack_folder(path, options)
    # A single file is packed as a folder holding only it, so it goes through the same
    # normalisation and ignore rules as a folder's files.
    with tempfile.TemporaryDirectory(prefix="lockstep-push-") as folder:
        shutil.copy(path, Path(folder) / path.name)
        return _pack_folder(Path(folder), options)


def created_timestamp(reproducible: bool = False) -> str:
    """The created annotation: now in UTC, RFC 3339, or `REPRODUCIBLE_CREATED`."""
    if reproducible:
        return REPRODUCIBLE_CREATED
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def artifact_annotations(
    source: str, revision: str, created: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The manifest annotations Flux writes; `extra` entries win, the created one included."""
    return {
        SOURCE_ANNOTATION: source,
        REVISION_ANNOTATION: revision,
        CREATED_ANNOTATION: created,
        **(extra or {}),
    }


def flux_manifest(config: Descriptor, layer: Descriptor, annotations: Mapping[str, str]) -> bytes:
    """The OCI image manifest of a Flux artifact, compact JSON in the order Go tools write."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.to_json(),
        "layers": [layer.to_json()],
        "annotations": dict(annotations),
    }
    return json.dumps(manifest, separators=(",", ":")).encode()


def push_artifact(
    reference: ArtifactReference,
    packed: PackedArtifact,
    annotations: Mapping[str, str],
    options: RegistryOptions,
) -> str:
    """Upload `packed` and its manifest under ``reference.tag``; returns the manifest digest."""
    if reference.tag is None or reference.digest is not None:
        raise InvalidRef(f"{reference} must name a tag to push to (repository:tag)")
    with RegistryClient(reference.location, options, push=True) as client:
        layer = client.push_blob(packed.tarball, FLUX_CONTENT_MEDIA_TYPE, "the content layer")
        config = client.push_blob(FLUX_CONFIG, FLUX_CONFIG_MEDIA_TYPE, "the config")
        raw = flux_manifest(config, layer, annotations)
        return client.push_manifest(reference.tag, raw, OCI_MANIFEST, f"tag {reference.tag}")


def tag_artifact(
    reference: ArtifactReference, new_tags: Sequence[str], options: RegistryOptions
) -> str:
    """Store the manifest at `reference` under each of `new_tags`; returns its digest.

    The bytes are copied unchanged, so the digest, and the cosign signatures stored by
    digest, hold for the new tags too.
    """
    for tag in new_tags:
        check_tag(tag, reference.location.url)
    with RegistryClient(reference.location, options, push=True) as client:
        manifest = client.get_manifest(reference.reference, _describe(reference))
        for tag in new_tags:
            client.push_manifest(tag, manifest.raw, manifest.media_type, f"tag {tag}")
    return manifest.digest


def list_artifacts(location: OciUrl, options: RegistryOptions) -> list[ListedArtifact]:
    """Each tag of the repository but cosign's, highest first, with its manifest's metadata."""
    listed = []
    with RegistryClient(location, options) as client:
        tags = sorted((tag for tag in client.list_tags() if not is_cosign_tag(tag)), reverse=True)
        for tag in tags:
            manifest = client.get_manifest(tag, f"tag {tag}")
            annotations = manifest.annotations
            listed.append(
                ListedArtifact(
                    tag=tag,
                    digest=manifest.digest,
                    source=annotations.get(SOURCE_ANNOTATION, ""),
                    revision=annotations.get(REVISION_ANNOTATION, ""),
                    created=annotations.get(CREATED_ANNOTATION, ""),
                )
            )
    return listed


def is_cosign_tag(tag: str) -> bool:
    return tag.endswith(COSIGN_TAG_SUFFIXES)


def _pack_folder(folder: Path, options: PackOptions) -> PackedArtifact:
    out = io.BytesIO()
    report = pack_tree(
        folder,
        out,
        source=f"folder {folder}",
        max_content_bytes=options.max_content_bytes,
        ignore=IgnoreRules.from_patterns(options.ignore_paths),
        keep_links=False,
    )
    tarball = out.getvalue()
    return PackedArtifact(tarball, sha256_digest(tarball), report.content_bytes, report.warnings)


def _parse_location(repository_url: str, url: str, form: str) -> OciUrl:
    try:
        return parse_oci_url(repository_url)
    except InvalidUrl as error:
        raise InvalidUrl(
            f"{url!r} is not an OCI artifact address; write {form} with a lower-case "
            "repository name and no credentials"
        ) from error


def _describe(reference: ArtifactReference) -> str:
    return f"digest {reference.digest}" if reference.digest else f"tag {reference.reference}"
