"""HelmRelease health wait: judged from the watched copies of the release's objects with
drift detection off (no change of them reconciles the release), and cancelled when the
HelmRelease is deleted or given a new spec, instead of lasting until its timeout."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import pytest

from ground.artifacts import condition
from ground.charts import Chart, ChartRepository, Helm, helm_release, helm_repository
from ground.engine import Engine
from ground.wait import eventually
from lockstep.controllers.helm.storage import decode
from lockstep.kube import KubeClient, NotFound, ObjectRef

pytestmark = pytest.mark.integration

HELM_API = "helm.toolkit.fluxcd.io/v2"
SOURCE_API = "source.toolkit.fluxcd.io/v1"
SETTINGS = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  greeting: {{ .Values.greeting | quote }}
"""
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
spec:
  replicas: {{ .Values.replicas }}
  progressDeadlineSeconds: 3600
  selector:
    matchLabels: {app: {{ .Release.Name }}-web}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}-web}
    spec:
      {{- with .Values.nodeSelector }}
      nodeSelector: {{ toJson . }}
      {{- end }}
      containers:
        - name: web
          image: web:1.0.0
"""
STUCK = {"replicas": 1, "nodeSelector": {"lockstep.io/no-such-node": "true"}}
"""Values whose Deployment never becomes available: its Pod fits no node."""
TIMEOUT = "10m"


def _chart() -> Chart:
    return Chart(
        "web",
        "1.0.0",
        templates={"settings.yaml": SETTINGS, "deployment.yaml": DEPLOYMENT},
        values={"greeting": "hello", "replicas": 0, "nodeSelector": {}},
    )


def _release(namespace: str, **spec: Any) -> dict[str, Any]:
    return helm_release(namespace, "web", version="1.0.0", interval="1h", **spec)


async def _repository(kube: KubeClient, namespace: str, url: str) -> None:
    await kube.apply(helm_repository(namespace, url, interval="1h"))


def _ref(namespace: str) -> ObjectRef:
    return ObjectRef(HELM_API, "HelmRelease", "app", namespace)


async def _ready_at(kube: KubeClient, namespace: str, text: str) -> dict[str, Any]:
    return await eventually(
        lambda: kube.get(_ref(namespace)),
        lambda o: condition(o, "Ready").startswith("True") and text in condition(o, "Ready"),
        within=120,
        what=f"Ready with {text!r}",
    )


async def _storage(kube: KubeClient, namespace: str) -> dict[int, str]:
    """The release's revisions in Helm's storage: status by version."""
    secrets = await kube.list("v1", "Secret", namespace=namespace, labels={"owner": "helm"})
    return {
        int(secret["metadata"]["labels"]["version"]): secret["metadata"]["labels"]["status"]
        for secret in secrets
    }


async def _waiting_for_health(kube: KubeClient, namespace: str) -> None:
    """Until revision 1 is stored pending-install and its Deployment is applied: the
    install waits for a Deployment that never becomes available."""
    await eventually(
        lambda: _storage(kube, namespace),
        lambda revisions: revisions == {1: "pending-install"},
        within=120,
        what="revision 1 pending",
    )
    deployment = ObjectRef("apps/v1", "Deployment", "app-web", namespace)
    await eventually(lambda: _exists(kube, deployment), bool, within=30, what="the Deployment")
    # Well inside the wait: its first read of the API server (one second) is over.
    await asyncio.sleep(2)


async def _exists(kube: KubeClient, ref: ObjectRef) -> bool:
    try:
        await kube.get(ref)
    except NotFound:
        return False
    return True


def _drift_lines(engine: Engine, namespace: str) -> list[str]:
    """The engine's log lines telling that drift of the release enqueued it."""
    prefix = f"HelmRelease {namespace}/app: "
    return [
        line
        for line in engine.log.read_text().splitlines()
        if prefix in line and "; reconciling" in line
    ]


async def test_without_drift_detection_the_release_is_ready_and_a_change_is_no_drift(
    engine: Engine, kube: KubeClient, namespace: str, chart_repository: ChartRepository
) -> None:
    chart_repository.add(_chart())
    await _repository(kube, namespace, chart_repository.url)
    # Flux's default: driftDetection disabled. The wait judges the Deployment's watched copy.
    await kube.apply(_release(namespace))
    await _ready_at(kube, namespace, f"Helm install succeeded for release {namespace}/app.v1")

    settings = ObjectRef("v1", "ConfigMap", "app-settings", namespace)
    await kube.json_patch(
        settings, [{"op": "replace", "path": "/data/greeting", "value": "edited"}]
    )
    await asyncio.sleep(4)
    assert _drift_lines(engine, namespace) == [], "a change is no drift without drift detection"
    assert (await kube.get(settings))["data"]["greeting"] == "edited"

    # The same watches report drift once drift detection is on.
    await kube.apply(_release(namespace, driftDetection={"mode": "enabled"}))
    await eventually(
        lambda: kube.get(settings),
        lambda o: o["data"]["greeting"] == "hello",
        within=60,
        what="the drift corrected by the reconcile of the new spec",
    )
    await kube.json_patch(
        settings, [{"op": "replace", "path": "/data/greeting", "value": "edited again"}]
    )
    await eventually(
        lambda: kube.get(settings),
        lambda o: o["data"]["greeting"] == "hello",
        within=30,
        what="the second edit set back by the drift watches",
    )
    lines = _drift_lines(engine, namespace)
    assert lines, "drift reported by the watches"
    assert "drifted at /data/greeting" in lines[0]


async def test_deleting_a_release_waiting_for_health_uninstalls_it_at_once(
    engine: Engine, kube: KubeClient, namespace: str, chart_repository: ChartRepository
) -> None:
    chart_repository.add(_chart())
    await _repository(kube, namespace, chart_repository.url)
    await kube.apply(_release(namespace, timeout=TIMEOUT, values=STUCK))
    await _waiting_for_health(kube, namespace)

    deleted_at = time.monotonic()
    await kube.delete(_ref(namespace))
    await eventually(
        lambda: _exists(kube, _ref(namespace)),
        lambda exists: not exists,
        within=60,
        what="the HelmRelease gone",
    )
    # Ten minutes of timeout; gone within seconds.
    assert time.monotonic() - deleted_at < 60
    assert await _storage(kube, namespace) == {}, "its revisions removed"
    for ref in (
        ObjectRef("apps/v1", "Deployment", "app-web", namespace),
        ObjectRef("v1", "ConfigMap", "app-settings", namespace),
    ):
        assert not await _exists(kube, ref), f"{ref} uninstalled"


async def test_a_new_spec_cancels_the_wait_and_the_cancelled_revision_is_failed(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    chart_repository: ChartRepository,
    helm: Helm,
) -> None:
    chart_repository.add(_chart())
    await _repository(kube, namespace, chart_repository.url)
    await kube.apply(_release(namespace, timeout=TIMEOUT, values=STUCK))
    await _waiting_for_health(kube, namespace)

    changed_at = time.monotonic()
    await kube.apply(_release(namespace, timeout=TIMEOUT, values={"replicas": 0}))
    ready = await _ready_at(
        kube, namespace, f"Helm install succeeded for release {namespace}/app.v2"
    )
    assert time.monotonic() - changed_at < 60
    assert [(h["version"], h["status"]) for h in ready["status"]["history"]] == [
        (2, "deployed"),
        (1, "failed"),
    ]
    history = json.loads(helm.run("history", "app", "-n", namespace, "-o", "json"))
    assert [(h["revision"], h["status"]) for h in history] == [(1, "failed"), (2, "deployed")]
    assert history[0]["description"] == (
        f'Release "app" failed: wait cancelled: HelmRelease {namespace}/app has a new spec '
        "(generation 2)"
    )
    secret = await kube.get(ObjectRef("v1", "Secret", "sh.helm.release.v1.app.v1", namespace))
    assert decode(base64.b64decode(secret["data"]["release"])).status == "failed"
