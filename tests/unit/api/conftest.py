"""Sample Flux manifests shared by the api tests, exactly as users write them."""

from typing import Any

import pytest
import yaml

SAMPLE_MANIFESTS = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: infra, namespace: flux-system}
spec:
  interval: 1m
  url: https://github.com/acme/infra
  ref: {branch: main}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: flux-system}
spec:
  interval: 10m
  sourceRef: {kind: GitRepository, name: infra}
  path: ./apps
  prune: true
---
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


@pytest.fixture
def sample_manifests() -> list[dict[str, Any]]:
    """The samples that the generated CRDs must accept, freshly parsed for each test."""
    return list(yaml.safe_load_all(SAMPLE_MANIFESTS))


@pytest.fixture
def sample_by_kind(sample_manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The samples keyed by kind."""
    return {manifest["kind"]: manifest for manifest in sample_manifests}
