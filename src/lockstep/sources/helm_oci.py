"""Helm charts in OCI registries, as a HelmChart from a HelmRepository of ``type: oci``.

The HelmChart reconciler calls, from its thread pool:

1. `resolve_oci_chart` — which version of ``oci://<registry>/<path>/<chart>`` the
   HelmChart's ``spec.version`` names now, and the digest of its manifest. As in Flux's
   ``OCIChartRepository``: a version (``1.2.3``, ``v1.2.3``, ``1.2.3+build``) is used as
   the tag directly, with Helm's ``+`` → ``_``, costing one manifest HEAD; anything else
   is a Masterminds range over the repository's tags that are strict SemVer once ``_``
   is read back as ``+`` (``""`` and ``*`` meaning the latest stable version). The
   result carries a :class:`lockstep.sources.oci.ResolvedArtifact`, which
   :func:`lockstep.sources.cosign.verify_cosign` checks for ``spec.verify``.
2. `pull_oci_chart` — the chart layer (``application/vnd.cncf.helm.chart.content.v1.tar+gzip``,
   exactly one, as ``helm push`` writes it), checked against its digest and written
   atomically as ``<chart>-<version>.tgz``.

Requests go through :class:`lockstep.sources.registry_client.RegistryClient` with the
same `RegistryOptions` (credentials, TLS, proxy, plain HTTP, time limit, egress check)
as an OCIRepository's.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lockstep.semver import InvalidRangeError, Version, parse_range, parse_version
from lockstep.sources.errors import (
    InvalidArtifact,
    InvalidRef,
    NoSemverMatch,
    RefNotFound,
    RepositoryNotFound,
)
from lockstep.sources.helm_index import LATEST_STABLE, MAX_LISTED
from lockstep.sources.helm_repository import MAX_CHART_BYTES
from lockstep.sources.oci import ResolvedArtifact
from lockstep.sources.registry_client import (
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    RegistryClient,
    RegistryOptions,
    default_registry_options,
    parse_oci_url,
)

HELM_CHART_MEDIA_TYPE = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

_GZIP_MAGIC = b"\x1f\x8b"
_CHART_NAME = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_STRICT_SEMVER = re.compile(
    r"^(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)


@dataclass(frozen=True)
class ResolvedChart:
    """A chart version in a registry: its version, its tag and the manifest they name."""

    name: str
    version: str
    """The chart version, ``+`` in it where the tag has ``_``."""
    artifact: ResolvedArtifact
    """``oci://<registry>/<path>/<chart>``, the manifest digest, the tag and the revision
    ``<tag>@sha256:<hex>``: what cosign verification needs."""

    @property
    def url(self) -> str:
        return self.artifact.url


def resolve_oci_chart(
    repository_url: str,
    chart: str,
    version_range: str,
    options: RegistryOptions | None = None,
) -> ResolvedChart:
    """Resolve `chart` at `version_range` in the registry path `repository_url` (``oci://``)."""
    options = options or default_registry_options()
    if not _CHART_NAME.match(chart):
        raise InvalidRef(
            f"chart name {chart!r} cannot name a repository under {repository_url}: lower-case "
            "letters, digits and . _ - only; correct spec.chart"
        )
    location = parse_oci_url(f"{repository_url.rstrip('/')}/{chart}")
    with RegistryClient(location, options) as client:
        if parse_version(version_range) is not None:
            version = version_range
        else:
            versions = _chart_versions(client, chart)
            version = _highest_version(versions, chart, version_range, location.url)
        tag = version.replace("+", "_")
        try:
            digest = client.manifest_digest(tag, f"chart '{chart}' version {version}")
        except RefNotFound as error:
            raise RefNotFound(
                f"chart '{chart}' version {version} not found at {location.url} (no tag "
                f"{tag}); correct spec.version or push the chart"
            ) from error
    artifact = ResolvedArtifact(location, digest, tag, f"{tag}@{digest}")
    return ResolvedChart(chart, version, artifact)


def pull_oci_chart(
    resolved: ResolvedChart,
    dest_dir: Path,
    options: RegistryOptions | None = None,
    max_bytes: int = MAX_CHART_BYTES,
) -> Path:
    """Fetch the chart layer of `resolved` into `dest_dir` as ``<chart>-<version>.tgz``."""
    options = options or default_registry_options()
    what = f"{resolved.url}:{resolved.artifact.tag}"
    with RegistryClient(resolved.artifact.location, options) as client:
        manifest = client.get_manifest(resolved.artifact.digest, f"manifest of {what}")
        if manifest.media_type in (OCI_INDEX, DOCKER_MANIFEST_LIST):
            raise InvalidArtifact(
                f"{what} is an image index, not a Helm chart; push the chart with helm push"
            )
        layers = [layer for layer in manifest.layers if layer.media_type == HELM_CHART_MEDIA_TYPE]
        if len(layers) != 1:
            present = ", ".join(sorted({layer.media_type for layer in manifest.layers})) or "none"
            count = "no" if not layers else f"{len(layers)}"
            raise InvalidArtifact(
                f"{what} has {count} Helm chart layers ({HELM_CHART_MEDIA_TYPE}), not one "
                f"(its layers: {present}); push the chart with helm push"
            )
        dest_dir.mkdir(parents=True, exist_ok=True)
        descriptor, temp_name = tempfile.mkstemp(dir=dest_dir, prefix=".pull-", suffix=".partial")
        temp_path = Path(temp_name)
        try:
            with os.fdopen(descriptor, "wb") as sink:
                client.fetch_blob(layers[0], sink, max_bytes, f"the chart layer of {what}")
                sink.flush()
                os.fsync(sink.fileno())
            with temp_path.open("rb") as pulled:
                if pulled.read(len(_GZIP_MAGIC)) != _GZIP_MAGIC:
                    raise InvalidArtifact(
                        f"the chart layer of {what} is not gzip-compressed; it is no chart package"
                    )
            final_path = dest_dir / f"{resolved.name}-{resolved.version}.tgz"
            os.replace(temp_path, final_path)
        finally:
            temp_path.unlink(missing_ok=True)
    return final_path


def _chart_versions(client: RegistryClient, chart: str) -> list[tuple[Version, str]]:
    """The repository's tags that are strict SemVer once ``_`` is read back as ``+``
    (Helm's registry client lists only those), newest first."""
    try:
        tags = client.list_tags()
    except RepositoryNotFound as error:
        raise RepositoryNotFound(
            f"chart '{chart}' not found: {client.location.url} does not exist on the "
            "registry; correct spec.chart or the HelmRepository's spec.url"
        ) from error
    versions = []
    for tag in tags:
        version = tag.replace("_", "+")
        parsed = parse_version(version) if _STRICT_SEMVER.match(version) else None
        if parsed is not None:
            versions.append((parsed, version))
    return sorted(versions, key=lambda found: found[0].precedence, reverse=True)


def _highest_version(
    versions: list[tuple[Version, str]], chart: str, version_range: str, url: str
) -> str:
    """The exact version asked for if listed, else the highest in the range."""
    if any(version == version_range for _, version in versions):
        return version_range
    try:
        wanted = parse_range("*" if version_range in LATEST_STABLE else version_range)
    except InvalidRangeError as error:
        raise InvalidRef(f"spec.version of chart '{chart}' at {url}: {error}") from error
    for parsed, version in versions:
        if wanted.contains(parsed):
            return version
    available = ", ".join(version for _, version in versions[:MAX_LISTED]) or "none"
    more = ", ..." if len(versions) > MAX_LISTED else ""
    raise NoSemverMatch(
        f"no chart version of '{chart}' at {url} matches '{version_range or '*'}': available "
        f"{available}{more}; widen spec.version or push a matching version"
    )
