"""``lockstep run --no-cross-namespace-refs``: a Kustomization may only use a source in its
own namespace; one in another namespace is refused with a clear message."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ground.artifacts import condition
from ground.engine import Engine, start_engine, stop_engine, wait_for_deletions
from ground.gitops import Scenario, config_map

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def strict_engine(
    crds_installed: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    running = start_engine(
        crds_installed, tmp_path_factory.mktemp("engine"), "--no-cross-namespace-refs"
    )
    yield running
    try:
        wait_for_deletions(crds_installed, running)
    finally:
        stop_engine(running)


async def test_sources_in_other_namespaces_are_refused(
    strict_engine: Engine, scenario: Scenario
) -> None:
    scenario.commit({"apps/settings.yaml": config_map("settings", colour="blue")})
    await scenario.source()
    await scenario.kustomization("local", "./apps")
    await scenario.ready("local")
    await scenario.kustomization(
        "foreign",
        "./apps",
        sourceRef={"kind": "GitRepository", "name": "repo", "namespace": "default"},
    )
    refused = await scenario.failed("foreign", "cross-namespace")
    assert "AccessDenied" in str(refused["status"]["conditions"])
    assert "sourceRef GitRepository default/repo is in another namespace" in condition(
        refused, "Ready"
    )
