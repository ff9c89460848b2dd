"""dependsOn[].readyExpr: a CEL expression over ``self`` and ``dep`` that replaces the
built-in readiness check of a Kustomization dependency."""

from __future__ import annotations

from typing import Any

import pytest

from lockstep.api.kustomize import Kustomization
from lockstep.api.meta import Artifact
from lockstep.controllers.kustomize.dependencies import (
    DependencyNotReady,
    InvalidReadyExpr,
    check_dependencies,
)

ARTIFACT = Artifact.model_validate(
    {
        "path": "a.tar.gz",
        "url": "http://x/a.tar.gz",
        "revision": "main@sha1:2",
        "digest": "sha256:" + "0" * 64,
        "lastUpdateTime": "2026-12-06T00:00:00Z",
    }
)


def kustomization(name: str, ready_expr: str | None = None, **status: Any) -> dict[str, Any]:
    dependency: dict[str, Any] = {"name": "infra"}
    if ready_expr is not None:
        dependency["readyExpr"] = ready_expr
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": "ns", "generation": 1, "labels": {"tier": "a"}},
        "spec": {
            "interval": "1m",
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": "repo"},
            "dependsOn": [dependency] if name == "apps" else [],
        },
        "status": status,
    }


class Cache:
    def __init__(self, *objects: dict[str, Any]) -> None:
        self.objects = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects}

    def get(self, key: tuple[str, str]) -> dict[str, Any] | None:
        return self.objects.get(key)


NOT_READY = {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "False"}]}


async def check(ready_expr: str | None, dependency_status: dict[str, Any]) -> None:
    apps = kustomization("apps", ready_expr)
    cache = Cache(apps, kustomization("infra", **dependency_status))
    await check_dependencies(Kustomization.model_validate(apps), ARTIFACT, cache, None, {})  # type: ignore[arg-type]


async def test_without_expression_the_ready_condition_decides() -> None:
    with pytest.raises(DependencyNotReady, match=r"^dependency 'ns/infra' is not ready$"):
        await check(None, NOT_READY)


async def test_a_true_expression_replaces_the_ready_condition() -> None:
    await check("dep.metadata.name == 'infra' && self.metadata.labels.tier == 'a'", NOT_READY)


async def test_a_false_expression_is_not_ready_with_flux_s_message() -> None:
    with pytest.raises(
        DependencyNotReady,
        match=r"^dependency 'ns/infra' is not ready according to readyExpr eval$",
    ):
        await check("dep.status.?lastAppliedRevision.orValue('') == 'main@sha1:2'", NOT_READY)


async def test_an_expression_that_fails_to_evaluate_is_not_ready() -> None:
    with pytest.raises(DependencyNotReady, match="could not be evaluated"):
        await check("dep.status.missing == 'x'", NOT_READY)


@pytest.mark.parametrize("source", ["dep.status.((", "dep.metadata.name", "1 + 1"])
async def test_an_expression_that_is_not_a_boolean_is_invalid(source: str) -> None:
    with pytest.raises(InvalidReadyExpr, match=r"^dependency 'ns/infra': readyExpr "):
        await check(source, NOT_READY)
