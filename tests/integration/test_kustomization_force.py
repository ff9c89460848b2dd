"""Immutable fields through the engine: a clear error naming the field, or, with
spec.force, the object recreated."""

from __future__ import annotations

import pytest

from ground.artifacts import condition
from ground.engine import Engine
from ground.gitops import Scenario
from ground.wait import eventually
from lockstep.kube import ObjectRef

pytestmark = pytest.mark.integration

JOB = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: migrate
          image: migrate:{tag}
"""


@pytest.mark.parametrize("force", [False, True], ids=["refused", "recreated"])
async def test_changing_an_immutable_field(engine: Engine, scenario: Scenario, force: bool) -> None:
    scenario.commit({"apps/job.yaml": JOB.format(tag="1")})
    await scenario.source()
    await scenario.kustomization("apps", "./apps", force=force)
    await scenario.ready("apps")
    job = ObjectRef("batch/v1", "Job", "migrate", scenario.namespace)
    first_uid = (await scenario.kube.get(job))["metadata"]["uid"]

    scenario.commit({"apps/job.yaml": JOB.format(tag="2")}, "new image")
    if not force:
        failed = await scenario.failed("apps", "immutable")
        message = condition(failed, "Ready")
        assert f"Job/{scenario.namespace}/migrate" in message
        assert "spec.force" in message
        live = await scenario.kube.get(job)
        assert live["metadata"]["uid"] == first_uid
        assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "migrate:1"
        return
    recreated = await eventually(
        lambda: scenario.get(job),
        lambda j: j is not None and j["metadata"]["uid"] != first_uid,
        what="the Job recreated",
    )
    assert recreated["spec"]["template"]["spec"]["containers"][0]["image"] == "migrate:2"
    await scenario.ready("apps")
