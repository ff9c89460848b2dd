"""sourceRef kinds lockstep does not serve yet (Bucket, ExternalArtifact): accepted by the
API, then stalled with a message naming the Kustomization, the source and its kind."""

from __future__ import annotations

import pytest

from ground.artifacts import condition
from ground.engine import Engine
from ground.gitops import Scenario

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("kind", ["Bucket", "ExternalArtifact"])
async def test_unsupported_source_kind_stalls(
    engine: Engine, scenario: Scenario, kind: str
) -> None:
    await scenario.kustomization("apps", "./apps", sourceRef={"kind": kind, "name": "manifests"})
    stalled = await scenario.failed("apps", "not supported yet")
    assert condition(stalled, "Ready") == (
        f"False: Kustomization {scenario.namespace}/apps: sourceRef {kind} "
        f"{scenario.namespace}/manifests: the {kind} source kind is not supported yet by "
        "lockstep; serve these manifests from a GitRepository or an OCIRepository"
    )
    assert condition(stalled, "Stalled").startswith("True")
    assert condition(stalled, "Reconciling") == ""
    assert "ArtifactFailed" in str(stalled["status"]["conditions"])
