"""Container image tags on the test ground's registries, and a registry that wants a password.

An image tag costs little to push: a small OCI image manifest (a config that names the
tag, so each tag has its own digest, and one tiny layer). The authenticated registry is
a second ``docker-registry`` whose htpasswd file holds one user with a bcrypt hash, the
only hash format the registry accepts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml

from lockstep.dev.registry import OciRegistry
from lockstep.sources.credentials import BasicAuth
from lockstep.sources.registry_client import (
    OCI_MANIFEST,
    OciUrl,
    RegistryClient,
    RegistryOptions,
)

ACCEPTANCE = """\
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata: {name: payment-service, namespace: flux-system}
spec: {image: 127.0.0.1:5000/kaval-labs/payment-api, interval: 5m}
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata: {name: payment-service-policy, namespace: flux-system}
spec:
  imageRepositoryRef: {name: payment-service}
  policy: {semver: {range: '^1.2.x'}}
"""
"""Flux's ImageRepository and ImagePolicy as users write them."""

ACCEPTANCE_REPOSITORY = "kaval-labs/payment-api"

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
REGISTRY_USER = BasicAuth("ci-bot", "pull-s3cret")


def acceptance_manifests(namespace: str, host: str) -> list[dict[str, Any]]:
    """`ACCEPTANCE` with only the namespace and the registry's address replaced."""
    text = ACCEPTANCE.replace("flux-system", namespace).replace("127.0.0.1:5000", host)
    return list(yaml.safe_load_all(text))


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[OciRegistry]:
    """A registry of the test's own: the acceptance image path is fixed, its tags are not."""
    with OciRegistry(tmp_path / "registry") as served:
        yield served


def push_tags(
    registry: OciRegistry, repository: str, *tags: str, auth: BasicAuth | None = None
) -> dict[str, str]:
    """Push a distinct tiny image under each tag of ``registry.host/repository``; digests by tag."""
    options = RegistryOptions(auth=auth, insecure=True, timeout=30)
    digests = {}
    with RegistryClient(OciUrl(registry.host, repository), options, push=True) as client:
        layer = client.push_blob(b"layer", OCI_LAYER, "layer")
        for tag in tags:
            config = json.dumps({"architecture": "amd64", "os": "linux", "tag": tag}).encode()
            manifest = {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": client.push_blob(config, OCI_CONFIG, "config").to_json(),
                "layers": [layer.to_json()],
            }
            raw = json.dumps(manifest).encode()
            digests[tag] = client.push_manifest(tag, raw, OCI_MANIFEST, f"tag {tag}")
    return digests


def htpasswd_line(user: BasicAuth) -> str:
    """``user:<bcrypt hash>`` at the lowest cost, so the registry answers quickly."""
    hashed = bcrypt.hashpw(user.password.encode(), bcrypt.gensalt(rounds=4)).decode()
    return f"{user.username}:{hashed}\n"


@contextmanager
def authenticated_registry(root: Path, user: BasicAuth = REGISTRY_USER) -> Iterator[OciRegistry]:
    """A registry under `root` that answers only `user`, by HTTP basic auth."""
    root.mkdir(parents=True, exist_ok=True)
    htpasswd = root / "htpasswd"
    htpasswd.write_text(htpasswd_line(user))
    with OciRegistry(root / "registry", htpasswd=htpasswd) as registry:
        yield registry
