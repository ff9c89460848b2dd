"""Health checks through the engine: wait, healthChecks, healthCheckExprs, timeout with a
message naming what is not ready, and a new revision cancelling a long wait."""

from __future__ import annotations

import pytest

from ground.artifacts import condition
from ground.engine import Engine
from ground.gitops import Scenario, deployment
from ground.wait import eventually
from lockstep.kube import ObjectRef

pytestmark = pytest.mark.integration

UNSCHEDULABLE = deployment(name="stuck").replace(
    "    spec:\n      containers:",
    "    spec:\n      nodeSelector: {no-such-node: 'true'}\n      containers:",
)

WIDGET_CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: widgets.{group}}}
spec:
  group: {group}
  scope: Namespaced
  names: {{kind: Widget, plural: widgets, singular: widget}}
  versions:
    - name: v1
      served: true
      storage: true
      subresources: {{status: {{}}}}
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
"""


async def test_wait_reports_ready_and_healthy(engine: Engine, scenario: Scenario) -> None:
    scenario.commit({"apps/web.yaml": deployment()})
    await scenario.source()
    await scenario.kustomization("apps", "./apps", wait=True, timeout="1m")
    ready = await scenario.ready("apps")
    assert condition(ready, "Healthy").startswith("True")


async def test_timeout_names_the_objects_not_ready(engine: Engine, scenario: Scenario) -> None:
    scenario.commit({"apps/web.yaml": deployment(), "apps/stuck.yaml": UNSCHEDULABLE})
    await scenario.source()
    await scenario.kustomization("apps", "./apps", wait=True, timeout="3s")
    failed = await scenario.failed("apps", "not ready")
    message = condition(failed, "Ready")
    assert f"Deployment/{scenario.namespace}/stuck" in message
    assert f"Deployment/{scenario.namespace}/web" not in message
    assert "HealthCheckFailed" in str(failed["status"]["conditions"])
    assert condition(failed, "Healthy").startswith("False")


async def test_health_checks_list_only_waits_for_the_named_objects(
    engine: Engine, scenario: Scenario
) -> None:
    scenario.commit({"apps/web.yaml": deployment(), "apps/stuck.yaml": UNSCHEDULABLE})
    await scenario.source()
    await scenario.kustomization(
        "apps",
        "./apps",
        timeout="1m",
        healthChecks=[
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "web",
                "namespace": scenario.namespace,
            }
        ],
    )
    ready = await scenario.ready("apps")
    assert condition(ready, "Healthy").startswith("True")


async def test_health_check_exprs_judge_custom_resources(
    engine: Engine, scenario: Scenario
) -> None:
    group = f"{scenario.namespace}.example.com"
    widget = f"apiVersion: {group}/v1\nkind: Widget\nmetadata: {{name: w}}\nspec: {{size: 1}}\n"
    scenario.commit(
        {"crds/widget.yaml": WIDGET_CRD.format(group=group), "apps/widget.yaml": widget}
    )
    await scenario.source()
    await scenario.kustomization("crds", "./crds", targetNamespace=None)
    await scenario.ready("crds")
    await scenario.kustomization(
        "apps",
        "./apps",
        wait=True,
        timeout="1m",
        healthCheckExprs=[
            {
                "apiVersion": f"{group}/v1",
                "kind": "Widget",
                "current": "status.?phase.orValue('') == 'Running'",
                "failed": "status.?phase.orValue('') == 'Broken'",
            }
        ],
    )
    ref = ObjectRef(f"{group}/v1", "Widget", "w", scenario.namespace)
    await eventually(lambda: scenario.get(ref), lambda w: w is not None, what="widget applied")
    waiting = await scenario.kube.get(scenario.ref("apps"))
    assert not condition(waiting, "Ready").startswith("True")
    await scenario.kube.apply_status(
        {**(await scenario.kube.get(ref)), "status": {"phase": "Running"}}
    )
    ready = await scenario.ready("apps")
    assert condition(ready, "Healthy").startswith("True")


async def test_a_new_revision_cancels_a_long_health_wait(
    engine: Engine, scenario: Scenario
) -> None:
    scenario.commit({"apps/web.yaml": UNSCHEDULABLE})
    await scenario.source()
    await scenario.kustomization("apps", "./apps", wait=True, timeout="10m")
    await eventually(
        lambda: scenario.get(ObjectRef("apps/v1", "Deployment", "stuck", scenario.namespace)),
        lambda d: d is not None,
        what="the stuck Deployment applied",
    )
    scenario.commit({"apps/web.yaml": deployment(name="stuck")}, "fix the node selector")
    ready = await scenario.ready("apps", within=60)
    assert ready["status"]["lastAppliedRevision"] == ready["status"]["lastAttemptedRevision"]
