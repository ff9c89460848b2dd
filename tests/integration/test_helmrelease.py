"""HelmRelease: install, upgrade, no-op, prune, adoption, unlock and uninstall, with the
releases stored so that the real helm lists, reads and manages them."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ground.artifacts import condition
from ground.charts import Chart, ChartRepository, Helm, helm_release, helm_repository, hook
from ground.engine import Engine, lockstep, succeeded
from ground.wait import eventually
from lockstep.controllers.helm.storage import ReleaseStatus, decode, encode
from lockstep.controllers.helm.values import config_digest
from lockstep.dev.registry import OciRegistry
from lockstep.kube import KubeClient, NotFound, ObjectRef

pytestmark = pytest.mark.integration

HELM_API = "helm.toolkit.fluxcd.io/v2"
SOURCE_API = "source.toolkit.fluxcd.io/v1"
CONFIG_MAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  greeting: {{ .Values.greeting | quote }}
  revision: "{{ .Release.Revision }}"
"""
EXTRA = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-extra
data: {}
"""
BROKEN = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: broken
data:
  value: {{ .Values.missing.field }}
"""


def _chart(version: str, *, extra: bool = False, broken: bool = False) -> Chart:
    templates = {"settings.yaml": CONFIG_MAP}
    if extra:
        templates["extra.yaml"] = EXTRA
    if broken:
        templates["broken.yaml"] = BROKEN
    return Chart("app", version, templates=templates, values={"greeting": "hello"})


def _release(namespace: str, **spec: Any) -> dict[str, Any]:
    return helm_release(namespace, "app", version=spec.pop("version", "*"), **spec)


async def _repository(kube: KubeClient, namespace: str, url: str) -> None:
    await kube.apply(helm_repository(namespace, url))


async def _get(kube: KubeClient, namespace: str) -> dict[str, Any]:
    return await kube.get(ObjectRef(HELM_API, "HelmRelease", "app", namespace))


async def _ready_at(kube: KubeClient, namespace: str, text: str) -> dict[str, Any]:
    return await eventually(
        lambda: _get(kube, namespace),
        lambda o: condition(o, "Ready").startswith("True") and text in condition(o, "Ready"),
        within=120,
        what=f"Ready with {text!r}",
    )


async def _config_map(kube: KubeClient, namespace: str, name: str) -> dict[str, Any]:
    return await kube.get(ObjectRef("v1", "ConfigMap", name, namespace))


def _helm_list(helm: Helm, namespace: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = json.loads(helm.run("list", "-n", namespace, "-o", "json"))
    return listed


def _helm_history(helm: Helm, namespace: str) -> list[dict[str, Any]]:
    history: list[dict[str, Any]] = json.loads(
        helm.run("history", "app", "-n", namespace, "-o", "json")
    )
    return history


async def test_install_upgrade_and_uninstall_as_helm_sees_them(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    chart_repository: ChartRepository,
    helm: Helm,
) -> None:
    chart_repository.add(_chart("1.0.0", extra=True))
    await _repository(kube, namespace, chart_repository.url)
    await kube.apply(_release(namespace, values={"greeting": "hi"}))
    ready = await _ready_at(kube, namespace, "Helm install succeeded")
    assert condition(ready, "Ready") == (
        f"True: Helm install succeeded for release {namespace}/app.v1 with chart app@1.0.0"
    )
    settings = await _config_map(kube, namespace, "app-settings")
    assert settings["data"] == {"greeting": "hi", "revision": "1"}
    labels = settings["metadata"]["labels"]
    assert labels["helm.toolkit.fluxcd.io/name"] == "app"
    assert labels["app.kubernetes.io/managed-by"] == "Helm"
    assert settings["metadata"]["annotations"]["meta.helm.sh/release-name"] == "app"
    status = ready["status"]
    assert status["helmChart"] == f"{namespace}/{namespace}-app"
    assert status["lastAttemptedRevision"] == "1.0.0"
    assert [entry["version"] for entry in status["history"]] == [1]
    listed = _helm_list(helm, namespace)
    assert [(r["name"], r["revision"], r["status"], r["chart"]) for r in listed] == [
        ("app", "1", "deployed", "app-1.0.0")
    ]
    assert json.loads(helm.run("get", "values", "app", "-n", namespace, "-o", "json")) == {
        "greeting": "hi"
    }

    # A new chart version without the extra object: upgraded, the object deleted.
    chart_repository.add(_chart("1.1.0"))
    await kube.apply(_release(namespace, values={"greeting": "hi"}, version="1.1.0"))
    await _ready_at(kube, namespace, "Helm upgrade succeeded for release")
    history = _helm_history(helm, namespace)
    assert [(h["revision"], h["status"], h["chart"]) for h in history] == [
        (1, "superseded", "app-1.0.0"),
        (2, "deployed", "app-1.1.0"),
    ]
    with pytest.raises(NotFound):
        await _config_map(kube, namespace, "app-extra")
    assert (await _config_map(kube, namespace, "app-settings"))["data"]["revision"] == "2"

    # Nothing changed: no new revision.
    await kube.json_patch(
        ObjectRef(HELM_API, "HelmRelease", "app", namespace),
        [
            {
                "op": "add",
                "path": "/metadata/annotations",
                "value": {"reconcile.fluxcd.io/requestedAt": "now"},
            }
        ],
    )
    await eventually(
        lambda: _get(kube, namespace),
        lambda o: (o.get("status") or {}).get("lastHandledReconcileAt") == "now",
        what="the requested reconcile handled",
    )
    assert len(_helm_history(helm, namespace)) == 2

    # Deleting the HelmRelease uninstalls the release.
    await kube.delete(ObjectRef(HELM_API, "HelmRelease", "app", namespace))

    async def uninstalled() -> bool:
        try:
            await _config_map(kube, namespace, "app-settings")
        except NotFound:
            return not _helm_list(helm, namespace)
        return False

    await eventually(uninstalled, bool, within=60, what="the release uninstalled")


async def test_a_release_made_by_helm_is_adopted_and_upgraded_in_place(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    chart_repository: ChartRepository,
    helm: Helm,
    tmp_path: Any,
) -> None:
    first = _chart("1.0.0")
    package = tmp_path / first.filename
    package.write_bytes(first.package())
    helm.run("install", "app", str(package), "-n", namespace, "--set", "greeting=from-helm")
    chart_repository.add(first, _chart("1.1.0"))
    await _repository(kube, namespace, chart_repository.url)
    await kube.apply(_release(namespace, values={"greeting": "from-lockstep"}))
    await _ready_at(kube, namespace, f"Helm upgrade succeeded for release {namespace}/app.v2")
    history = _helm_history(helm, namespace)
    assert [(h["revision"], h["status"]) for h in history] == [
        (1, "superseded"),
        (2, "deployed"),
    ]
    settings = await _config_map(kube, namespace, "app-settings")
    assert settings["data"]["greeting"] == "from-lockstep"


async def test_a_release_left_pending_is_unlocked_and_upgraded(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    chart_repository: ChartRepository,
    helm: Helm,
    tmp_path: Any,
) -> None:
    first = _chart("1.0.0")
    package = tmp_path / first.filename
    package.write_bytes(first.package())
    helm.run("install", "app", str(package), "-n", namespace)
    # What an engine killed in the middle of an upgrade leaves: revision 2 pending.
    secret = await kube.get(ObjectRef("v1", "Secret", "sh.helm.release.v1.app.v1", namespace))
    release = decode(base64.b64decode(secret["data"]["release"]))
    pending = replace(release, version=2, status=ReleaseStatus.PENDING_UPGRADE)
    await kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "helm.sh/release.v1",
            "metadata": {
                "name": "sh.helm.release.v1.app.v2",
                "namespace": namespace,
                "labels": {
                    "name": "app",
                    "owner": "helm",
                    "status": "pending-upgrade",
                    "version": "2",
                },
            },
            "data": {"release": base64.b64encode(encode(pending)).decode()},
        }
    )
    assert (
        "another operation" in helm.attempt("upgrade", "app", str(package), "-n", namespace).stderr
    )
    chart_repository.add(first)
    await _repository(kube, namespace, chart_repository.url)
    await kube.apply(_release(namespace, values={"greeting": "again"}))
    await _ready_at(kube, namespace, f"Helm upgrade succeeded for release {namespace}/app.v3")
    statuses = [(h["revision"], h["status"]) for h in _helm_history(helm, namespace)]
    assert statuses == [(1, "superseded"), (2, "failed"), (3, "deployed")]


async def test_a_template_error_fails_the_release_naming_the_template(
    engine: Engine, kube: KubeClient, namespace: str, chart_repository: ChartRepository
) -> None:
    chart_repository.add(_chart("1.0.0", broken=True))
    await _repository(kube, namespace, chart_repository.url)
    await kube.apply(_release(namespace))
    failed = await eventually(
        lambda: _get(kube, namespace),
        lambda o: (
            condition(o, "Ready").startswith("False") and "Helm install" in condition(o, "Ready")
        ),
        within=120,
        what="the install failure told",
    )
    message = condition(failed, "Ready")
    assert message.startswith(
        f"False: Helm install failed for release {namespace}/app with chart app@1.0.0: "
    ), message
    assert "app/templates/broken.yaml" in message
    assert "\n" not in message


INVALID = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: Not_A_Valid_Name
data: {}
"""


def _invalid_chart(version: str) -> Chart:
    return Chart(
        "app",
        version,
        templates={"settings.yaml": CONFIG_MAP, "invalid.yaml": INVALID},
        values={"greeting": "hello"},
    )


async def test_a_failed_upgrade_is_rolled_back_and_retried_until_its_retries_run_out(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    chart_repository: ChartRepository,
    helm: Helm,
) -> None:
    chart_repository.add(_chart("1.0.0"), _invalid_chart("2.0.0"))
    await _repository(kube, namespace, chart_repository.url)
    remediation = {"upgrade": {"remediation": {"retries": 1}}}
    await kube.apply(_release(namespace, version="1.0.0", **remediation))
    await _ready_at(kube, namespace, "Helm install succeeded")

    await kube.apply(_release(namespace, version="2.0.0", **remediation))
    stalled = await eventually(
        lambda: _get(kube, namespace),
        lambda o: condition(o, "Stalled").startswith("True"),
        within=120,
        what="the upgrade's retries exhausted",
    )
    assert "Not_A_Valid_Name" in condition(stalled, "Ready")
    assert stalled["status"]["upgradeFailures"] == 2
    history = [
        (h["revision"], h["status"], h["description"]) for h in _helm_history(helm, namespace)
    ]
    # Each failed upgrade was rolled back to revision 1's chart and values.
    assert [entry[:2] for entry in history] == [
        (1, "superseded"),
        (2, "failed"),
        (3, "superseded"),
        (4, "failed"),
        (5, "deployed"),
    ][-len(history) :]
    assert history[-1][2].startswith("Rollback to")
    settings = await _config_map(kube, namespace, "app-settings")
    assert settings["data"]["greeting"] == "hello"


INVALID_HOOK = hook(
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Not_A_Valid_Hook"}},
    ["post-upgrade"],
)


async def test_a_failed_upgrade_cleans_up_what_it_created_with_cleanup_on_fail(
    engine: Engine, kube: KubeClient, namespace: str, chart_repository: ChartRepository
) -> None:
    failing = _chart("2.0.0", extra=True)
    failing = replace(failing, templates={**failing.templates, "hook.yaml": INVALID_HOOK})
    chart_repository.add(_chart("1.0.0"), failing)
    await _repository(kube, namespace, chart_repository.url)
    upgrade = {"upgrade": {"cleanupOnFail": True}}
    await kube.apply(_release(namespace, version="1.0.0", **upgrade))
    await _ready_at(kube, namespace, "Helm install succeeded")

    # The upgrade applies its objects, then its post-upgrade hook fails: the object it
    # created is deleted again, the one it changed stays as the upgrade left it.
    await kube.apply(_release(namespace, version="2.0.0", values={"greeting": "new"}, **upgrade))
    failed = await eventually(
        lambda: _get(kube, namespace),
        lambda o: "Helm upgrade failed" in condition(o, "Ready"),
        within=120,
        what="the upgrade failed",
    )
    assert "Not_A_Valid_Hook" in condition(failed, "Ready")
    assert not await _exists(kube, ObjectRef("v1", "ConfigMap", "app-extra", namespace))
    assert (await _config_map(kube, namespace, "app-settings"))["data"]["greeting"] == "new"


INVALID_ROLLBACK_HOOK = hook(
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Not_A_Valid_Rollback"}},
    ["post-rollback"],
)


async def test_a_failed_rollback_is_stored_failed_and_cleans_up_with_cleanup_on_fail(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    chart_repository: ChartRepository,
    helm: Helm,
) -> None:
    first = _chart("1.0.0", extra=True)
    first = replace(first, templates={**first.templates, "rollback.yaml": INVALID_ROLLBACK_HOOK})
    second = replace(
        _chart("2.0.0"), templates={"settings.yaml": CONFIG_MAP, "hook.yaml": INVALID_HOOK}
    )
    chart_repository.add(first, second)
    await _repository(kube, namespace, chart_repository.url)
    spec = {
        "upgrade": {"remediation": {"retries": 1}},
        "rollback": {"cleanupOnFail": True},
    }
    await kube.apply(_release(namespace, version="1.0.0", **spec))
    await _ready_at(kube, namespace, "Helm install succeeded")
    extra = ObjectRef("v1", "ConfigMap", "app-extra", namespace)

    # The upgrade fails at its hook (after deleting the extra object); its rollback makes
    # the extra object again, then fails at its own hook: stored failed, and the object
    # it made deleted again.
    await kube.apply(_release(namespace, version="2.0.0", **spec))
    failed = await eventually(
        lambda: _get(kube, namespace),
        lambda o: "remediation failed" in condition(o, "Ready"),
        within=120,
        what="the rollback failed",
    )
    assert "Not_A_Valid_Rollback" in condition(failed, "Ready")
    history = _helm_history(helm, namespace)
    assert [(h["revision"], h["status"]) for h in history][:3] == [
        (1, "deployed"),
        (2, "failed"),
        (3, "failed"),
    ]
    assert history[2]["description"].startswith('Rollback "app" failed: ')
    assert not await _exists(kube, extra)


async def test_a_failed_install_is_uninstalled_then_stalls_without_retries(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    chart_repository: ChartRepository,
    helm: Helm,
) -> None:
    chart_repository.add(_invalid_chart("1.0.0"))
    await _repository(kube, namespace, chart_repository.url)
    await kube.apply(
        _release(namespace, install={"remediation": {"retries": 1, "remediateLastFailure": True}})
    )
    stalled = await eventually(
        lambda: _get(kube, namespace),
        lambda o: condition(o, "Stalled").startswith("True"),
        within=120,
        what="the install's retries exhausted",
    )
    assert stalled["status"]["installFailures"] == 2
    assert "uninstalled revision" in condition(stalled, "Ready")
    # Remediation uninstalled every attempt: nothing is left for helm to list.
    assert _helm_list(helm, namespace) == []
    with pytest.raises(NotFound):
        await _config_map(kube, namespace, "app-settings")


def _job(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "run", "image": "busybox"}],
                }
            },
        },
    }


def _hooked_chart(version: str) -> Chart:
    # kwok completes the Pods of Jobs, and the Job controller marks the Jobs Complete.
    return Chart(
        "app",
        version,
        templates={
            "settings.yaml": CONFIG_MAP,
            "migrate.yaml": hook(_job("migrate"), ["pre-install", "pre-upgrade"]),
            "smoke.yaml": hook(_job("smoke"), ["test"]),
        },
        values={"greeting": "hello"},
    )


async def test_hooks_and_tests_run_as_helm_runs_them(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    chart_repository: ChartRepository,
    helm: Helm,
) -> None:
    chart_repository.add(_hooked_chart("1.0.0"))
    await _repository(kube, namespace, chart_repository.url)
    await kube.apply(_release(namespace, test={"enable": True}))
    ready = await _ready_at(kube, namespace, "Helm install succeeded")
    assert condition(ready, "TestSuccess").startswith("True: Helm test succeeded")
    assert ready["status"]["history"][0]["testHooks"]["smoke"]["phase"] == "Succeeded"
    migrate = await kube.get(ObjectRef("batch/v1", "Job", "migrate", namespace))
    settings = await _config_map(kube, namespace, "app-settings")
    # The pre-install hook ran, and finished, before the release's objects were created.
    assert int(migrate["metadata"]["resourceVersion"]) < int(
        settings["metadata"]["resourceVersion"]
    )
    status = json.loads(helm.run("status", "app", "-n", namespace, "-o", "json"))
    phases = {hook["name"]: hook["last_run"]["phase"] for hook in status["hooks"]}
    assert phases == {"migrate": "Succeeded", "smoke": "Succeeded"}


async def test_a_release_waits_for_the_releases_it_depends_on(
    engine: Engine, kube: KubeClient, namespace: str, chart_repository: ChartRepository
) -> None:
    chart_repository.add(_chart("1.0.0"))
    await _repository(kube, namespace, chart_repository.url)
    app = _release(namespace, dependsOn=[{"name": "base"}])
    await kube.apply(app)
    waiting = await eventually(
        lambda: _get(kube, namespace),
        lambda o: "dependency" in condition(o, "Ready"),
        what="the missing dependency told",
    )
    assert condition(waiting, "Ready") == (
        f"False: HelmRelease {namespace}/app: dependency '{namespace}/base' does not exist"
    )
    base = _release(namespace)
    base["metadata"]["name"] = "base"
    await kube.apply(base)
    # The dependency's readiness enqueues the release at once, not after the 30 s requeue.
    await _ready_at(kube, namespace, "Helm install succeeded")
    assert (await _config_map(kube, namespace, "base-settings"))["data"]["greeting"] == "hello"


async def _deployer(kube: KubeClient, namespace: str) -> None:
    """The service account ``deployer``, with no rights yet."""
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "deployer", "namespace": namespace},
        }
    )


async def _grant_admin(kube: KubeClient, namespace: str) -> None:
    """``deployer`` made admin of ``namespace``, and of nothing else."""
    await kube.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "deployer-admin", "namespace": namespace},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "admin",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": namespace}],
        }
    )


async def test_a_release_is_made_with_the_rights_of_its_service_account(
    engine: Engine, kube: KubeClient, namespace: str, chart_repository: ChartRepository
) -> None:
    chart_repository.add(_chart("1.0.0"))
    await _repository(kube, namespace, chart_repository.url)
    await _deployer(kube, namespace)
    await kube.apply(_release(namespace, serviceAccountName="deployer"))
    refused = await eventually(
        lambda: _get(kube, namespace),
        lambda o: "serviceaccount" in condition(o, "Ready"),
        what="the release refused for want of rights",
    )
    assert f"system:serviceaccount:{namespace}:deployer" in condition(refused, "Ready")
    with pytest.raises(NotFound):
        await _config_map(kube, namespace, "app-settings")

    await _grant_admin(kube, namespace)
    await _ready_at(kube, namespace, "Helm install succeeded")
    settings = await _config_map(kube, namespace, "app-settings")
    assert settings["metadata"]["managedFields"][0]["manager"] == "lockstep"


COPIER = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: copied
data:
  colour: {{ dig "data" "colour" "" (lookup "v1" "ConfigMap" .Values.from "origin") | quote }}
"""


async def test_lookup_reads_the_cluster_with_the_rights_of_the_release(
    engine: Engine, kube: KubeClient, namespace: str, chart_repository: ChartRepository
) -> None:
    chart_repository.add(Chart("app", "1.0.0", templates={"copied.yaml": COPIER}))
    await _repository(kube, namespace, chart_repository.url)
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "origin", "namespace": namespace},
            "data": {"colour": "teal"},
        }
    )
    await _deployer(kube, namespace)
    await _grant_admin(kube, namespace)
    await kube.apply(_release(namespace, serviceAccountName="deployer", values={"from": namespace}))
    await _ready_at(kube, namespace, "Helm install succeeded")
    assert (await _config_map(kube, namespace, "copied"))["data"] == {"colour": "teal"}

    # The account may not read ConfigMaps of kube-system: neither may its lookup.
    await kube.apply(
        _release(namespace, serviceAccountName="deployer", values={"from": "kube-system"})
    )
    refused = await eventually(
        lambda: _get(kube, namespace),
        lambda o: "forbidden" in condition(o, "Ready"),
        within=120,
        what="the upgrade refused for want of rights to look up",
    )
    message = condition(refused, "Ready")
    assert message.startswith(f"False: Helm upgrade failed for release {namespace}/app"), message
    assert f"system:serviceaccount:{namespace}:deployer" in message
    assert "\n" not in message
    assert (await _config_map(kube, namespace, "copied"))["data"] == {"colour": "teal"}


async def test_post_renderers_patch_the_release_and_a_change_of_them_upgrades_it(
    engine: Engine, kube: KubeClient, namespace: str, chart_repository: ChartRepository
) -> None:
    chart_repository.add(_chart("1.0.0"))
    await _repository(kube, namespace, chart_repository.url)

    def patched(owner: str) -> dict[str, Any]:
        patch = f"- op: add\n  path: /metadata/annotations\n  value: {{team: {owner}}}\n"
        return _release(
            namespace,
            postRenderers=[
                {"kustomize": {"patches": [{"target": {"kind": "ConfigMap"}, "patch": patch}]}}
            ],
        )

    await kube.apply(patched("web"))
    await _ready_at(kube, namespace, "Helm install succeeded")
    settings = await _config_map(kube, namespace, "app-settings")
    assert settings["metadata"]["annotations"]["team"] == "web"

    await kube.apply(patched("payments"))
    await _ready_at(kube, namespace, "Helm upgrade succeeded")
    settings = await _config_map(kube, namespace, "app-settings")
    assert settings["metadata"]["annotations"]["team"] == "payments"


async def _request(kube: KubeClient, namespace: str, token: str) -> None:
    await kube.json_patch(
        ObjectRef(HELM_API, "HelmRelease", "app", namespace),
        [
            {
                "op": "add",
                "path": "/metadata/annotations",
                "value": {"reconcile.fluxcd.io/requestedAt": token},
            }
        ],
    )
    await eventually(
        lambda: _get(kube, namespace),
        lambda o: (o.get("status") or {}).get("lastHandledReconcileAt") == token,
        what=f"the reconcile {token} handled",
    )


async def test_drift_is_corrected_or_reported_as_drift_detection_says(
    engine: Engine, kube: KubeClient, namespace: str, chart_repository: ChartRepository
) -> None:
    chart_repository.add(_chart("1.0.0"))
    await _repository(kube, namespace, chart_repository.url)
    await kube.apply(_release(namespace, driftDetection={"mode": "warn"}))
    await _ready_at(kube, namespace, "Helm install succeeded")
    ref = ObjectRef("v1", "ConfigMap", "app-settings", namespace)
    await kube.json_patch(ref, [{"op": "replace", "path": "/data/greeting", "value": "edited"}])

    await _request(kube, namespace, "warn")
    warned = await _get(kube, namespace)
    assert condition(warned, "Drifted").startswith("True: Cluster state of release")
    assert f"ConfigMap/{namespace}/app-settings" in condition(warned, "Drifted")
    assert (await kube.get(ref))["data"]["greeting"] == "edited"

    await kube.apply(_release(namespace, driftDetection={"mode": "enabled"}))
    await eventually(
        lambda: kube.get(ref),
        lambda o: o["data"]["greeting"] == "hello",
        what="the drift corrected",
    )
    corrected = await _get(kube, namespace)
    assert condition(corrected, "Drifted") == ""


async def test_drift_is_repaired_at_once_by_the_watches_not_at_the_interval(
    engine: Engine, kube: KubeClient, namespace: str, chart_repository: ChartRepository
) -> None:
    chart_repository.add(_chart("1.0.0", extra=True))
    await _repository(kube, namespace, chart_repository.url)
    detection = {
        "mode": "enabled",
        "ignore": [{"paths": ["/data/note"], "target": {"kind": "ConfigMap"}}],
    }
    await kube.apply(_release(namespace, interval="1h", driftDetection=detection))
    await _ready_at(kube, namespace, "Helm install succeeded")
    settings = ObjectRef("v1", "ConfigMap", "app-settings", namespace)
    extra = ObjectRef("v1", "ConfigMap", "app-extra", namespace)

    # A field the release set, changed by hand: set back long before the interval.
    await kube.json_patch(
        settings, [{"op": "replace", "path": "/data/greeting", "value": "edited"}]
    )
    await eventually(
        lambda: kube.get(settings),
        lambda o: o["data"]["greeting"] == "hello",
        within=30,
        what="the edited field set back by the drift watches",
    )
    # An object of the release, deleted by hand: made again.
    await kube.delete(extra)
    await eventually(
        lambda: _exists(kube, extra),
        lambda made: made,
        within=30,
        what="the deleted object made again",
    )
    # A field the chart does not set, written by hand, is left as it was written.
    await kube.json_patch(settings, [{"op": "add", "path": "/data/note", "value": "by hand"}])
    await kube.json_patch(
        settings, [{"op": "replace", "path": "/data/greeting", "value": "edited again"}]
    )
    repaired = await eventually(
        lambda: kube.get(settings),
        lambda o: o["data"]["greeting"] == "hello",
        within=30,
        what="the second edit set back",
    )
    assert repaired["data"]["note"] == "by hand"


WIDGETS = """\
{{- if .Capabilities.APIVersions.Has "example.lockstep.io/v1/Widget" }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-widgets
data:
  served: {{ .Capabilities.APIVersions.Has "example.lockstep.io/v1" | quote }}
{{- end }}
"""


def _widget_crd(group: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object"}},
                }
            ],
        },
    }


async def test_capabilities_list_the_api_versions_the_cluster_serves_at_each_render(
    engine: Engine, kube: KubeClient, namespace: str, chart_repository: ChartRepository
) -> None:
    chart = _chart("1.0.0")
    chart_repository.add(replace(chart, templates={**chart.templates, "widgets.yaml": WIDGETS}))
    await _repository(kube, namespace, chart_repository.url)
    widgets = ObjectRef("v1", "ConfigMap", "app-widgets", namespace)
    crd = ObjectRef(
        "apiextensions.k8s.io/v1", "CustomResourceDefinition", "widgets.example.lockstep.io"
    )
    await kube.apply(_release(namespace))
    await _ready_at(kube, namespace, "Helm install succeeded")
    assert not await _exists(kube, widgets)

    # The kind served from now on: the next render sees it, as helm upgrade would.
    await kube.apply(_widget_crd("example.lockstep.io"))
    try:
        await eventually(
            lambda: kube.api_versions(),
            lambda versions: "example.lockstep.io/v1/Widget" in versions,
            what="the Widget kind served",
        )
        await kube.apply(_release(namespace, values={"greeting": "again"}))
        await _ready_at(kube, namespace, "Helm upgrade succeeded")
        assert (await kube.get(widgets))["data"] == {"served": "true"}
    finally:
        await kube.delete(crd)


async def test_uninstall_orphans_dependents_as_deletion_propagation_says(
    engine: Engine, kube: KubeClient, namespace: str, chart_repository: ChartRepository
) -> None:
    chart_repository.add(_chart("1.0.0"))
    await _repository(kube, namespace, chart_repository.url)
    await kube.apply(_release(namespace, uninstall={"deletionPropagation": "orphan"}))
    await _ready_at(kube, namespace, "Helm install succeeded")
    settings = await _config_map(kube, namespace, "app-settings")
    owner = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "app-settings",
        "uid": settings["metadata"]["uid"],
    }
    child = ObjectRef("v1", "ConfigMap", "child", namespace)
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "child", "namespace": namespace, "ownerReferences": [owner]},
        }
    )

    await kube.delete(ObjectRef(HELM_API, "HelmRelease", "app", namespace))
    await eventually(
        lambda: _exists(kube, ObjectRef("v1", "ConfigMap", "app-settings", namespace)),
        lambda exists: not exists,
        what="the release uninstalled",
    )
    # Orphaned: the garbage collector takes its owner reference away and leaves it.
    orphan = await eventually(
        lambda: kube.get(child),
        lambda o: not o["metadata"].get("ownerReferences"),
        what="the dependent orphaned",
    )
    assert orphan["metadata"]["name"] == "child"


async def _exists(kube: KubeClient, ref: ObjectRef) -> bool:
    try:
        await kube.get(ref)
    except NotFound:
        return False
    return True


async def test_common_metadata_is_set_and_unsupported_fields_are_refused(
    engine: Engine, kube: KubeClient, namespace: str, chart_repository: ChartRepository
) -> None:
    chart_repository.add(_chart("1.0.0"))
    await _repository(kube, namespace, chart_repository.url)
    await kube.apply(_release(namespace, commonMetadata={"labels": {"team": "web"}}))
    await _ready_at(kube, namespace, "Helm install succeeded")
    settings = await _config_map(kube, namespace, "app-settings")
    assert settings["metadata"]["labels"]["team"] == "web"

    await kube.apply(
        _release(
            namespace,
            commonMetadata={"labels": {"team": "web"}},
            waitStrategy={"name": "legacy"},
        )
    )
    stalled = await eventually(
        lambda: _get(kube, namespace),
        lambda o: condition(o, "Stalled").startswith("True"),
        what="the unsupported field refused",
    )
    assert "spec.waitStrategy: legacy not supported by lockstep yet" in condition(stalled, "Ready")


async def test_an_object_of_someone_else_is_not_taken_with_disable_take_ownership(
    engine: Engine, kube: KubeClient, namespace: str, chart_repository: ChartRepository
) -> None:
    chart_repository.add(_chart("1.0.0"))
    await _repository(kube, namespace, chart_repository.url)
    settings = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "app-settings", "namespace": namespace},
        "data": {"greeting": "mine"},
    }
    await kube.apply(settings)
    await kube.apply(_release(namespace, install={"disableTakeOwnership": True}))

    failed = await eventually(
        lambda: _get(kube, namespace),
        lambda o: "Helm install failed" in condition(o, "Ready"),
        within=120,
        what="the install refused",
    )
    assert (
        f'ConfigMap "app-settings" in namespace "{namespace}" exists and cannot be imported '
        "into the current release: invalid ownership metadata"
    ) in condition(failed, "Ready")
    assert (await _config_map(kube, namespace, "app-settings"))["data"] == {"greeting": "mine"}

    # Taking ownership as Flux does by default: adopted.
    await kube.apply(_release(namespace))
    await _ready_at(kube, namespace, "Helm install succeeded")
    assert (await _config_map(kube, namespace, "app-settings"))["data"]["greeting"] == "hello"


PRESERVED = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-preserved
data:
  greeting: {{ .Values.greeting | quote }}
  colour: {{ .Values.colour | quote }}
  size: {{ .Values.size | quote }}
"""


async def test_preserve_values_keeps_the_deployed_values_under_the_new_ones(
    engine: Engine, kube: KubeClient, namespace: str, chart_repository: ChartRepository, helm: Helm
) -> None:
    first = Chart("app", "1.0.0", templates={"preserved.yaml": PRESERVED}, values={"size": "s"})
    second = replace(first, version="2.0.0", values={"size": "l"})
    chart_repository.add(first, second)
    await _repository(kube, namespace, chart_repository.url)
    preserve = {"upgrade": {"preserveValues": True}}
    values = {"greeting": "hi", "colour": "blue"}
    await kube.apply(_release(namespace, version="1.0.0", values=values, **preserve))
    await _ready_at(kube, namespace, "Helm install succeeded")

    # Only the colour is given now: the greeting is the deployed revision's, and so is
    # the chart's size (helm upgrade --reuse-values keeps the old chart's values).
    await kube.apply(_release(namespace, version="2.0.0", values={"colour": "red"}, **preserve))
    upgraded = await _ready_at(kube, namespace, "Helm upgrade succeeded")
    # As Flux's: the last attempt is digested as given, the revision as stored.
    status = upgraded["status"]
    assert status["lastAttemptedConfigDigest"] == config_digest({"colour": "red"})
    merged = {"greeting": "hi", "colour": "red"}
    assert status["history"][0]["configDigest"] == config_digest(merged)
    preserved = await _config_map(kube, namespace, "app-preserved")
    assert preserved["data"] == {"greeting": "hi", "colour": "red", "size": "s"}
    assert json.loads(helm.run("get", "values", "app", "-n", namespace, "-o", "json")) == {
        "greeting": "hi",
        "colour": "red",
    }

    # The same values asked again: nothing to upgrade, no new revision.
    await _request(kube, namespace, "again")
    assert [entry["revision"] for entry in _helm_history(helm, namespace)] == [1, 2]


@pytest.mark.parametrize("operation", ["copy", "extract"])
async def test_a_chart_from_an_oci_repository(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    oci_registry: OciRegistry,
    oci_repository: str,
    helm: Helm,
    operation: str,
    kubeconfig: Path,
) -> None:
    path = oci_repository.removeprefix(f"{oci_registry.host}/")
    helm.push(_chart("1.0.0"), oci_registry, path)
    await kube.apply(
        {
            "apiVersion": SOURCE_API,
            "kind": "OCIRepository",
            "metadata": {"name": "app-chart", "namespace": namespace},
            "spec": {
                "url": f"oci://{oci_registry.host}/{path}/app",
                "interval": "1m",
                "insecure": True,
                "ref": {"semver": ">=1.0.0"},
                "layerSelector": {
                    "mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                    "operation": operation,
                },
            },
        }
    )
    release = _release(namespace, values={"greeting": "from-oci"})
    del release["spec"]["chart"]
    release["spec"]["chartRef"] = {"kind": "OCIRepository", "name": "app-chart"}
    await kube.apply(release)
    ready = await _ready_at(kube, namespace, "Helm install succeeded")
    assert ready["status"]["helmChart"] == f"OCIRepository/{namespace}/app-chart"
    assert ready["status"]["lastAttemptedRevision"] == "1.0.0"
    settings = await _config_map(kube, namespace, "app-settings")
    assert settings["data"]["greeting"] == "from-oci"
    listed = _helm_list(helm, namespace)
    assert [(r["name"], r["chart"]) for r in listed] == [("app", "app-1.0.0")]

    # The next upgrade, previewed from the same OCI artifact.
    release["spec"]["values"] = {"greeting": "previewed"}
    await kube.apply(release)
    built = succeeded(await lockstep(kubeconfig, "build", "helmrelease", "app", "-n", namespace))
    assert "greeting: previewed" in built


async def test_a_chart_template_of_kind_oci_repository(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    oci_registry: OciRegistry,
    oci_repository: str,
    helm: Helm,
) -> None:
    path = oci_repository.removeprefix(f"{oci_registry.host}/")
    helm.push(_chart("2.0.0"), oci_registry, path)
    release = _release(namespace)
    release["spec"]["chart"] = {
        "kind": "OCIRepository",
        "spec": {
            "url": f"oci://{oci_registry.host}/{path}/app",
            "ref": {"semver": "2.x"},
            "insecure": True,
        },
    }
    await kube.apply(release)
    ready = await _ready_at(kube, namespace, "with chart app@2.0.0")
    assert ready["status"]["helmChart"] == f"OCIRepository/{namespace}/{namespace}-app"
    generated = await kube.get(
        ObjectRef(SOURCE_API, "OCIRepository", f"{namespace}-app", namespace)
    )
    assert generated["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"] == "app"
    assert generated["spec"]["layerSelector"]["operation"] == "copy"

    await kube.delete(ObjectRef(HELM_API, "HelmRelease", "app", namespace))

    async def removed() -> bool:
        try:
            await kube.get(ObjectRef(SOURCE_API, "OCIRepository", f"{namespace}-app", namespace))
        except NotFound:
            return True
        return False

    await eventually(removed, bool, what="the generated OCIRepository removed")
