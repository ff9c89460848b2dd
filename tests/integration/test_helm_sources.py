"""HelmRepository and HelmChart: indexes and charts from HTTP repositories, OCI registries
and Git folders become artifacts as Flux's source-controller makes them."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from ground.artifacts import condition
from ground.charts import REPOSITORY_CREDENTIALS, Chart, ChartRepository, Helm
from ground.engine import Engine
from ground.wait import eventually
from lockstep.dev.gitserver import ServedRepo
from lockstep.dev.registry import OciRegistry
from lockstep.kube import KubeClient, NotFound, ObjectRef

pytestmark = pytest.mark.integration

SOURCE_API = "source.toolkit.fluxcd.io/v1"
TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}
data:
  greeting: {{ .Values.greeting | quote }}
"""


def _chart(version: str, greeting: str = "hello", **files: str) -> Chart:
    return Chart(
        "app",
        version,
        templates={"configmap.yaml": TEMPLATE},
        values={"greeting": greeting, "replicas": 1},
        files=files,
    )


def _repository(namespace: str, url: str, name: str = "charts", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": SOURCE_API,
        "kind": "HelmRepository",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"url": url, "interval": "1m", **spec},
    }


def _helm_chart(namespace: str, source_kind: str, source: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": SOURCE_API,
        "kind": "HelmChart",
        "metadata": {"name": "app", "namespace": namespace},
        "spec": {
            "chart": "app",
            "interval": "1m",
            "sourceRef": {"kind": source_kind, "name": source},
            **spec,
        },
    }


async def _get(kube: KubeClient, kind: str, namespace: str, name: str) -> dict[str, Any]:
    return await kube.get(ObjectRef(SOURCE_API, kind, name, namespace))


async def _until(
    kube: KubeClient, kind: str, namespace: str, name: str, accept: Any, what: str
) -> dict[str, Any]:
    return await eventually(lambda: _get(kube, kind, namespace, name), accept, what=what)


def _ready_with(revision: str) -> Any:
    def accept(obj: dict[str, Any]) -> bool:
        artifact = (obj.get("status") or {}).get("artifact") or {}
        return condition(obj, "Ready").startswith("True") and artifact.get("revision") == revision

    return accept


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return bytes(response.read())


def _chart_files(package: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(package), mode="r:gz") as archive:
        return {
            member.name: archive.extractfile(member).read()  # type: ignore[union-attr]
            for member in archive.getmembers()
            if member.isfile()
        }


async def _request_reconcile(kube: KubeClient, kind: str, namespace: str, name: str) -> None:
    await kube.json_patch(
        ObjectRef(SOURCE_API, kind, name, namespace),
        [
            {
                "op": "add",
                "path": "/metadata/annotations",
                "value": {"reconcile.fluxcd.io/requestedAt": str(id(object()))},
            }
        ],
    )


async def test_index_and_chart_from_an_http_repository(
    engine: Engine, kube: KubeClient, namespace: str, chart_repository: ChartRepository
) -> None:
    first, second = _chart("1.0.0"), _chart("1.1.0")
    chart_repository.add(first, second, _chart("2.0.0-rc.1"))
    await kube.apply(_repository(namespace, chart_repository.url))
    repository = await _until(
        kube,
        "HelmRepository",
        namespace,
        "charts",
        lambda o: condition(o, "Ready").startswith("True"),
        "the HelmRepository Ready",
    )
    artifact = repository["status"]["artifact"]
    stored = _download(artifact["url"])
    # As Flux stores it: the sorted index as JSON, named and revised by the digest of the
    # index.yaml served.
    served = hashlib.sha256(_download(f"{chart_repository.url}/index.yaml")).hexdigest()
    assert artifact["revision"] == f"sha256:{served}"
    assert artifact["path"].endswith(f"index-{served}.yaml")
    assert artifact["digest"] == f"sha256:{hashlib.sha256(stored).hexdigest()}"
    index = json.loads(stored)
    assert [entry["version"] for entry in index["entries"]["app"]] == [
        "2.0.0-rc.1",
        "1.1.0",
        "1.0.0",
    ]
    assert (
        condition(repository, "Ready")
        == f"True: stored artifact: revision '{artifact['revision']}'"
    )

    # The latest stable version by default; the package is stored as it was downloaded.
    await kube.apply(_helm_chart(namespace, "HelmRepository", "charts"))
    chart = await _until(
        kube, "HelmChart", namespace, "app", _ready_with("1.1.0"), "the HelmChart at 1.1.0"
    )
    assert condition(chart, "Ready") == "True: pulled 'app' chart with version '1.1.0'"
    ready = next(c for c in chart["status"]["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "ChartPullSucceeded"
    assert chart["status"]["artifact"]["path"].endswith("app-1.1.0.tgz")
    assert _download(chart["status"]["artifact"]["url"]) == second.package()
    assert chart["status"]["observedChartName"] == "app"

    # A new version in the repository reaches the chart through the new index.
    third = _chart("1.2.0")
    chart_repository.add(third)
    await _request_reconcile(kube, "HelmRepository", namespace, "charts")
    chart = await _until(
        kube, "HelmChart", namespace, "app", _ready_with("1.2.0"), "the HelmChart at 1.2.0"
    )
    assert _download(chart["status"]["artifact"]["url"]) == third.package()


async def test_an_unchanged_index_writes_nothing(
    engine: Engine, kube: KubeClient, namespace: str, chart_repository: ChartRepository
) -> None:
    chart_repository.add(_chart("1.0.0"))
    await kube.apply(_repository(namespace, chart_repository.url))
    before = await _until(
        kube,
        "HelmRepository",
        namespace,
        "charts",
        lambda o: condition(o, "Ready").startswith("True"),
        "Ready",
    )
    fetched = chart_repository.requests.count("/index.yaml")
    await _request_reconcile(kube, "HelmRepository", namespace, "charts")
    after = await _until(
        kube,
        "HelmRepository",
        namespace,
        "charts",
        lambda o: (o.get("status") or {}).get("lastHandledReconcileAt") is not None,
        "the requested reconcile handled",
    )
    assert chart_repository.requests.count("/index.yaml") > fetched
    assert after["status"]["artifact"] == before["status"]["artifact"]


async def test_values_files_are_merged_into_a_packaged_chart(
    engine: Engine, kube: KubeClient, namespace: str, chart_repository: ChartRepository
) -> None:
    chart_repository.add(
        _chart("1.0.0", **{"values-prod.yaml": "greeting: prod\nextra:\n  enabled: true\n"})
    )
    await kube.apply(_repository(namespace, chart_repository.url))
    await kube.apply(
        _helm_chart(
            namespace,
            "HelmRepository",
            "charts",
            valuesFiles=["values.yaml", "values-prod.yaml"],
        )
    )
    # Flux marks the chart with the object's generation, so a change of the files shows.
    chart = await _until(
        kube, "HelmChart", namespace, "app", _ready_with("1.0.0+1"), "packaged at 1.0.0+1"
    )
    assert condition(chart, "Ready") == (
        "True: packaged 'app' chart with version '1.0.0+1' and merged values files "
        "[values.yaml values-prod.yaml]"
    )
    files = _chart_files(_download(chart["status"]["artifact"]["url"]))
    values = yaml.safe_load(files["app/values.yaml"])
    assert values == {"greeting": "prod", "replicas": 1, "extra": {"enabled": True}}
    assert yaml.safe_load(files["app/Chart.yaml"])["version"] == "1.0.0+1"

    await kube.apply(
        _helm_chart(namespace, "HelmRepository", "charts", valuesFiles=["values-missing.yaml"])
    )
    failed = await _until(
        kube,
        "HelmChart",
        namespace,
        "app",
        lambda o: condition(o, "Ready").startswith("False"),
        "a missing values file told",
    )
    assert "no values file found at path 'values-missing.yaml'" in condition(failed, "Ready")
    # The last good chart is kept.
    assert failed["status"]["artifact"]["revision"] == "1.0.0+1"


async def test_private_repository_needs_its_credentials(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    private_chart_repository: ChartRepository,
) -> None:
    private_chart_repository.add(_chart("1.0.0"))
    user, password = REPOSITORY_CREDENTIALS
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "charts-auth", "namespace": namespace},
            "stringData": {"username": user, "password": "wrong"},
        }
    )
    await kube.apply(
        _repository(namespace, private_chart_repository.url, secretRef={"name": "charts-auth"})
    )
    refused = await _until(
        kube,
        "HelmRepository",
        namespace,
        "charts",
        lambda o: condition(o, "Ready").startswith("False"),
        "the wrong password refused",
    )
    message = condition(refused, "Ready")
    assert private_chart_repository.url in message or "charts" in message
    assert "wrong" not in message

    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "charts-auth", "namespace": namespace},
            "stringData": {"username": user, "password": password},
        }
    )
    await _request_reconcile(kube, "HelmRepository", namespace, "charts")
    await _until(
        kube,
        "HelmRepository",
        namespace,
        "charts",
        lambda o: condition(o, "Ready").startswith("True"),
        "Ready with the right password",
    )
    await kube.apply(_helm_chart(namespace, "HelmRepository", "charts", version="1.x"))
    await _until(kube, "HelmChart", namespace, "app", _ready_with("1.0.0"), "the private chart")


async def test_chart_from_a_git_folder_follows_the_chosen_strategy(
    engine: Engine, kube: KubeClient, namespace: str, git_repo: ServedRepo, tmp_path: Path
) -> None:
    library = Chart("library", "0.1.0", templates={"_helpers.tpl": '{{- define "x" }}y{{ end }}'})
    app = Chart(
        "app",
        "1.0.0",
        templates={"configmap.yaml": TEMPLATE},
        values={"greeting": "hi"},
        metadata={
            "dependencies": [
                {"name": "library", "version": "0.1.0", "repository": "file://../library"}
            ]
        },
    )
    work = git_repo.working_copy(tmp_path / "work")
    for chart, folder in ((app, "charts/app"), (library, "charts/library")):
        for path, data in chart.folder_files().items():
            work.write(f"{folder}/{path}", data)
    commit = work.commit("charts")
    work.push()
    await kube.apply(
        {
            "apiVersion": SOURCE_API,
            "kind": "GitRepository",
            "metadata": {"name": "repo", "namespace": namespace},
            "spec": {"url": git_repo.http_url, "interval": "1m", "ref": {"branch": "main"}},
        }
    )
    await kube.apply(_helm_chart(namespace, "GitRepository", "repo", chart="./charts/app"))
    chart = await _until(
        kube, "HelmChart", namespace, "app", _ready_with("1.0.0"), "packaged from Git"
    )
    assert condition(chart, "Ready") == "True: packaged 'app' chart with version '1.0.0'"
    files = _chart_files(_download(chart["status"]["artifact"]["url"]))
    # The file:// dependency is built into the package.
    assert any(name.startswith("app/charts/library") for name in files), sorted(files)

    # With the Revision strategy the commit joins the version as build metadata.
    await kube.apply(
        _helm_chart(
            namespace,
            "GitRepository",
            "repo",
            chart="./charts/app",
            reconcileStrategy="Revision",
        )
    )
    await _until(
        kube,
        "HelmChart",
        namespace,
        "app",
        _ready_with(f"1.0.0+{commit[:12]}"),
        "the commit in the version",
    )


async def test_chart_from_an_oci_repository(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    oci_registry: OciRegistry,
    oci_repository: str,
    helm: Helm,
) -> None:
    chart = _chart("0.3.0")
    path = oci_repository.removeprefix(f"{oci_registry.host}/")
    helm.push(chart, oci_registry, path)
    helm.push(_chart("0.4.0-beta.1"), oci_registry, path)
    url = f"oci://{oci_registry.host}/{path}"
    await kube.apply(_repository(namespace, url, type="oci", insecure=True))
    await kube.apply(_helm_chart(namespace, "HelmRepository", "charts", version=">=0.1.0"))
    ready = await _until(
        kube, "HelmChart", namespace, "app", _ready_with("0.3.0"), "pulled from OCI"
    )
    assert _download(ready["status"]["artifact"]["url"]) == chart.package()
    # An OCI HelmRepository is a static object, as in Flux: no finalizer, no status.
    repository = await _get(kube, "HelmRepository", namespace, "charts")
    assert not repository["metadata"].get("finalizers")
    assert not (repository.get("status") or {}).get("conditions")


async def test_bucket_sources_are_refused_clearly(
    engine: Engine, kube: KubeClient, namespace: str
) -> None:
    await kube.apply(_helm_chart(namespace, "Bucket", "bucket"))
    stalled = await _until(
        kube,
        "HelmChart",
        namespace,
        "app",
        lambda o: condition(o, "Stalled").startswith("True"),
        "Stalled",
    )
    assert "Bucket sources are not supported" in condition(stalled, "Ready")


async def test_deleting_a_chart_removes_its_artifacts(
    engine: Engine, kube: KubeClient, namespace: str, chart_repository: ChartRepository
) -> None:
    chart_repository.add(_chart("1.0.0"))
    await kube.apply(_repository(namespace, chart_repository.url))
    await kube.apply(_helm_chart(namespace, "HelmRepository", "charts"))
    ready = await _until(kube, "HelmChart", namespace, "app", _ready_with("1.0.0"), "Ready")
    url = ready["status"]["artifact"]["url"]
    await kube.delete(ObjectRef(SOURCE_API, "HelmChart", "app", namespace))

    async def gone() -> bool:
        try:
            await _get(kube, "HelmChart", namespace, "app")
        except NotFound:
            return True
        return False

    await eventually(gone, bool, what="the HelmChart deleted")
    with pytest.raises(urllib.error.HTTPError):
        _download(url)
