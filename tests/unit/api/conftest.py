"""Sample Flux manifests shared by the api tests, exactly as users write them."""

from typing import Any

import pytest
import yaml

from ground.manifests import SAMPLE_MANIFESTS


@pytest.fixture
def sample_manifests() -> list[dict[str, Any]]:
    """The samples that the generated CRDs must accept, freshly parsed for each test."""
    return list(yaml.safe_load_all(SAMPLE_MANIFESTS))


@pytest.fixture
def sample_by_kind(sample_manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The samples keyed by kind."""
    return {manifest["kind"]: manifest for manifest in sample_manifests}
