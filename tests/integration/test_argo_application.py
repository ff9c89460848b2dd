"""Argo CD Applications reconciled by the engine on the real control plane: a plain
directory synced automatically and pruned, a manual sync through ``operation``, a PreSync
migration Job that must complete before the Deployment changes, sync waves in order, an
AppProject that refuses a repository, and Argo CD's status as ``kubectl`` shows it.

Each test's Applications live in its own namespace, allowed by an AppProject of the
same name in Argo CD's namespace (``sourceNamespaces``), as Argo CD requires for
Applications outside its own namespace.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ground.engine import Engine, start_engine, stop_engine, wait_for_deletions
from ground.gitops import Scenario, config_map, deployment
from ground.wait import eventually
from lockstep.kube import KubeClient, KubeObject, NotFound, ObjectRef

pytestmark = pytest.mark.integration

ARGO_API = "argoproj.io/v1alpha1"
ARGOCD = "argocd"
IN_CLUSTER = "https://kubernetes.default.svc"

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


async def _project(kube: KubeClient, namespace: str, **spec: Any) -> None:
    """The AppProject named after the test's namespace, allowing Applications there."""
    try:
        await kube.get(ObjectRef("v1", "Namespace", ARGOCD))
    except NotFound:
        await kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ARGOCD}})
    await kube.apply(
        {
            "apiVersion": ARGO_API,
            "kind": "AppProject",
            "metadata": {"name": namespace, "namespace": ARGOCD},
            "spec": {
                "sourceRepos": ["*"],
                "destinations": [{"server": IN_CLUSTER, "namespace": namespace}],
                "sourceNamespaces": [namespace],
                **spec,
            },
        }
    )


def _application(scenario: Scenario, name: str, path: str, **spec: Any) -> KubeObject:
    return {
        "apiVersion": ARGO_API,
        "kind": "Application",
        "metadata": {"name": name, "namespace": scenario.namespace},
        "spec": {
            "project": scenario.namespace,
            "source": {"repoURL": scenario.repo.git_url, "targetRevision": "main", "path": path},
            "destination": {"server": IN_CLUSTER, "namespace": scenario.namespace},
            **spec,
        },
    }


@pytest.fixture(scope="module")
def engine(crds_installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The engine, comparing Applications and checking their sources every 5 s instead
    of Argo CD's 3 minutes, so that a new commit is seen within the test."""
    running = start_engine(
        crds_installed, tmp_path_factory.mktemp("engine"), "--argocd-resync-interval", "5s"
    )
    yield running
    try:
        wait_for_deletions(crds_installed, running)
    finally:
        stop_engine(running)


AUTOMATED = {"syncPolicy": {"automated": {"prune": True, "selfHeal": True}}}


async def _app(scenario: Scenario, name: str) -> KubeObject:
    return await scenario.kube.get(ObjectRef(ARGO_API, "Application", name, scenario.namespace))


async def _condition(scenario: Scenario, name: str) -> KubeObject:
    """The Application once its status has a condition."""
    return await eventually(
        lambda: _app(scenario, name),
        lambda o: bool((o.get("status") or {}).get("conditions")),
        within=60,
        what=f"a condition on {name}",
    )


async def _until(scenario: Scenario, name: str, sync: str, health: str | None = None) -> KubeObject:
    def reached(app: KubeObject) -> bool:
        status = app.get("status") or {}
        return (status.get("sync") or {}).get("status") == sync and (
            health is None or (status.get("health") or {}).get("status") == health
        )

    return await eventually(
        lambda: _app(scenario, name), reached, within=120, what=f"{name} {sync} {health or ''}"
    )


async def test_a_directory_is_synced_tracked_and_pruned(engine: Engine, scenario: Scenario) -> None:
    await _project(scenario.kube, scenario.namespace)
    scenario.commit(
        {
            "guestbook/guestbook-ui-deployment.yaml": deployment("guestbook-ui", replicas=1),
            "guestbook/guestbook-ui-svc.yaml": SERVICE,
            "guestbook/README.md": "not a manifest\n",
        }
    )
    await scenario.kube.apply(_application(scenario, "guestbook", "guestbook", **AUTOMATED))

    app = await _until(scenario, "guestbook", "Synced", "Healthy")

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
    app = await _until(scenario, "guestbook", "Synced")
    assert [entry["id"] for entry in app["status"]["history"]] == [0, 1]


async def test_a_manual_sync_runs_when_the_operation_asks_for_it(
    engine: Engine, scenario: Scenario
) -> None:
    await _project(scenario.kube, scenario.namespace)
    scenario.commit({"app/settings.yaml": config_map("settings", colour="blue")})
    await scenario.kube.apply(_application(scenario, "manual", "app"))
    app = await _until(scenario, "manual", "OutOfSync")
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
    app = await _until(scenario, "manual", "Synced")
    assert "operation" not in app
    assert app["status"]["operationState"]["phase"] == "Succeeded"
    assert app["status"]["history"][0]["initiatedBy"] == {"username": "jane"}
    assert not await scenario.gone(ObjectRef("v1", "ConfigMap", "settings", scenario.namespace))


async def test_a_presync_migration_completes_before_the_deployment_changes(
    engine: Engine, scenario: Scenario
) -> None:
    await _project(scenario.kube, scenario.namespace)
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
    await scenario.kube.apply(_application(scenario, "shop", "app", **AUTOMATED))
    app = await _until(scenario, "shop", "Synced", "Healthy")

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
    await _project(scenario.kube, scenario.namespace, sourceRepos=["https://git.example/*"])
    scenario.commit({"app/settings.yaml": config_map("settings", colour="blue")})
    await scenario.kube.apply(_application(scenario, "refused", "app", **AUTOMATED))

    app = await _condition(scenario, "refused")

    [condition] = app["status"]["conditions"]
    assert condition["type"] == "InvalidSpecError"
    assert f"not permitted in project '{scenario.namespace}'" in condition["message"]
    assert "\n" not in condition["message"]
    assert await scenario.gone(ObjectRef("v1", "ConfigMap", "settings", scenario.namespace))


async def _replicas(scenario: Scenario, name: str) -> int:
    web = await scenario.kube.get(ObjectRef("apps/v1", "Deployment", name, scenario.namespace))
    return int(web["spec"]["replicas"])


async def test_self_heal_reverts_a_manual_change_and_without_it_the_app_is_out_of_sync(
    engine: Engine, scenario: Scenario
) -> None:
    await _project(scenario.kube, scenario.namespace)
    scenario.commit(
        {
            "healed/web.yaml": deployment("healed", replicas=1),
            "left/web.yaml": deployment("left", replicas=1),
        }
    )
    await scenario.kube.apply(_application(scenario, "healed", "healed", **AUTOMATED))
    left = {"syncPolicy": {"automated": {"prune": True}}}
    await scenario.kube.apply(_application(scenario, "left", "left", **left))
    await _until(scenario, "healed", "Synced", "Healthy")
    await _until(scenario, "left", "Synced", "Healthy")

    await scenario.kubectl("scale", "deployment/healed", "--replicas=3")
    await scenario.kubectl("scale", "deployment/left", "--replicas=3")

    await eventually(
        lambda: _replicas(scenario, "healed"), lambda n: n == 1, within=60, what="healed"
    )
    drifted = await _until(scenario, "left", "OutOfSync")
    [resource] = drifted["status"]["resources"]
    assert (resource["kind"], resource["status"]) == ("Deployment", "OutOfSync")
    assert await _replicas(scenario, "left") == 3


async def test_the_resources_finalizer_deletes_what_the_app_deployed(
    engine: Engine, scenario: Scenario
) -> None:
    await _project(scenario.kube, scenario.namespace)
    scenario.commit(
        {
            "cascade/settings.yaml": config_map("cascade", colour="blue"),
            "kept/settings.yaml": config_map("kept", colour="blue"),
        }
    )
    cascading = _application(scenario, "cascade", "cascade", **AUTOMATED)
    cascading["metadata"]["finalizers"] = ["resources-finalizer.argocd.argoproj.io"]
    await scenario.kube.apply(cascading)
    await scenario.kube.apply(_application(scenario, "kept", "kept", **AUTOMATED))
    await _until(scenario, "cascade", "Synced")
    await _until(scenario, "kept", "Synced")

    await scenario.kubectl("delete", "application", "cascade", "kept", "--wait=true")

    assert await scenario.gone(ObjectRef("v1", "ConfigMap", "cascade", scenario.namespace))
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
    await _project(scenario.kube, scenario.namespace)
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
    kustomized = _application(scenario, "kustomized", "kustomize-guestbook", **AUTOMATED)
    kustomized["spec"]["source"]["kustomize"] = kustomize
    helm = {
        "valueFiles": ["values-production.yaml"],
        "parameters": [{"name": "size", "value": "large"}],
        "values": "region: eu\n",
    }
    charted = _application(scenario, "charted", "helm-guestbook", **AUTOMATED)
    charted["spec"]["source"]["helm"] = helm
    await scenario.kube.apply(kustomized)
    await scenario.kube.apply(charted)

    app = await _until(scenario, "kustomized", "Synced")
    assert app["status"]["sourceType"] == "Kustomize"
    web = await scenario.kube.get(
        ObjectRef("apps/v1", "Deployment", "staging-web", scenario.namespace)
    )
    assert web["metadata"]["labels"]["team"] == "shop"
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    app = await _until(scenario, "charted", "Synced")
    assert app["status"]["sourceType"] == "Helm"
    settings = await scenario.kube.get(
        ObjectRef("v1", "ConfigMap", "charted-settings", scenario.namespace)
    )
    assert settings["data"] == {"colour": "red", "size": "large", "region": "eu"}


async def test_bad_sources_are_told_one_line_each_and_siblings_sync(
    engine: Engine, scenario: Scenario
) -> None:
    await _project(scenario.kube, scenario.namespace)
    scenario.commit(
        {
            "good/settings.yaml": config_map("good", colour="blue"),
            "broken/settings.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n",
        }
    )
    missing = _application(scenario, "missing", "nowhere", **AUTOMATED)
    broken = _application(scenario, "broken", "broken", **AUTOMATED)
    plugin = _application(scenario, "plugin", "good", **AUTOMATED)
    plugin["spec"]["source"]["plugin"] = {"name": "cdk8s"}
    unreachable = _application(scenario, "unreachable", "good", **AUTOMATED)
    unreachable["spec"]["source"]["repoURL"] = "http://127.0.0.1:9/nothing.git"
    for app in (missing, broken, plugin, unreachable):
        await scenario.kube.apply(app)
    await scenario.kube.apply(_application(scenario, "good", "good", **AUTOMATED))

    await _until(scenario, "good", "Synced")
    expected = {
        "missing": "path 'nowhere' is not a folder of revision main",
        "broken": "broken/settings.yaml",
        "plugin": "config management plugins are not supported",
        "unreachable": "http://127.0.0.1:9/nothing.git",
    }
    for name, text in expected.items():
        app = await _condition(scenario, name)
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
    await _project(scenario.kube, scenario.namespace)
    scenario.commit(
        {
            "app/migrate.yaml": FAILING_MIGRATION,
            "app/on-failure.yaml": ON_FAILURE,
            "app/web.yaml": deployment("web", replicas=1),
        }
    )
    await scenario.kube.apply(_application(scenario, "failing", "app", **AUTOMATED))

    app = await eventually(
        lambda: _app(scenario, "failing"),
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
    await _project(scenario.kube, scenario.namespace)
    children = {
        f"apps/{name}.yaml": yaml.safe_dump(
            _application(scenario, name, f"children/{name}", **AUTOMATED)
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
    await scenario.kube.apply(_application(scenario, "root", "apps", **AUTOMATED))

    root = await _until(scenario, "root", "Synced")
    await _until(scenario, "frontend", "Synced")
    await _until(scenario, "backend", "Synced")

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
    await _project(scenario.kube, scenario.namespace)
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
        await scenario.kube.apply(_application(scenario, "judged", "app", **AUTOMATED))

        app = await _until(scenario, "judged", "Synced", "Degraded")

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
    await _project(
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
    await scenario.kube.apply(_application(scenario, "held", "held", **AUTOMATED))
    await scenario.kube.apply(_application(scenario, "secret", "secret", **AUTOMATED))

    await _until(scenario, "held", "OutOfSync")
    held = await _condition(scenario, "held")
    [condition] = held["status"]["conditions"]
    assert condition["type"] == "SyncError"
    assert "blocked by active deny window 'deny:* * * * *:1h'" in condition["message"]
    assert await scenario.gone(ObjectRef("v1", "ConfigMap", "held", scenario.namespace))
    refused = await _condition(scenario, "secret")
    [condition] = refused["status"]["conditions"]
    assert condition["type"] == "InvalidSpecError"
    assert f"Secret/{scenario.namespace}/token" in condition["message"]
    assert "resource :Secret is not permitted" in condition["message"]
    assert await scenario.gone(ObjectRef("v1", "Secret", "token", scenario.namespace))
