"""Pushing artifacts to the test ground's registry in Flux's format.

``flux push artifact`` packs a folder as a gzip tarball of the files at its root
in an ``application/vnd.cncf.flux.content.v1.tar+gzip`` layer, with an
``application/vnd.cncf.flux.config.v1+json`` config and the source, revision and
created annotations. These helpers push the same with oras-py, so lockstep reads
what another tool wrote.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import oras.provider

from lockstep.dev.registry import OciRegistry
from lockstep.sources.oci import (
    CREATED_ANNOTATION,
    FLUX_CONFIG_MEDIA_TYPE,
    FLUX_CONTENT_MEDIA_TYPE,
    REVISION_ANNOTATION,
    SOURCE_ANNOTATION,
)

FILES = {
    "kustomization.yaml": b"resources:\n  - deployment.yaml\n",
    "deployment.yaml": b"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n",
}
ANNOTATIONS = {
    SOURCE_ANNOTATION: "https://github.com/acme/infra",
    REVISION_ANNOTATION: "main@sha1:0123456789abcdef0123456789abcdef01234567",
    CREATED_ANNOTATION: "2026-01-01T00:00:00Z",
}


def flux_tarball(files: dict[str, bytes]) -> bytes:
    """Files at the root of a gzip tarball, as ``flux push artifact`` packs a folder."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return out.getvalue()


def push(
    registry: OciRegistry,
    repository: str,
    tag: str,
    tmp_path: Path,
    layers: list[tuple[bytes, str]] | None = None,
    files: dict[str, bytes] | None = None,
) -> str:
    """Push a Flux-format artifact of ``files`` (default `FILES`) to ``repository:tag``.

    ``layers`` replaces the single content layer. Returns the manifest digest.
    """
    folder = tmp_path / f"push-{tag}"
    folder.mkdir()
    layer_paths = []
    for index, (content, media_type) in enumerate(
        layers or [(flux_tarball(files or FILES), FLUX_CONTENT_MEDIA_TYPE)]
    ):
        (folder / f"layer{index}.tar.gz").write_bytes(content)
        layer_paths.append(f"{folder / f'layer{index}.tar.gz'}:{media_type}")
    (folder / "config.json").write_text("{}")
    response = oras.provider.Registry(hostname=registry.host, insecure=True).push(
        target=f"{repository}:{tag}",
        files=layer_paths,
        manifest_config=f"{folder / 'config.json'}:{FLUX_CONFIG_MEDIA_TYPE}",
        manifest_annotations=ANNOTATIONS,
        disable_path_validation=True,
        quiet=True,
    )
    digest: str = response.headers["Docker-Content-Digest"]
    return digest
