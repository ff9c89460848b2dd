"""spec.components with ignoreMissingComponents, and spec.buildMetadata, through the
engine: a component the source does not hold is left out instead of failing the build,
and kustomize's origin annotations reach the applied objects."""

from __future__ import annotations

import pytest

from ground.engine import Engine
from ground.gitops import Scenario, config_map
from lockstep.kube import ObjectRef

pytestmark = pytest.mark.integration

KUSTOMIZATION = (
    "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [settings.yaml]\n"
)
COMPONENT = """\
apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
patches:
  - patch: |-
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: settings}
      data: {colour: green}
"""


async def test_missing_components_fail_unless_ignored(engine: Engine, scenario: Scenario) -> None:
    scenario.commit(
        {
            "apps/kustomization.yaml": KUSTOMIZATION,
            "apps/settings.yaml": config_map("settings", colour="blue"),
            "components/green/kustomization.yaml": COMPONENT,
        }
    )
    await scenario.source()
    components = ["../components/green", "../components/absent"]
    await scenario.kustomization("apps", "./apps", components=components)
    failed = await scenario.failed("apps", "absent")
    assert "BuildFailed" in str(failed["status"]["conditions"])

    await scenario.kustomization(
        "apps", "./apps", components=components, ignoreMissingComponents=True
    )
    await scenario.ready("apps")
    settings = await scenario.kube.get(ObjectRef("v1", "ConfigMap", "settings", scenario.namespace))
    assert settings["data"] == {"colour": "green"}, "the component that exists is applied"


async def test_build_metadata_origin_annotations(engine: Engine, scenario: Scenario) -> None:
    scenario.commit(
        {
            "apps/kustomization.yaml": KUSTOMIZATION,
            "apps/settings.yaml": config_map("settings", colour="blue"),
        }
    )
    await scenario.source()
    await scenario.kustomization("apps", "./apps", buildMetadata=["originAnnotations"])
    await scenario.ready("apps")
    settings = await scenario.kube.get(ObjectRef("v1", "ConfigMap", "settings", scenario.namespace))
    assert settings["metadata"]["annotations"]["config.kubernetes.io/origin"] == (
        "path: settings.yaml\n"
    )
