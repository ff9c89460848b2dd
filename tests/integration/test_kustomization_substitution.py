"""postBuild substitution through the engine: inline variables and substituteFrom
ConfigMaps and Secrets, optional references, and a clear error for a missing one."""

from __future__ import annotations

import base64

import pytest

from ground.engine import Engine
from ground.gitops import Scenario
from ground.wait import eventually
from lockstep.kube import ObjectRef

pytestmark = pytest.mark.integration

TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  annotations: {shown: "$${kept}"}
data:
  cluster: ${cluster_name}
  region: ${region:=eu-west-1}
  tier: ${tier}
  password: ${db_password}
"""


async def test_variables_from_spec_configmap_and_secret(engine: Engine, scenario: Scenario) -> None:
    namespace = scenario.namespace
    await scenario.kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "cluster-vars", "namespace": namespace},
            "data": {"cluster_name": "from-configmap", "tier": "gold"},
        }
    )
    await scenario.kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "cluster-secrets", "namespace": namespace},
            "data": {"db_password": base64.b64encode(b"s3cret").decode()},
        }
    )
    scenario.commit({"apps/settings.yaml": TEMPLATE})
    await scenario.source()
    await scenario.kustomization(
        "apps",
        "./apps",
        postBuild={
            "substitute": {"tier": "platinum"},
            "substituteFrom": [
                {"kind": "ConfigMap", "name": "cluster-vars"},
                {"kind": "Secret", "name": "cluster-secrets"},
                {"kind": "ConfigMap", "name": "not-there", "optional": True},
            ],
        },
    )
    await scenario.ready("apps")
    settings = await scenario.kube.get(ObjectRef("v1", "ConfigMap", "settings", namespace))
    assert settings["data"] == {
        "cluster": "from-configmap",
        "region": "eu-west-1",
        "tier": "platinum",
        "password": "s3cret",
    }
    assert settings["metadata"]["annotations"]["shown"] == "${kept}"


async def test_missing_substitute_from_names_the_object(engine: Engine, scenario: Scenario) -> None:
    scenario.commit({"apps/settings.yaml": TEMPLATE})
    await scenario.source()
    await scenario.kustomization(
        "apps", "./apps", postBuild={"substituteFrom": [{"kind": "Secret", "name": "absent"}]}
    )
    failed = await scenario.failed("apps", "Secret/")
    message = failed["status"]["conditions"][0]["message"]
    assert (
        f"Secret/{scenario.namespace}/absent (postBuild.substituteFrom) does not exist" in message
    )
    assert await scenario.gone(ObjectRef("v1", "ConfigMap", "settings", scenario.namespace))


async def test_an_undefined_variable_without_default_fails_the_build(
    engine: Engine, scenario: Scenario
) -> None:
    scenario.commit({"apps/settings.yaml": TEMPLATE})
    await scenario.source()
    await scenario.kustomization(
        "apps", "./apps", postBuild={"substitute": {"cluster_name": "c1", "tier": "t"}}
    )
    failed = await scenario.failed("apps", "strict mode")
    message = failed["status"]["conditions"][0]["message"]
    assert (
        f"ConfigMap/{scenario.namespace}/settings: postBuild substitution failed: "
        'variable not set (strict mode): "db_password"'
    ) in message
    assert "BuildFailed" in str(failed["status"]["conditions"])


async def test_substitute_strategy_always_expands_without_variables(
    engine: Engine, scenario: Scenario
) -> None:
    scenario.commit(
        {
            "apps/settings.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n"
            "data: {region: '${region:=eu-west-1}'}\n"
        }
    )
    await scenario.source()
    settings = ObjectRef("v1", "ConfigMap", "settings", scenario.namespace)
    await scenario.kustomization("apps", "./apps", postBuild={"substitute": {}})
    await scenario.ready("apps")
    assert (await scenario.kube.get(settings))["data"]["region"] == "${region:=eu-west-1}", (
        "without variables nothing is substituted"
    )

    await scenario.kustomization("apps", "./apps", postBuild={"substituteStrategy": "Always"})
    await eventually(
        lambda: scenario.kube.get(settings),
        lambda cm: cm["data"]["region"] == "eu-west-1",
        what="the default substituted",
    )
