"""``lockstep build`` and ``lockstep diff`` against the cluster: the controller's rendering
of a local folder, and a server-side dry-run comparison with exit codes for CI."""

from __future__ import annotations

import pytest
import yaml

from ground.engine import Engine, lockstep
from ground.gitops import Scenario, config_map
from ground.wait import eventually
from lockstep.kube import KubeObject, ObjectRef

pytestmark = pytest.mark.integration

SECRET = (
    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: {password}\n"
)


async def test_build_and_diff_a_local_folder(engine: Engine, scenario: Scenario) -> None:
    files = {
        "apps/settings.yaml": config_map("settings", colour="blue"),
        "apps/old.yaml": config_map("old", colour="grey"),
        "apps/db.yaml": SECRET.format(password="first-password"),
    }
    scenario.commit(files)
    await scenario.source()
    await scenario.kustomization("apps", "./apps", postBuild={"substitute": {"tier": "gold"}})
    await scenario.ready("apps")
    folder = scenario.work.path / "apps"
    common = ["apps", "-n", scenario.namespace, "--path", str(folder)]

    unchanged = await lockstep(scenario.kubeconfig, "diff", "kustomization", *common)
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr
    assert unchanged.stdout == ""

    scenario.work.write("apps/settings.yaml", config_map("settings", colour="${tier}"))
    scenario.work.write("apps/new.yaml", config_map("new", colour="green"))
    scenario.work.write("apps/db.yaml", SECRET.format(password="second-password"))
    scenario.work.remove("apps/old.yaml")

    built = await lockstep(scenario.kubeconfig, "build", "kustomization", *common)
    assert built.returncode == 0, built.stderr
    objects = {obj["metadata"]["name"]: obj for obj in yaml.safe_load_all(built.stdout)}
    assert objects["settings"]["data"] == {"colour": "gold"}
    assert objects["settings"]["metadata"]["namespace"] == scenario.namespace
    assert objects["settings"]["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "apps"
    assert "second-password" not in built.stdout

    changed = await lockstep(scenario.kubeconfig, "diff", "kustomization", *common)
    assert changed.returncode == 1, changed.stdout + changed.stderr
    namespace = scenario.namespace
    assert f"ConfigMap/{namespace}/settings drifted" in changed.stdout
    assert "+  colour: gold" in changed.stdout
    assert f"ConfigMap/{namespace}/new created" in changed.stdout
    assert f"ConfigMap/{namespace}/old deleted" in changed.stdout
    assert f"Secret/{namespace}/db drifted" in changed.stdout
    assert "first-password" not in changed.stdout
    assert "second-password" not in changed.stdout
    settings = await scenario.kube.get(ObjectRef("v1", "ConfigMap", "settings", namespace))
    assert settings["data"] == {"colour": "blue"}, "diff writes nothing"
    assert not await scenario.gone(ObjectRef("v1", "ConfigMap", "old", namespace))

    missing = await lockstep(
        scenario.kubeconfig, "diff", "kustomization", "nope", "-n", namespace, "--path", str(folder)
    )
    assert missing.returncode == 2
    assert f"Kustomization nope not found in namespace {namespace}" in missing.stderr


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
FROZEN = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: frozen
  annotations:
    kustomize.toolkit.fluxcd.io/reconcile: disabled
data:
  colour: red
"""


def _managers(obj: KubeObject) -> set[str]:
    return {entry["manager"] for entry in obj["metadata"].get("managedFields") or []}


async def test_diff_plans_as_the_apply_does(engine: Engine, scenario: Scenario) -> None:
    """Take-over, an immutable change without and with spec.force, a reconcile-disabled
    object: what diff reports is what the apply of the same folder then does."""
    namespace = scenario.namespace
    scenario.commit(
        {
            "apps/job.yaml": JOB.format(tag="1"),
            "apps/frozen.yaml": config_map("frozen", colour="blue"),
        }
    )
    await scenario.source()
    await scenario.kustomization("apps", "./apps")
    await scenario.ready("apps")
    job = ObjectRef("batch/v1", "Job", "migrate", namespace)
    first_uid = (await scenario.kube.get(job))["metadata"]["uid"]
    await scenario.kubectl("apply", "-f", "-", stdin=config_map("adopted", a="1", b="2"))
    folder = scenario.work.path / "apps"
    common = ["apps", "-n", namespace, "--path", str(folder)]

    scenario.work.write("apps/job.yaml", JOB.format(tag="2"))
    scenario.work.write("apps/frozen.yaml", FROZEN)
    scenario.work.write("apps/adopted.yaml", config_map("adopted", a="1"))

    refused = await lockstep(scenario.kubeconfig, "diff", "kustomization", *common)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"Job/{namespace}/migrate dry-run failed: spec.template is immutable" in refused.stderr
    assert "set spec.force: true on the Kustomization" in refused.stderr
    assert f"ConfigMap/{namespace}/frozen skipped (reconcile disabled)" in refused.stdout
    assert f"ConfigMap/{namespace}/adopted drifted (the fields kubectl set" in refused.stdout

    await scenario.kustomization("apps", "./apps", force=True)
    forced = await lockstep(scenario.kubeconfig, "diff", "kustomization", *common)
    assert forced.returncode == 1, forced.stdout + forced.stderr
    assert (
        f"Job/{namespace}/migrate would be recreated (spec.template is immutable)" in forced.stdout
    )
    assert f"ConfigMap/{namespace}/frozen skipped (reconcile disabled)" in forced.stdout
    assert f"ConfigMap/{namespace}/adopted drifted (the fields kubectl set" in forced.stdout
    assert (await scenario.kube.get(job))["metadata"]["uid"] == first_uid, "diff writes nothing"

    scenario.work.commit("what diff showed")
    scenario.work.push()
    recreated = await eventually(
        lambda: scenario.get(job),
        lambda obj: obj is not None and obj["metadata"]["uid"] != first_uid,
        what="the Job recreated",
    )
    assert recreated["spec"]["template"]["spec"]["containers"][0]["image"] == "migrate:2"
    applied = await eventually(
        lambda: scenario.kube.get(ObjectRef("v1", "ConfigMap", "adopted", namespace)),
        lambda obj: obj["data"] == {"a": "1"},
        what="the ConfigMap kubectl created, applied from Git",
    )
    assert _managers(applied) == {"lockstep"}, "kubectl's fields were taken over"
    frozen = await scenario.kube.get(ObjectRef("v1", "ConfigMap", "frozen", namespace))
    assert frozen["data"] == {"colour": "blue"}, "a reconcile-disabled object is left alone"
    await scenario.ready("apps")

    settled = await lockstep(scenario.kubeconfig, "diff", "kustomization", *common)
    assert settled.returncode == 0, settled.stdout + settled.stderr
    assert settled.stdout.strip() == f"► ConfigMap/{namespace}/frozen skipped (reconcile disabled)"
