"""The Helm test ground, proved with the real helm on the real control plane.

Packages and repository indexes made by tests/ground/charts.py are compared with what
``helm package`` and ``helm repo index`` make of the same chart; the real helm installs
charts from the loopback chart repository and from the test OCI registry; and the
release Secret it writes is decoded here, to pin down Helm's release storage, which
lockstep's HelmRelease will write the same way:

- named ``sh.helm.release.v1.<release>.v<revision>``, type ``helm.sh/release.v1``;
- labelled ``owner=helm``, ``name``, ``status``, ``version`` (the revision) and
  ``modifiedAt`` (unix seconds of the record's last write);
- ``data.release`` holds base64 of gzip of the release as JSON, which the Secret's own
  encoding wraps in base64 once more.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import tarfile
import urllib.request
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from ground.charts import (
    HELM_CONFIG_MEDIA_TYPE,
    HELM_CONTENT_MEDIA_TYPE,
    PACKAGED_AT,
    REPOSITORY_CREDENTIALS,
    Chart,
    ChartRepository,
    Helm,
    hook,
    repository_index,
)
from lockstep.dev.registry import OciRegistry
from lockstep.kube import KubeClient, KubeObject, NotFound, ObjectRef

pytestmark = pytest.mark.integration

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
  labels:
    app.kubernetes.io/managed-by: {{ .Release.Service }}
data:
  colour: {{ .Values.colour | quote }}
  replicas: {{ .Values.replicas | quote }}
"""
SUBCHART_CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-cache
data:
  size: {{ .Values.size | quote }}
"""
CRD_API = "apiextensions.k8s.io/v1"
CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.ground.lockstep.dev
spec:
  group: ground.lockstep.dev
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"""
PRE_INSTALL = hook(
    {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "{{ .Release.Name }}-pre-install"},
        "data": {"ran": "true"},
    },
    ["pre-install", "pre-upgrade"],
    weight=-5,
)

WEB_MANIFEST = """\
---
# Source: web/charts/cache/templates/configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-cache
data:
  size: "1Gi"

---
# Source: web/templates/configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-settings
  labels:
    app.kubernetes.io/managed-by: Helm
data:
  colour: "green"
  replicas: "2"

"""


def web_chart(version: str = "0.2.0") -> Chart:
    """A chart with every part the ground offers: templates, a hook, values and their
    schema, a CRD, a README and a subchart."""
    return Chart(
        name="web",
        version=version,
        templates={"configmap.yaml": CONFIGMAP, "pre-install.yaml": PRE_INSTALL},
        values={"colour": "blue", "replicas": 2, "cache": {"size": "1Gi"}},
        schema={
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {"replicas": {"type": "integer", "minimum": 1}},
        },
        crds={"widgets.yaml": CRD},
        files={"README.md": "# web\n"},
        dependencies=[
            Chart(
                "cache",
                "1.0.0",
                templates={"configmap.yaml": SUBCHART_CONFIGMAP},
                values={"size": "512Mi"},
            )
        ],
        metadata={"appVersion": "1.4.0", "description": "The ground's web chart"},
    )


def tarball_members(package: bytes) -> list[tuple[Any, ...]]:
    """Each member of a gzip tarball in order: its header fields and content."""
    members = []
    with tarfile.open(fileobj=io.BytesIO(package), mode="r:gz") as tar:
        for info in tar:
            content = tar.extractfile(info)
            header = (info.name, info.type, info.mode, info.mtime, info.uid, info.gid)
            members.append((*header, info.uname, info.gname, content.read() if content else b""))
    return members


def decode_release(secret: dict[str, Any]) -> dict[str, Any]:
    """The release a Helm release Secret stores."""
    helm_encoded = base64.b64decode(secret["data"]["release"])
    release: dict[str, Any] = json.loads(gzip.decompress(base64.b64decode(helm_encoded)))
    return release


def install_web(helm: Helm, repository: ChartRepository, namespace: str, colour: str) -> None:
    """Install the web chart as release ``web``, or upgrade it, with one value set."""
    helm.run(
        "upgrade",
        "--install",
        "web",
        "web",
        "--repo",
        repository.url,
        "-n",
        namespace,
        "--set",
        f"colour={colour}",
    )


def release_secret(kube: KubeClient, namespace: str, revision: int) -> Awaitable[KubeObject]:
    return kube.get(ObjectRef("v1", "Secret", f"sh.helm.release.v1.web.v{revision}", namespace))


def test_packages_are_laid_out_as_helm_package_lays_them(helm: Helm, tmp_path: Path) -> None:
    chart = web_chart()
    folder = chart.write(tmp_path / "source")
    helm.run("package", str(folder), "--destination", str(tmp_path / "packed"))
    packed_by_helm = (tmp_path / "packed" / chart.filename).read_bytes()

    assert tarball_members(chart.package()) == tarball_members(packed_by_helm)
    assert web_chart().package() == chart.package()  # the same bytes on every call
    names = [member[0] for member in tarball_members(chart.package())]
    assert names[:2] == ["web/Chart.yaml", "web/values.yaml"]
    assert "web/charts/cache/templates/configmap.yaml" in names


def test_the_index_is_the_one_helm_repo_index_writes(helm: Helm, tmp_path: Path) -> None:
    charts = [web_chart("0.1.0"), web_chart("0.10.0"), web_chart("0.2.0")]
    folder = tmp_path / "repository"
    folder.mkdir()
    for chart in charts:
        (folder / chart.filename).write_bytes(chart.package())
    helm.run("repo", "index", str(folder))
    by_helm = yaml.safe_load((folder / "index.yaml").read_text())

    ours = repository_index(charts)
    assert ours["apiVersion"] == by_helm["apiVersion"] == "v1"
    for index in (ours, by_helm):
        for entry in index["entries"]["web"]:
            del entry["created"]
    assert ours["entries"] == by_helm["entries"]
    assert [entry["version"] for entry in ours["entries"]["web"]] == ["0.10.0", "0.2.0", "0.1.0"]


async def test_helm_installs_from_the_chart_repository(
    helm: Helm, chart_repository: ChartRepository, kube: KubeClient, namespace: str
) -> None:
    chart_repository.add(web_chart("0.1.0"), web_chart("0.2.0"))

    helm.run("install", "web", "web", "--repo", chart_repository.url, "-n", namespace)

    [release] = json.loads(helm.run("list", "-n", namespace, "-o", "json"))
    assert (release["name"], release["status"]) == ("web", "deployed")
    assert (release["chart"], release["app_version"]) == ("web-0.2.0", "1.4.0")
    assert {"/index.yaml", "/web-0.2.0.tgz"} <= set(chart_repository.requests)
    settings = ObjectRef("v1", "ConfigMap", "web-settings", namespace)
    assert (await kube.get(settings))["data"] == {"colour": "blue", "replicas": "2"}
    assert (await kube.get(ObjectRef("v1", "ConfigMap", "web-cache", namespace)))["data"] == {
        "size": "1Gi"
    }
    await kube.get(ObjectRef(CRD_API, "CustomResourceDefinition", "widgets.ground.lockstep.dev"))

    helm.run("uninstall", "web", "-n", namespace)
    assert json.loads(helm.run("list", "-n", namespace, "-o", "json")) == []
    with pytest.raises(NotFound):
        await kube.get(settings)


def test_a_private_chart_repository_needs_its_credentials(
    helm: Helm, private_chart_repository: ChartRepository, namespace: str
) -> None:
    private_chart_repository.add(web_chart())
    refused = helm.attempt("repo", "add", "ground", private_chart_repository.url)
    assert refused.returncode != 0
    assert "401" in refused.stderr

    user, password = REPOSITORY_CREDENTIALS
    helm.run(
        "repo",
        "add",
        "ground",
        private_chart_repository.url,
        "--username",
        user,
        "--password",
        password,
    )
    helm.run("install", "web", "ground/web", "--version", "0.2.0", "-n", namespace)

    [release] = json.loads(helm.run("list", "-n", namespace, "-o", "json"))
    assert (release["name"], release["status"], release["chart"]) == (
        "web",
        "deployed",
        "web-0.2.0",
    )
    helm.run("uninstall", "web", "-n", namespace)


def test_helm_installs_from_the_oci_registry(
    helm: Helm, oci_registry: OciRegistry, oci_repository: str, namespace: str
) -> None:
    repository = oci_repository.split("/", 1)[1]
    digest = helm.push(web_chart("0.3.0"), oci_registry, repository)

    request = urllib.request.Request(
        f"{oci_registry.url}/v2/{repository}/web/manifests/0.3.0",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Docker-Content-Digest"] == digest
        manifest = json.loads(response.read())
    assert manifest["config"]["mediaType"] == HELM_CONFIG_MEDIA_TYPE
    assert [layer["mediaType"] for layer in manifest["layers"]] == [HELM_CONTENT_MEDIA_TYPE]
    assert manifest["layers"][0]["digest"] == f"sha256:{web_chart('0.3.0').digest()}"

    reference = f"oci://{oci_registry.host}/{repository}/web"
    helm.run("install", "web", reference, "--version", "0.3.0", "--plain-http", "-n", namespace)

    [release] = json.loads(helm.run("list", "-n", namespace, "-o", "json"))
    assert (release["name"], release["status"], release["chart"]) == (
        "web",
        "deployed",
        "web-0.3.0",
    )
    helm.run("uninstall", "web", "-n", namespace)
    assert json.loads(helm.run("list", "-n", namespace, "-o", "json")) == []


async def test_each_revision_is_a_typed_and_labelled_secret(
    helm: Helm, chart_repository: ChartRepository, kube: KubeClient, namespace: str
) -> None:
    chart_repository.add(web_chart())
    install_web(helm, chart_repository, namespace, "green")

    first = await release_secret(kube, namespace, 1)
    assert first["type"] == "helm.sh/release.v1"
    assert list(first["data"]) == ["release"]
    labels = first["metadata"]["labels"]
    # Set on the record's last update, in unix seconds; the createdAt label of its first
    # (pending-install) write is not kept.
    assert labels.pop("modifiedAt").isdigit()
    assert labels == {"name": "web", "owner": "helm", "status": "deployed", "version": "1"}

    install_web(helm, chart_repository, namespace, "red")
    first = await release_secret(kube, namespace, 1)
    second = await release_secret(kube, namespace, 2)
    assert first["metadata"]["labels"]["status"] == "superseded"
    labels = second["metadata"]["labels"]
    assert (labels["status"], labels["version"], "createdAt" in labels) == ("deployed", "2", False)
    upgraded = decode_release(second)
    assert (upgraded["version"], upgraded["info"]["status"]) == (2, "deployed")
    assert upgraded["info"]["description"] == "Upgrade complete"
    assert upgraded["config"] == {"colour": "red"}
    assert decode_release(first)["info"]["status"] == "superseded"

    helm.run("uninstall", "web", "-n", namespace)
    assert await kube.list("v1", "Secret", namespace=namespace, labels={"owner": "helm"}) == []


async def test_the_release_record_is_gzip_json_in_base64(
    helm: Helm, chart_repository: ChartRepository, kube: KubeClient, namespace: str
) -> None:
    chart = web_chart()
    chart_repository.add(chart)
    install_web(helm, chart_repository, namespace, "green")

    release = decode_release(await release_secret(kube, namespace, 1))

    assert set(release) == {
        "name",
        "namespace",
        "version",
        "info",
        "chart",
        "config",
        "manifest",
        "hooks",
        "apply_method",
    }
    assert (release["name"], release["namespace"], release["version"]) == ("web", namespace, 1)
    assert release["apply_method"] == "ssa"  # Helm 4 installs with server-side apply.
    info = release["info"]
    assert set(info) == {"first_deployed", "last_deployed", "description", "status"}
    assert (info["status"], info["description"]) == ("deployed", "Install complete")
    # Only the values given at install; the chart's own defaults stay in the chart.
    assert release["config"] == {"colour": "green"}
    assert release["manifest"] == WEB_MANIFEST
    [pre_install] = release["hooks"]
    assert pre_install["path"] == "web/templates/pre-install.yaml"
    assert (pre_install["name"], pre_install["kind"], pre_install["weight"]) == (
        "web-pre-install",
        "ConfigMap",
        -5,
    )
    assert pre_install["events"] == ["pre-install", "pre-upgrade"]
    assert pre_install["delete_policies"] == ["before-hook-creation"]  # Helm's default
    assert pre_install["last_run"]["phase"] == "Succeeded"


async def test_the_release_record_keeps_the_chart_but_not_its_subcharts(
    helm: Helm, chart_repository: ChartRepository, kube: KubeClient, namespace: str
) -> None:
    chart = web_chart()
    chart_repository.add(chart)
    install_web(helm, chart_repository, namespace, "green")

    stored = decode_release(await release_secret(kube, namespace, 1))["chart"]

    assert set(stored) == {
        "metadata",
        "lock",
        "templates",
        "values",
        "schema",
        "schemamodtime",
        "files",
        "modtime",
    }
    # Dependencies are marked with the outcome of their conditions and tags.
    dependencies = [
        {**dependency, "enabled": True} for dependency in chart.chart_yaml()["dependencies"]
    ]
    assert stored["metadata"] == {**chart.chart_yaml(), "dependencies": dependencies}
    assert stored["lock"] is None
    # Files as name, base64 content and mtime; Chart.yaml, values.yaml and the schema
    # have their own fields, and the subcharts are not kept at all.
    assert [template["name"] for template in stored["templates"]] == [
        "templates/configmap.yaml",
        "templates/pre-install.yaml",
    ]
    assert base64.b64decode(stored["templates"][0]["data"]).decode() == CONFIGMAP
    packaged_at = datetime.fromtimestamp(PACKAGED_AT, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert {file["modtime"] for file in stored["templates"] + stored["files"]} == {packaged_at}
    assert [file["name"] for file in stored["files"]] == ["README.md", "crds/widgets.yaml"]
    assert json.loads(base64.b64decode(stored["schema"])) == chart.schema
    # The chart's values as coalesced with its subcharts' at install.
    assert stored["values"] == {
        "colour": "blue",
        "replicas": 2,
        "cache": {"size": "1Gi", "global": {}},
    }
