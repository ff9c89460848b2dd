"""serviceAccountName: objects are applied with the rights of that account only."""

from __future__ import annotations

import pytest

from ground.engine import Engine
from ground.gitops import Scenario, config_map, service_account
from ground.wait import eventually
from lockstep.kube import ObjectRef

pytestmark = pytest.mark.integration


SERVICE_ACCOUNT_OBJECT = """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: robot
"""


async def test_an_account_with_rights_applies(engine: Engine, scenario: Scenario) -> None:
    await service_account(scenario, "deployer", ["configmaps"])
    scenario.commit({"apps/settings.yaml": config_map("settings", colour="blue")})
    await scenario.source()
    await scenario.kustomization("apps", "./apps", serviceAccountName="deployer")
    await scenario.ready("apps")
    live = await scenario.kube.get(ObjectRef("v1", "ConfigMap", "settings", scenario.namespace))
    assert live["data"] == {"colour": "blue"}


async def test_an_account_without_rights_applies_nothing(
    engine: Engine, scenario: Scenario
) -> None:
    await service_account(scenario, "limited", ["configmaps"])
    scenario.commit(
        {
            "apps/settings.yaml": config_map("settings", colour="blue"),
            "apps/robot.yaml": SERVICE_ACCOUNT_OBJECT,
        }
    )
    await scenario.source()
    await scenario.kustomization("apps", "./apps", serviceAccountName="limited")
    failed = await scenario.failed("apps", "forbidden")
    message = failed["status"]["conditions"][0]["message"]
    assert f"ServiceAccount/{scenario.namespace}/robot" in message
    assert f"system:serviceaccount:{scenario.namespace}:limited" in message
    assert await scenario.gone(ObjectRef("v1", "ConfigMap", "settings", scenario.namespace)), (
        "nothing is applied"
    )


async def test_deleting_after_the_account_is_gone_leaves_the_objects_and_names_them(
    engine: Engine, scenario: Scenario
) -> None:
    await service_account(scenario, "deployer", ["configmaps"])
    scenario.commit({"apps/settings.yaml": config_map("settings", colour="blue")})
    await scenario.source()
    await scenario.kustomization("apps", "./apps", serviceAccountName="deployer", prune=True)
    await scenario.ready("apps")

    # As when the namespace is deleted: the account goes before the Kustomization.
    await scenario.kube.delete(ObjectRef("v1", "ServiceAccount", "deployer", scenario.namespace))
    await scenario.kube.delete(scenario.ref("apps"))
    await eventually(lambda: scenario.gone(scenario.ref("apps")), bool, what="apps deleted")

    settings = ObjectRef("v1", "ConfigMap", "settings", scenario.namespace)
    assert not await scenario.gone(settings), "nothing is deleted without the account"
    events = await scenario.kubectl("get", "events", "--field-selector=involvedObject.name=apps")
    assert "service account deployer no longer exists" in events
    assert f"ConfigMap/{scenario.namespace}/settings" in events
