"""``--no-cross-namespace-refs`` for HelmReleases: charts and dependencies only from the
release's own namespace, as Flux's helm-controller requires with the same flag."""

from __future__ import annotations

from typing import Any

import pytest

from lockstep.api.helm import HelmRelease
from lockstep.api.meta import ConditionReason
from lockstep.controllers.helm.refusals import refuse_foreign_references
from lockstep.controllers.shell import Failure


def _release(**spec: Any) -> HelmRelease:
    return HelmRelease.model_validate(
        {
            "apiVersion": "helm.toolkit.fluxcd.io/v2",
            "kind": "HelmRelease",
            "metadata": {"name": "web", "namespace": "team-a"},
            "spec": {"interval": "5m", **spec},
        }
    )


def _chart(**source: str) -> dict[str, Any]:
    return {"spec": {"chart": "web", "sourceRef": {"kind": "HelmRepository", **source}}}


def test_a_chart_and_dependencies_of_the_own_namespace_pass() -> None:
    refuse_foreign_references(
        _release(chart=_chart(name="charts"), dependsOn=[{"name": "db", "namespace": "team-a"}])
    )
    refuse_foreign_references(_release(chartRef={"kind": "OCIRepository", "name": "web"}))


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ({"chart": _chart(name="charts", namespace="team-b")}, "HelmChart team-b/team-a-web"),
        (
            {"chartRef": {"kind": "OCIRepository", "name": "web", "namespace": "team-b"}},
            "OCIRepository team-b/web",
        ),
        (
            {"chart": _chart(name="charts"), "dependsOn": [{"name": "db", "namespace": "team-b"}]},
            "dependsOn team-b/db",
        ),
    ],
)
def test_a_reference_to_another_namespace_is_refused(spec: dict[str, Any], named: str) -> None:
    with pytest.raises(Failure) as refused:
        refuse_foreign_references(_release(**spec))

    assert refused.value.reason == ConditionReason.ACCESS_DENIED
    assert refused.value.terminal
    assert str(refused.value).startswith(f"HelmRelease team-a/web: {named} is in another")
