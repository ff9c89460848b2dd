"""OCI artifacts as Flux's OCIRepository reads them: which ref wins, its revision, its layer.

The OCIRepository reconciler calls, from its thread pool:

1. `resolve_oci` — the manifest digest that ``spec.ref`` names now, with Flux's
   precedence (digest, then semver, then tag, then the ``latest`` tag) and its revision
   string: ``<tag>@sha256:<hex>``, or ``sha256:<hex>`` for a digest. If the revision
   equals the current artifact's, the reconciler stops here: a poll costs one manifest
   HEAD, or the tag list and one HEAD for a semver range (plus the token round trip on
   registries that want one).
2. `pull_oci` — when the revision is new: fetch the manifest by digest, pick the layer
   (``spec.layerSelector``: the first layer of the media type, else the first layer), and
   either extract it (``extract``, the default) into a folder for
   :class:`lockstep.sources.store.ArtifactStore` to pack, or keep it as it is (``copy``).
   Every blob is checked against its digest; the manifest's annotations come back as
   the artifact's metadata, as Flux records them.
3. optionally :func:`lockstep.sources.cosign.verify_cosign` on the resolved artifact.

Artifacts pushed by ``flux push artifact`` (config ``application/vnd.cncf.flux.config.v1+json``,
one ``application/vnd.cncf.flux.content.v1.tar+gzip`` layer) work unchanged, as do
other single-manifest artifacts whose layer is a gzip tarball.

The layer is unpacked by :func:`lockstep.sources.extract.extract_tarball`, which refuses
every entry that could write outside the folder and stops at the size limit.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lockstep.api.source import OCILayerSelector, OCIRepositoryRef
from lockstep.sources.errors import InvalidArtifact, InvalidRef, NoSemverMatch
from lockstep.sources.extract import extract_tarball
from lockstep.sources.refs import highest_matching_tag
from lockstep.sources.registry_client import (
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    Descriptor,
    OciUrl,
    RegistryClient,
    RegistryOptions,
    default_registry_options,
    is_digest,
    parse_oci_url,
)
from lockstep.sources.store import DEFAULT_MAX_CONTENT_BYTES

DEFAULT_TAG = "latest"
"""The tag Flux pulls when ``spec.ref`` names nothing."""

FLUX_CONFIG_MEDIA_TYPE = "application/vnd.cncf.flux.config.v1+json"
FLUX_CONTENT_MEDIA_TYPE = "application/vnd.cncf.flux.content.v1.tar+gzip"
SOURCE_ANNOTATION = "org.opencontainers.image.source"
REVISION_ANNOTATION = "org.opencontainers.image.revision"
CREATED_ANNOTATION = "org.opencontainers.image.created"

Operation = Literal["extract", "copy"]

_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class OciRef:
    """Which artifact to pull; empty strings count as unset, as in the Flux API."""

    tag: str | None = None
    semver: str | None = None
    semver_filter: str | None = None
    digest: str | None = None

    @classmethod
    def from_spec(cls, ref: OCIRepositoryRef | None) -> OciRef:
        """The ref of an OCIRepository's ``spec.ref`` (which may be omitted)."""
        if ref is None:
            return cls()
        return cls(
            tag=ref.tag or None,
            semver=ref.semver or None,
            semver_filter=ref.semver_filter or None,
            digest=ref.digest or None,
        )

    def describe(self) -> str:
        """The ref that takes effect, in words for messages: ``tag v1.0.0``."""
        if self.digest:
            return f"digest {self.digest}"
        if self.semver:
            kept = f" among tags matching {self.semver_filter!r}" if self.semver_filter else ""
            return f"semver range {self.semver!r}{kept}"
        return f"tag {self.tag or DEFAULT_TAG}"


@dataclass(frozen=True)
class ResolvedArtifact:
    """The manifest a ref names in a repository, and the Flux revision naming it."""

    location: OciUrl
    digest: str
    """``sha256:<hex>`` of the manifest."""

    tag: str | None
    """The tag resolved; None for a digest ref."""

    revision: str
    """Compared with ``status.artifact.revision``: ``v1.0.0@sha256:<hex>`` or ``sha256:<hex>``."""

    @property
    def url(self) -> str:
        return self.location.url


@dataclass(frozen=True)
class PulledArtifact:
    """What `pull_oci` wrote, and the manifest annotations Flux keeps as metadata."""

    path: Path
    """The folder the layer was extracted into, or the layer file for ``copy``."""

    operation: Operation
    layer: Descriptor
    metadata: dict[str, str]
    """The manifest's annotations, such as ``org.opencontainers.image.revision``."""

    content_bytes: int
    """Bytes of file content extracted, or of the layer copied."""


def resolve_oci(url: str, ref: OciRef, options: RegistryOptions | None = None) -> ResolvedArtifact:
    """Resolve `ref` in the repository at `url` (``oci://host[:port]/repo``) to a digest."""
    options = options or default_registry_options()
    location = parse_oci_url(url)
    if ref.digest and not is_digest(ref.digest):
        raise InvalidRef(
            f"digest {ref.digest!r} for {location.url} is not sha256:<64 hex digits>; "
            "correct spec.ref.digest"
        )
    with RegistryClient(location, options) as client:
        if ref.digest:
            client.manifest_digest(ref.digest, f"digest {ref.digest}")
            return ResolvedArtifact(location, ref.digest, None, ref.digest)
        if ref.semver:
            tag = _highest_tag(client.list_tags(), ref.semver, ref.semver_filter, location.url)
        else:
            tag = ref.tag or DEFAULT_TAG
        digest = client.manifest_digest(tag, f"tag {tag}")
    return ResolvedArtifact(location, digest, tag, f"{tag}@{digest}")


def pull_oci(
    resolved: ResolvedArtifact,
    dest: Path,
    layer_selector: OCILayerSelector | None = None,
    options: RegistryOptions | None = None,
    max_bytes: int = DEFAULT_MAX_CONTENT_BYTES,
) -> PulledArtifact:
    """Fetch the layer of `resolved` that `layer_selector` picks into `dest` (empty or missing).

    ``extract`` unpacks the gzip tarball into `dest`; ``copy`` writes the layer as
    ``<digest hex>.tar.gz`` in `dest`. `max_bytes` limits both the layer and, for
    ``extract``, the files it holds. On failure `dest` may hold a partial tree that the
    caller must discard.
    """
    options = options or default_registry_options()
    operation: Operation = (layer_selector.operation if layer_selector else None) or "extract"
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise ValueError(f"pull destination {dest} must be empty")
    with RegistryClient(resolved.location, options) as client:
        manifest = client.get_manifest(resolved.digest, f"manifest {resolved.revision}")
        if manifest.media_type in (OCI_INDEX, DOCKER_MANIFEST_LIST):
            raise InvalidArtifact(
                f"{resolved.url} {resolved.revision} is an image index (several platforms), "
                "not an artifact; push the artifact with flux push artifact"
            )
        layer = _select_layer(manifest.layers, layer_selector, resolved)
        what = f"layer {layer.digest} of {resolved.revision}"
        if operation == "copy":
            path = dest / f"{layer.digest.removeprefix('sha256:')}.tar.gz"
            with path.open("wb") as sink:
                client.fetch_blob(layer, sink, max_bytes, what)
            _check_gzip(path, resolved, layer)
            return PulledArtifact(path, operation, layer, dict(manifest.annotations), layer.size)
        with tempfile.TemporaryFile(prefix="lockstep-layer-") as blob:
            client.fetch_blob(layer, blob, max_bytes, what)
            blob.seek(0)
            source = f"{resolved.url} {resolved.revision}"
            content_bytes = extract_tarball(blob, dest, max_bytes=max_bytes, source=source)
    return PulledArtifact(dest, operation, layer, dict(manifest.annotations), content_bytes)


def _highest_tag(tags: list[str], semver: str, semver_filter: str | None, url: str) -> str:
    if not semver_filter:
        return highest_matching_tag(semver, tags, url)
    try:
        pattern = re.compile(semver_filter)
    except re.error as error:
        raise InvalidRef(
            f"semverFilter {semver_filter!r} for {url} is not a valid regular expression "
            f"({error}); correct spec.ref.semverFilter"
        ) from error
    kept = [tag for tag in tags if pattern.search(tag)]
    try:
        return highest_matching_tag(semver, kept, url)
    except NoSemverMatch as error:
        raise NoSemverMatch(
            f"{error}; spec.ref.semverFilter {semver_filter!r} kept {len(kept)} of {len(tags)} tags"
        ) from error


def _select_layer(
    layers: tuple[Descriptor, ...], selector: OCILayerSelector | None, resolved: ResolvedArtifact
) -> Descriptor:
    if not layers:
        raise InvalidArtifact(
            f"{resolved.url} {resolved.revision} has no layers; push an artifact with content"
        )
    media_type = selector.media_type if selector else None
    if not media_type:
        return layers[0]
    for layer in layers:
        if layer.media_type == media_type:
            return layer
    present = ", ".join(sorted({layer.media_type for layer in layers}))
    raise InvalidArtifact(
        f"{resolved.url} {resolved.revision} has no layer of media type {media_type} "
        f"(it has {present}); correct spec.layerSelector.mediaType"
    )


def _check_gzip(path: Path, resolved: ResolvedArtifact, layer: Descriptor) -> None:
    with path.open("rb") as copied:
        if copied.read(len(_GZIP_MAGIC)) != _GZIP_MAGIC:
            raise InvalidArtifact(
                f"{resolved.url} {resolved.revision}: layer {layer.digest} ({layer.media_type}) "
                "is not gzip-compressed, as copy needs; push a tar+gzip layer"
            )
