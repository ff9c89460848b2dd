"""PreDelete and PostDelete hooks of Argo CD Applications, run by the engine on the real
control plane when an Application with ``resources-finalizer.argocd.argoproj.io`` is
deleted: the PreDelete Job completes before the Deployment is deleted, the PostDelete Job
starts only once the Deployment is gone, ``HookSucceeded`` removes a hook at the end and
``BeforeHookCreation`` leaves it; a PreDelete Job that fails keeps the Application, its
finalizer and its objects, with a ``DeletionError`` that names the Job; without the
finalizer no hook runs.

Jobs run on kwok's simulated node (:mod:`lockstep.dev.cluster`): a Job whose Pod is
scheduled completes; one whose Pod fits no node fails once its ``activeDeadlineSeconds``
passes. The Deployment is held by a finalizer of the test while the order is checked, so
the moment of its deletion can be read, then released.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from ground.argo import (
    ARGO_API,
    AUTOMATED,
    application,
    engine_resyncing_every,
    get_app,
    project,
    until,
)
from ground.engine import Engine
from ground.gitops import Scenario, config_map, deployment
from ground.wait import eventually
from lockstep.kube import KubeObject, NotFound, ObjectRef

pytestmark = pytest.mark.integration

FINALIZER = "resources-finalizer.argocd.argoproj.io"
HOLD = "example.com/hold"


def delete_hook(name: str, hook: str, policy: str, **pod: object) -> str:
    deadline = "  activeDeadlineSeconds: 1\n" if pod else ""
    selector = "      nodeSelector: {no-such-label: none}\n" if pod else ""
    return f"""\
apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
  annotations:
    argocd.argoproj.io/hook: {hook}
    argocd.argoproj.io/hook-delete-policy: {policy}
spec:
  backoffLimit: 0
{deadline}  template:
    spec:
      restartPolicy: Never
{selector}      containers:
        - name: run
          image: busybox
"""


@pytest.fixture(scope="module")
def engine(crds_installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    yield from engine_resyncing_every(crds_installed, tmp_path_factory, "5s")


def job_ref(scenario: Scenario, name: str) -> ObjectRef:
    return ObjectRef("batch/v1", "Job", name, scenario.namespace)


def completed_at(job: KubeObject) -> str:
    return next(
        c["lastTransitionTime"]
        for c in (job.get("status") or {}).get("conditions") or []
        if c["type"] == "Complete" and c["status"] == "True"
    )


async def app_gone(scenario: Scenario, name: str) -> bool:
    try:
        await get_app(scenario, name)
    except NotFound:
        return True
    return False


async def test_predelete_runs_before_the_objects_go_and_postdelete_after(
    engine: Engine, scenario: Scenario
) -> None:
    await project(scenario.kube, scenario.namespace)
    scenario.commit(
        {
            "app/web.yaml": deployment("web", replicas=1),
            "app/backup.yaml": delete_hook("backup", "PreDelete", "HookSucceeded"),
            "app/goodbye.yaml": delete_hook("goodbye", "PostDelete", "BeforeHookCreation"),
        }
    )
    manifest = application(scenario, "shop", "app", **AUTOMATED)
    manifest["metadata"]["finalizers"] = [FINALIZER]
    await scenario.kube.apply(manifest)
    await until(scenario, "shop", "Synced", "Healthy")
    assert await scenario.gone(job_ref(scenario, "backup")), "a PreDelete hook ran in a sync"
    assert await scenario.gone(job_ref(scenario, "goodbye")), "a PostDelete hook ran in a sync"
    web = ObjectRef("apps/v1", "Deployment", "web", scenario.namespace)
    await scenario.kube.json_patch(
        web, [{"op": "add", "path": "/metadata/finalizers", "value": [HOLD]}]
    )

    await scenario.kube.delete(ObjectRef(ARGO_API, "Application", "shop", scenario.namespace))

    held = await eventually(
        lambda: scenario.kube.get(web),
        lambda o: bool(o["metadata"].get("deletionTimestamp")),
        within=60,
        what="the Deployment deleted",
    )
    backup = await scenario.kube.get(job_ref(scenario, "backup"))
    assert completed_at(backup) <= held["metadata"]["deletionTimestamp"]
    await asyncio.sleep(3)  # more than the deletion's poll: the PostDelete hook waits
    assert await scenario.gone(job_ref(scenario, "goodbye")), "PostDelete ran before the end"
    assert not await app_gone(scenario, "shop")

    await scenario.kube.json_patch(web, [{"op": "remove", "path": "/metadata/finalizers"}])
    await eventually(
        lambda: app_gone(scenario, "shop"), bool, within=90, what="the Application deleted"
    )

    goodbye = await scenario.kube.get(job_ref(scenario, "goodbye"))
    assert goodbye["metadata"]["creationTimestamp"] >= held["metadata"]["deletionTimestamp"]
    assert completed_at(goodbye)
    tracking = goodbye["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"]
    assert tracking == f"{scenario.namespace}_shop:batch/Job:{scenario.namespace}/goodbye"
    assert await scenario.gone(job_ref(scenario, "backup")), "HookSucceeded left the hook"
    assert await scenario.gone(web)


async def test_a_failing_predelete_hook_keeps_the_application_and_its_objects(
    engine: Engine, scenario: Scenario
) -> None:
    await project(scenario.kube, scenario.namespace)
    scenario.commit(
        {
            "app/settings.yaml": config_map("settings", colour="blue"),
            "app/backup.yaml": delete_hook("backup", "PreDelete", "HookFailed", stuck=True),
        }
    )
    manifest = application(scenario, "kept", "app", **AUTOMATED)
    manifest["metadata"]["finalizers"] = [FINALIZER]
    await scenario.kube.apply(manifest)
    await until(scenario, "kept", "Synced")
    ref = ObjectRef(ARGO_API, "Application", "kept", scenario.namespace)

    await scenario.kube.delete(ref)

    def deletion_error(app: KubeObject) -> str:
        conditions = (app.get("status") or {}).get("conditions") or []
        return next((c["message"] for c in conditions if c["type"] == "DeletionError"), "")

    app = await eventually(
        lambda: get_app(scenario, "kept"), deletion_error, within=90, what="a DeletionError"
    )
    message = deletion_error(app)
    assert message.startswith(
        f"Application {scenario.namespace}/kept: PreDelete hook "
        f"Job/{scenario.namespace}/backup failed: "
    )
    assert f"delete Job {scenario.namespace}/backup to run it again" in message
    assert "\n" not in message
    assert app["metadata"]["finalizers"] == [FINALIZER]
    settings = await scenario.kube.get(ObjectRef("v1", "ConfigMap", "settings", scenario.namespace))
    assert not settings["metadata"].get("deletionTimestamp")
    assert not await scenario.gone(job_ref(scenario, "backup")), "a failed hook was removed"

    await scenario.kube.json_patch(ref, [{"op": "remove", "path": "/metadata/finalizers"}])


async def test_without_the_finalizer_no_delete_hook_runs(
    engine: Engine, scenario: Scenario
) -> None:
    await project(scenario.kube, scenario.namespace)
    scenario.commit(
        {
            "app/settings.yaml": config_map("settings", colour="blue"),
            "app/backup.yaml": delete_hook("backup", "PreDelete", "HookSucceeded"),
        }
    )
    await scenario.kube.apply(application(scenario, "plain", "app", **AUTOMATED))
    await until(scenario, "plain", "Synced")

    await scenario.kubectl("delete", "application", "plain", "--wait=true")

    assert await scenario.gone(job_ref(scenario, "backup"))
    assert not await scenario.gone(ObjectRef("v1", "ConfigMap", "settings", scenario.namespace))
