"""Argo CD Applications reconciled by the engine on the real control plane: a plain
directory synced automatically and pruned, a manual sync through ``operation``, a PreSync
migration Job that must complete before the Deployment changes, sync waves in order, an
AppProject that refuses a repository, and Argo CD's status as ``kubectl`` shows it.
Self-heal, which is watch-driven, is tested in test_argo_self_heal.py, with the resync
an hour away.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ground.argo import (
    ARGOCD,
    AUTOMATED,
    IN_CLUSTER,
    application,
    engine_resyncing_every,
    get_app,
    project,
    until,
    with_condition,
)
from ground.charts import Chart, ChartRepository
from ground.engine import Engine
from ground.gitops import Scenario, config_map, deployment
from ground.wait import eventually
from lockstep.kube import KubeObject, ObjectRef

pytestmark = pytest.mark.integration

SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: guestbook-ui
spec:
  ports:
    - port: 80
      targetPort: 80
  selector:
    app: guestbook-ui
"""

MIGRATION = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations:
    argocd.argoproj.io/hook: PreSync
    argocd.argoproj.io/hook-delete-policy: BeforeHookCreation
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: migrate
          image: migrate:1
"""


@pytest.fixture(scope="module")
def engine(crds_installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The engine, comparing Applications every 5 s, so that a new commit is seen within the test."""
    yield from engine_resyncing_every(crds_installed, tmp_path_factory, "5s")


async def test_a_directory_is_synced_tracked_and_pruned(engine: Engine, scenario: Scenario) -> None:
    await project(scenario.kube, scenario.namespace)
    scenario.commit(
        {
            "guestbook/guestbook-ui-deployment.yaml": deployment("guestbook-ui", replicas=1),
            "guestbook/guestbook-ui-svc.yaml": SERVICE,
            "guestbook/README.md": "not a manifest\n",
        }
    )
    await scenario.kube.apply(application(scenario, "guestbook", "guestbook", **AUTOMATED))

    app = await until(scenario, "guestbook", "Synced", "Healthy")

    status = app["status"]
    assert status["sourceType"] == "Directory"
    assert len(status["sync"]["revision"]) == 40
    kinds = sorted((r["kind"], r["name"], r["status"]) for r in status["resources"])
    assert kinds == [
        ("Deployment", "guestbook-ui", "Synced"),
        ("Service", "guestbook-ui", "Synced"),
    ]
    assert status["operationState"]["phase"] == "Succeeded"
    assert [entry["id"] for entry in status["history"]] == [0]
    assert status["summary"]["images"] == ["nginx:1.27"]
    service = await scenario.kube.get(
        ObjectRef("v1", "Service", "guestbook-ui", scenario.namespace)
    )
    tracking = service["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"]
    assert tracking == f"{scenario.namespace}_guestbook:/Service:{scenario.namespace}/guestbook-ui"
    columns = await scenario.kubectl("get", "applications")
    assert columns.split("\n")[0].split() == ["NAME", "SYNC", "STATUS", "HEALTH", "STATUS"]
    assert columns.split("\n")[1].split() == ["guestbook", "Synced", "Healthy"]

    scenario.commit({}, "drop the service", remove=("guestbook/guestbook-ui-svc.yaml",))
    await eventually(
        lambda: scenario.gone(ObjectRef("v1", "Service", "guestbook-ui", scenario.namespace)),
        bool,
        within=60,
        what="the Service pruned",
    )
    app = await until(scenario, "guestbook", "Synced")
    assert [entry["id"] for entry in app["status"]["history"]] == [0, 1]


async def test_a_manual_sync_runs_when_the_operation_asks_for_it(
    engine: Engine, scenario: Scenario
) -> None:
    await project(scenario.kube, scenario.namespace)
    scenario.commit({"app/settings.yaml": config_map("settings", colour="blue")})
    await scenario.kube.apply(application(scenario, "manual", "app"))
    app = await until(scenario, "manual", "OutOfSync")
    assert app["status"]["resources"][0]["status"] == "OutOfSync"
    assert await scenario.gone(ObjectRef("v1", "ConfigMap", "settings", scenario.namespace))

    await scenario.kubectl(
        "patch",
        "application",
        "manual",
        "--type=merge",
        "-p",
        '{"operation": {"initiatedBy": {"username": "jane"}, "sync": {"prune": true}}}',
    )
    app = await until(scenario, "manual", "Synced")
    assert "operation" not in app
    assert app["status"]["operationState"]["phase"] == "Succeeded"
    assert app["status"]["history"][0]["initiatedBy"] == {"username": "jane"}
    assert not await scenario.gone(ObjectRef("v1", "ConfigMap", "settings", scenario.namespace))


async def test_a_presync_migration_completes_before_the_deployment_changes(
    engine: Engine, scenario: Scenario
) -> None:
    await project(scenario.kube, scenario.namespace)
    first = deployment("web", replicas=1).replace(
        "  name: web\n", '  name: web\n  annotations: {argocd.argoproj.io/sync-wave: "1"}\n'
    )
    scenario.commit(
        {
            "app/migrate.yaml": MIGRATION,
            "app/deployment.yaml": first,
            "app/settings.yaml": config_map("settings", colour="blue"),
        }
    )
    await scenario.kube.apply(application(scenario, "shop", "app", **AUTOMATED))
    app = await until(scenario, "shop", "Synced", "Healthy")

    job = await scenario.kube.get(ObjectRef("batch/v1", "Job", "migrate", scenario.namespace))
    web = await scenario.kube.get(ObjectRef("apps/v1", "Deployment", "web", scenario.namespace))
    settings = await scenario.kube.get(ObjectRef("v1", "ConfigMap", "settings", scenario.namespace))
    completed = next(c for c in job["status"]["conditions"] if c["type"] == "Complete")
    assert completed["lastTransitionTime"] <= web["metadata"]["creationTimestamp"]
    assert settings["metadata"]["creationTimestamp"] <= web["metadata"]["creationTimestamp"]
    results = app["status"]["operationState"]["syncResult"]["resources"]
    phases = [(r["kind"], r.get("syncPhase"), r.get("hookPhase")) for r in results]
    assert phases == [
        ("Job", "PreSync", "Succeeded"),
        ("ConfigMap", "Sync", None),
        ("Deployment", "Sync", None),
    ]
    assert [r["kind"] for r in app["status"]["resources"]] == ["ConfigMap", "Deployment"]


async def test_a_repository_the_project_refuses_applies_nothing(
    engine: Engine, scenario: Scenario
) -> None:
    await project(scenario.kube, scenario.namespace, sourceRepos=["https://git.example/*"])
    scenario.commit({"app/settings.yaml": config_map("settings", colour="blue")})
    await scenario.kube.apply(application(scenario, "refused", "app", **AUTOMATED))

    app = await with_condition(scenario, "refused")

    [condition] = app["status"]["conditions"]
    assert condition["type"] == "InvalidSpecError"
    assert f"not permitted in project '{scenario.namespace}'" in condition["message"]
    assert "\n" not in condition["message"]
    assert await scenario.gone(ObjectRef("v1", "ConfigMap", "settings", scenario.namespace))


async def test_the_resources_finalizer_deletes_what_the_app_deployed(
    engine: Engine, scenario: Scenario
) -> None:
    await project(scenario.kube, scenario.namespace)
    scenario.commit(
        {
            "cascade/settings.yaml": config_map("cascade", colour="blue"),
            "cascade/stays.yaml": config_map("stays", colour="blue").replace(
                "  name: stays\n",
                "  name: stays\n  annotations: {argocd.argoproj.io/sync-options: Delete=false}\n",
            ),
            "kept/settings.yaml": config_map("kept", colour="blue"),
        }
    )
    cascading = application(scenario, "cascade", "cascade", **AUTOMATED)
    cascading["metadata"]["finalizers"] = ["resources-finalizer.argocd.argoproj.io"]
    await scenario.kube.apply(cascading)
    await scenario.kube.apply(application(scenario, "kept", "kept", **AUTOMATED))
    await until(scenario, "cascade", "Synced")
    await until(scenario, "kept", "Synced")

    await scenario.kubectl("delete", "application", "cascade", "kept", "--wait=true")

    assert await scenario.gone(ObjectRef("v1", "ConfigMap", "cascade", scenario.namespace))
    assert not await scenario.gone(ObjectRef("v1", "ConfigMap", "stays", scenario.namespace))
    assert not await scenario.gone(ObjectRef("v1", "ConfigMap", "kept", scenario.namespace))


KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - web.yaml
"""

CHART = """\
apiVersion: v2
name: guestbook
version: 0.1.0
"""

CHART_TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  colour: {{ .Values.colour | quote }}
  size: {{ .Values.size | quote }}
  region: {{ .Values.region | quote }}
"""


async def test_kustomize_and_helm_sources_render_as_argo_cd_renders_them(
    engine: Engine, scenario: Scenario
) -> None:
    await project(scenario.kube, scenario.namespace)
    scenario.commit(
        {
            "kustomize-guestbook/kustomization.yaml": KUSTOMIZATION,
            "kustomize-guestbook/web.yaml": deployment("web", replicas=1),
            "helm-guestbook/Chart.yaml": CHART,
            "helm-guestbook/values.yaml": "colour: blue\nsize: small\nregion: us\n",
            "helm-guestbook/values-production.yaml": "colour: red\n",
            "helm-guestbook/templates/settings.yaml": CHART_TEMPLATE,
        }
    )
    kustomize = {
        "namePrefix": "staging-",
        "commonLabels": {"team": "shop"},
        "images": ["nginx:1.28"],
    }
    kustomized = application(scenario, "kustomized", "kustomize-guestbook", **AUTOMATED)
    kustomized["spec"]["source"]["kustomize"] = kustomize
    helm = {
        "valueFiles": ["values-production.yaml"],
        "parameters": [{"name": "size", "value": "large"}],
        "values": "region: eu\n",
    }
    charted = application(scenario, "charted", "helm-guestbook", **AUTOMATED)
    charted["spec"]["source"]["helm"] = helm
    await scenario.kube.apply(kustomized)
    await scenario.kube.apply(charted)

    app = await until(scenario, "kustomized", "Synced")
    assert app["status"]["sourceType"] == "Kustomize"
    web = await scenario.kube.get(
        ObjectRef("apps/v1", "Deployment", "staging-web", scenario.namespace)
    )
    assert web["metadata"]["labels"]["team"] == "shop"
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    app = await until(scenario, "charted", "Synced")
    assert app["status"]["sourceType"] == "Helm"
    settings = await scenario.kube.get(
        ObjectRef("v1", "ConfigMap", "charted-settings", scenario.namespace)
    )
    assert settings["data"] == {"colour": "red", "size": "large", "region": "eu"}


async def test_bad_sources_are_told_one_line_each_and_siblings_sync(
    engine: Engine, scenario: Scenario
) -> None:
    await project(scenario.kube, scenario.namespace)
    scenario.commit(
        {
            "good/settings.yaml": config_map("good", colour="blue"),
            "broken/settings.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n",
        }
    )
    missing = application(scenario, "missing", "nowhere", **AUTOMATED)
    broken = application(scenario, "broken", "broken", **AUTOMATED)
    plugin = application(scenario, "plugin", "good", **AUTOMATED)
    plugin["spec"]["source"]["plugin"] = {"name": "cdk8s"}
    oci = application(scenario, "oci", "good", **AUTOMATED)
    oci["spec"]["source"]["repoURL"] = "oci://127.0.0.1:9/manifests"
    unreachable = application(scenario, "unreachable", "good", **AUTOMATED)
    unreachable["spec"]["source"]["repoURL"] = "http://127.0.0.1:9/nothing.git"
    for app in (missing, broken, plugin, oci, unreachable):
        await scenario.kube.apply(app)
    await scenario.kube.apply(application(scenario, "good", "good", **AUTOMATED))

    await until(scenario, "good", "Synced")
    expected = {
        "missing": "path 'nowhere' is not a folder of revision main",
        "broken": "broken/settings.yaml",
        "plugin": "config management plugins are not supported",
        "unreachable": "http://127.0.0.1:9/nothing.git",
        "oci": "OCI sources of manifests are not supported yet",
    }
    for name, text in expected.items():
        app = await with_condition(scenario, name)
        [condition] = app["status"]["conditions"]
        assert condition["type"] == "ComparisonError", (name, condition)
        assert text in condition["message"], (name, condition)
        assert "\n" not in condition["message"]
        assert app["status"]["sync"]["status"] == "Unknown"


FAILING_MIGRATION = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations:
    argocd.argoproj.io/hook: PreSync
spec:
  backoffLimit: 0
  activeDeadlineSeconds: 1
  template:
    spec:
      restartPolicy: Never
      nodeSelector: {lockstep.test/no-such-node: "true"}
      containers:
        - name: migrate
          image: migrate:1
"""

ON_FAILURE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: sync-failed
  annotations:
    argocd.argoproj.io/hook: SyncFail
data: {}
"""


async def test_a_failing_hook_fails_the_sync_and_runs_the_sync_fail_hooks(
    engine: Engine, scenario: Scenario
) -> None:
    await project(scenario.kube, scenario.namespace)
    scenario.commit(
        {
            "app/migrate.yaml": FAILING_MIGRATION,
            "app/on-failure.yaml": ON_FAILURE,
            "app/web.yaml": deployment("web", replicas=1),
        }
    )
    await scenario.kube.apply(application(scenario, "failing", "app", **AUTOMATED))

    app = await eventually(
        lambda: get_app(scenario, "failing"),
        lambda o: ((o.get("status") or {}).get("operationState") or {}).get("phase") == "Failed",
        within=120,
        what="the sync failed",
    )

    state = app["status"]["operationState"]
    assert state["message"].startswith("Job/"), state
    assert "migrate hook failed" in state["message"]
    assert "\n" not in state["message"]
    assert not await scenario.gone(ObjectRef("v1", "ConfigMap", "sync-failed", scenario.namespace))
    assert await scenario.gone(ObjectRef("apps/v1", "Deployment", "web", scenario.namespace))
    assert app["status"]["sync"]["status"] == "OutOfSync"
    assert [c["type"] for c in app["status"]["conditions"]] == ["SyncError"]
    assert "history" not in app["status"]


async def test_an_app_of_apps_deploys_its_applications(engine: Engine, scenario: Scenario) -> None:
    await project(scenario.kube, scenario.namespace)
    children = {
        f"apps/{name}.yaml": yaml.safe_dump(
            application(scenario, name, f"children/{name}", **AUTOMATED)
        )
        for name in ("frontend", "backend")
    }
    scenario.commit(
        {
            **children,
            "children/frontend/settings.yaml": config_map("frontend", tier="web"),
            "children/backend/settings.yaml": config_map("backend", tier="api"),
        }
    )
    await scenario.kube.apply(application(scenario, "root", "apps", **AUTOMATED))

    root = await until(scenario, "root", "Synced")
    await until(scenario, "frontend", "Synced")
    await until(scenario, "backend", "Synced")

    kinds = sorted((r["kind"], r["name"]) for r in root["status"]["resources"])
    assert kinds == [("Application", "backend"), ("Application", "frontend")]
    assert not await scenario.gone(ObjectRef("v1", "ConfigMap", "backend", scenario.namespace))


HEALTH_SCRIPT = """\
hs = {status = "Healthy", message = "ready"}
if obj.data ~= nil and obj.data.state == "broken" then
  hs.status = "Degraded"
  hs.message = "the settings say " .. obj.data.state
end
return hs
"""


async def test_a_lua_health_check_of_argocd_cm_judges_its_kind(
    engine: Engine, scenario: Scenario
) -> None:
    await project(scenario.kube, scenario.namespace)
    settings = ObjectRef("v1", "ConfigMap", "argocd-cm", ARGOCD)
    await scenario.kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": settings.name, "namespace": ARGOCD},
            "data": {"resource.customizations.health.ConfigMap": HEALTH_SCRIPT},
        }
    )
    try:
        scenario.commit({"app/settings.yaml": config_map("judged", state="broken")})
        await scenario.kube.apply(application(scenario, "judged", "app", **AUTOMATED))

        app = await until(scenario, "judged", "Synced", "Degraded")

        [resource] = app["status"]["resources"]
        assert resource["health"] == {"status": "Degraded", "message": "the settings say broken"}
    finally:
        await scenario.kube.delete(settings)


async def test_a_deny_window_holds_automated_sync_and_a_blacklisted_kind_is_refused(
    engine: Engine, scenario: Scenario
) -> None:
    windows = [
        {"kind": "deny", "schedule": "* * * * *", "duration": "1h", "applications": ["held"]}
    ]
    await project(
        scenario.kube,
        scenario.namespace,
        syncWindows=windows,
        namespaceResourceBlacklist=[{"group": "", "kind": "Secret"}],
    )
    secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: token\nstringData: {a: b}\n"
    scenario.commit(
        {
            "held/settings.yaml": config_map("held", colour="blue"),
            "secret/token.yaml": secret,
        }
    )
    await scenario.kube.apply(application(scenario, "held", "held", **AUTOMATED))
    await scenario.kube.apply(application(scenario, "secret", "secret", **AUTOMATED))

    await until(scenario, "held", "OutOfSync")
    held = await with_condition(scenario, "held")
    [condition] = held["status"]["conditions"]
    assert condition["type"] == "SyncError"
    assert "blocked by active deny window 'deny:* * * * *:1h'" in condition["message"]
    assert await scenario.gone(ObjectRef("v1", "ConfigMap", "held", scenario.namespace))
    refused = await with_condition(scenario, "secret")
    [condition] = refused["status"]["conditions"]
    assert condition["type"] == "InvalidSpecError"
    assert f"Secret/{scenario.namespace}/token" in condition["message"]
    assert "resource :Secret is not permitted" in condition["message"]
    assert await scenario.gone(ObjectRef("v1", "Secret", "token", scenario.namespace))


async def _operate(scenario: Scenario, name: str, sync: dict[str, Any]) -> KubeObject:
    """``operation.sync`` written as ``argocd app sync`` writes it; the Application once a
    newer operation than the last has finished."""
    before = ((await get_app(scenario, name)).get("status") or {}).get("operationState") or {}
    patch = json.dumps({"operation": {"initiatedBy": {"username": "jane"}, "sync": sync}})
    await scenario.kubectl("patch", "application", name, "--type=merge", "-p", patch)

    def finished(app: KubeObject) -> bool:
        state = (app.get("status") or {}).get("operationState") or {}
        return state != before and state.get("phase") in (
            "Succeeded",
            "Failed",
        )

    return await eventually(
        lambda: get_app(scenario, name), finished, within=60, what=f"{name}'s operation"
    )


async def test_a_dry_run_writes_nothing_and_a_partial_sync_only_what_it_names(
    engine: Engine, scenario: Scenario
) -> None:
    await project(scenario.kube, scenario.namespace)
    scenario.commit(
        {"app/a.yaml": config_map("a", colour="blue"), "app/b.yaml": config_map("b", colour="red")}
    )
    await scenario.kube.apply(application(scenario, "partial", "app"))
    await until(scenario, "partial", "OutOfSync")

    dry = await _operate(scenario, "partial", {"dryRun": True})
    assert dry["status"]["operationState"]["message"] == "successfully synced (dry run)"
    results = dry["status"]["operationState"]["syncResult"]["resources"]
    assert sorted((r["name"], r["message"]) for r in results) == [
        ("a", "created (dry run)"),
        ("b", "created (dry run)"),
    ]
    assert await scenario.gone(ObjectRef("v1", "ConfigMap", "a", scenario.namespace))
    assert "history" not in dry["status"]

    chosen = {"resources": [{"group": "", "kind": "ConfigMap", "name": "a"}]}
    partial = await _operate(scenario, "partial", chosen)
    assert partial["status"]["operationState"]["phase"] == "Succeeded"
    assert not await scenario.gone(ObjectRef("v1", "ConfigMap", "a", scenario.namespace))
    assert await scenario.gone(ObjectRef("v1", "ConfigMap", "b", scenario.namespace))
    assert partial["status"]["sync"]["status"] == "OutOfSync"


async def test_a_refresh_is_answered_and_its_annotation_removed(
    engine: Engine, scenario: Scenario
) -> None:
    await project(scenario.kube, scenario.namespace)
    scenario.commit({"app/a.yaml": config_map("a", colour="blue")})
    await scenario.kube.apply(application(scenario, "refreshed", "app"))
    first = await until(scenario, "refreshed", "OutOfSync")

    await scenario.kubectl(
        "annotate", "application", "refreshed", "argocd.argoproj.io/refresh=hard"
    )

    again = await eventually(
        lambda: get_app(scenario, "refreshed"),
        lambda o: "argocd.argoproj.io/refresh" not in (o["metadata"].get("annotations") or {}),
        within=30,
        what="the refresh annotation removed",
    )
    assert again["status"]["reconciledAt"] >= first["status"]["reconciledAt"]
    [source] = await scenario.kube.list(
        "source.toolkit.fluxcd.io/v1", "GitRepository", namespace=scenario.namespace
    )
    assert "reconcile.fluxcd.io/requestedAt" in source["metadata"]["annotations"], (
        "a hard refresh fetches the source again"
    )


async def test_a_sync_of_an_earlier_revision_rolls_back(engine: Engine, scenario: Scenario) -> None:
    await project(scenario.kube, scenario.namespace)
    settings = ObjectRef("v1", "ConfigMap", "settings", scenario.namespace)
    scenario.commit({"app/settings.yaml": config_map("settings", colour="blue")})
    await scenario.kube.apply(application(scenario, "rolled", "app"))
    await until(scenario, "rolled", "OutOfSync")
    first = await _operate(scenario, "rolled", {"prune": True})
    scenario.commit({"app/settings.yaml": config_map("settings", colour="red")}, "red")
    await eventually(
        lambda: get_app(scenario, "rolled"),
        lambda o: o["status"]["sync"]["revision"] != first["status"]["sync"]["revision"],
        within=30,
        what="the new revision compared",
    )
    second = await _operate(scenario, "rolled", {"prune": True})
    assert (await scenario.kube.get(settings))["data"] == {"colour": "red"}

    back = await _operate(
        scenario, "rolled", {"revision": first["status"]["history"][0]["revision"]}
    )

    assert back["status"]["operationState"]["phase"] == "Succeeded"
    assert (await scenario.kube.get(settings))["data"] == {"colour": "blue"}
    revisions = [entry["revision"] for entry in back["status"]["history"]]
    assert revisions == [
        first["status"]["sync"]["revision"],
        second["status"]["sync"]["revision"],
        first["status"]["sync"]["revision"],
    ]
    assert back["status"]["sync"]["status"] == "OutOfSync", "the target is still the new revision"


async def test_ignored_differences_are_neither_out_of_sync_nor_healed(
    engine: Engine, scenario: Scenario
) -> None:
    await project(scenario.kube, scenario.namespace)
    scenario.commit({"app/web.yaml": deployment("web", replicas=1)})
    ignoring = application(scenario, "ignoring", "app", **AUTOMATED)
    ignoring["spec"]["ignoreDifferences"] = [
        {"group": "apps", "kind": "Deployment", "jqPathExpressions": [".spec.replicas"]}
    ]
    await scenario.kube.apply(ignoring)
    synced = await until(scenario, "ignoring", "Synced", "Healthy")

    await scenario.kubectl("scale", "deployment/web", "--replicas=3")

    later = await eventually(
        lambda: get_app(scenario, "ignoring"),
        lambda o: o["status"]["reconciledAt"] > synced["status"]["reconciledAt"],
        within=30,
        what="compared again after the scale",
    )
    assert later["status"]["sync"]["status"] == "Synced"
    web = await scenario.kube.get(ObjectRef("apps/v1", "Deployment", "web", scenario.namespace))
    assert web["spec"]["replicas"] == 3


async def test_a_failed_automated_sync_is_retried_as_the_retry_policy_says(
    engine: Engine, scenario: Scenario
) -> None:
    await project(scenario.kube, scenario.namespace)
    scenario.commit(
        {"app/migrate.yaml": FAILING_MIGRATION, "app/settings.yaml": config_map("s", a="b")}
    )
    retried = application(scenario, "retried", "app")
    retried["spec"]["syncPolicy"] = {
        "automated": {"prune": True},
        "retry": {"limit": 2, "backoff": {"duration": "1s", "factor": 1}},
    }
    await scenario.kube.apply(retried)

    app = await eventually(
        lambda: get_app(scenario, "retried"),
        lambda o: ((o.get("status") or {}).get("operationState") or {}).get("retryCount") == 2,
        within=120,
        what="two retries",
    )

    assert app["status"]["operationState"]["phase"] == "Failed"
    assert "migrate hook failed" in app["status"]["operationState"]["message"]


async def test_a_chart_of_a_helm_repository_is_rendered_with_its_version_range(
    engine: Engine, scenario: Scenario, chart_repository: ChartRepository
) -> None:
    await project(scenario.kube, scenario.namespace)
    template = {"settings.yaml": CHART_TEMPLATE}
    values = {"colour": "blue", "size": "small", "region": "us"}
    chart_repository.add(
        Chart("guestbook", "1.0.0", templates=template, values=values),
        Chart("guestbook", "1.1.0", templates=template, values={**values, "colour": "green"}),
        Chart("guestbook", "2.0.0", templates=template, values={**values, "colour": "red"}),
    )
    charted = application(scenario, "from-repo", "", **AUTOMATED)
    charted["spec"]["source"] = {
        "repoURL": chart_repository.url,
        "chart": "guestbook",
        "targetRevision": "1.*",
        "helm": {"releaseName": "shop", "parameters": [{"name": "size", "value": "large"}]},
    }
    await scenario.kube.apply(charted)

    app = await until(scenario, "from-repo", "Synced")

    assert app["status"]["sourceType"] == "Helm"
    assert app["status"]["sync"]["revision"] == "1.1.0"
    settings = await scenario.kube.get(
        ObjectRef("v1", "ConfigMap", "shop-settings", scenario.namespace)
    )
    assert settings["data"] == {"colour": "green", "size": "large", "region": "us"}


async def test_create_namespace_makes_the_destination_with_its_metadata(
    engine: Engine, scenario: Scenario
) -> None:
    created = f"{scenario.namespace}-payment"
    await project(
        scenario.kube,
        scenario.namespace,
        destinations=[{"server": IN_CLUSTER, "namespace": created}],
    )
    scenario.commit({"apps/payment/settings.yaml": config_map("payment", tier="api")})
    payment = application(scenario, "payment-service", "apps/payment")
    payment["spec"]["destination"]["namespace"] = created
    payment["spec"]["syncPolicy"] = {
        "automated": {"prune": True, "selfHeal": True},
        "syncOptions": ["CreateNamespace=true"],
        "managedNamespaceMetadata": {"labels": {"team": "payments"}},
    }
    await scenario.kube.apply(payment)
    try:
        await until(scenario, "payment-service", "Synced")

        namespace = await scenario.kube.get(ObjectRef("v1", "Namespace", created))
        assert namespace["metadata"]["labels"]["team"] == "payments"
        assert await scenario.kube.get(ObjectRef("v1", "ConfigMap", "payment", created))
    finally:
        await scenario.kubectl("delete", "application", "payment-service", "--wait=true")
        await scenario.kubectl("delete", "namespace", created, "--ignore-not-found", "--wait=false")
