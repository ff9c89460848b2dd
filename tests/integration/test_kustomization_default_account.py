"""``lockstep run --default-service-account``: a Kustomization without
``serviceAccountName`` is applied with the rights of that account of its namespace,
never with the engine's own; one that names an account is applied as it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ground.engine import Engine, start_engine, stop_engine, wait_for_deletions
from ground.gitops import Scenario, config_map, service_account
from lockstep.kube import ObjectRef

pytestmark = pytest.mark.integration

DEFAULT_ACCOUNT = "tenant"

ROLE = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: tenant-takes-the-cluster
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: cluster-admin
subjects:
  - kind: ServiceAccount
    name: tenant
    namespace: default
"""


@pytest.fixture(scope="module")
def tenant_engine(
    crds_installed: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    running = start_engine(
        crds_installed,
        tmp_path_factory.mktemp("engine"),
        "--default-service-account",
        DEFAULT_ACCOUNT,
    )
    yield running
    try:
        wait_for_deletions(crds_installed, running)
    finally:
        stop_engine(running)


async def applied_settings(scenario: Scenario, colour: str, **spec: Any) -> dict[str, str]:
    """The data of the ConfigMap ``settings`` once the Kustomization ``apps``, with ``spec``,
    has applied it with ``colour``."""
    scenario.commit({"apps/settings.yaml": config_map("settings", colour=colour)})
    await scenario.source()
    await scenario.kustomization("apps", "./apps", **spec)
    await scenario.ready("apps")
    live = await scenario.kube.get(ObjectRef("v1", "ConfigMap", "settings", scenario.namespace))
    return live["data"]


async def test_without_an_account_the_default_one_applies_within_its_rights(
    tenant_engine: Engine, scenario: Scenario
) -> None:
    await service_account(scenario, DEFAULT_ACCOUNT, ["configmaps"])
    assert await applied_settings(scenario, "blue") == {"colour": "blue"}


async def test_without_an_account_nothing_beyond_the_default_ones_rights_is_applied(
    tenant_engine: Engine, scenario: Scenario
) -> None:
    await service_account(scenario, DEFAULT_ACCOUNT, ["configmaps"])
    scenario.commit(
        {
            "apps/settings.yaml": config_map("settings", colour="blue"),
            "apps/escalate.yaml": ROLE,
        }
    )
    await scenario.source()
    await scenario.kustomization("apps", "./apps")
    failed = await scenario.failed("apps", "forbidden")
    message = failed["status"]["conditions"][0]["message"]
    assert f"system:serviceaccount:{scenario.namespace}:{DEFAULT_ACCOUNT}" in message
    assert await scenario.gone(
        ObjectRef("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "tenant-takes-the-cluster")
    ), "the engine's own rights are not used"
    assert await scenario.gone(ObjectRef("v1", "ConfigMap", "settings", scenario.namespace)), (
        "nothing is applied"
    )


async def test_an_account_named_by_the_kustomization_wins_over_the_default(
    tenant_engine: Engine, scenario: Scenario
) -> None:
    # The default account may not write ConfigMaps; the named one may.
    await service_account(scenario, DEFAULT_ACCOUNT, ["secrets"])
    await service_account(scenario, "deployer", ["configmaps"])
    applied = await applied_settings(scenario, "green", serviceAccountName="deployer")
    assert applied == {"colour": "green"}
