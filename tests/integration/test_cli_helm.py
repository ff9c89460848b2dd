"""The commands for Helm kinds as a user runs them, against the real engine: create a
HelmRepository and a HelmRelease, read them (get, tree), preview the next release (build,
diff, with its exit codes), act on them (reconcile --with-source, suspend, resume) and
manage them (export, delete)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from ground.charts import Chart, ChartRepository
from ground.engine import Engine, lockstep, succeeded
from lockstep.kube import KubeClient, NotFound, ObjectRef

pytestmark = pytest.mark.integration

SETTINGS = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  greeting: {{ .Values.greeting | quote }}
  colour: {{ .Values.colour | quote }}
"""
CREDENTIALS = """\
apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}-credentials
data:
  password: {{ .Values.password | b64enc }}
"""
DEFAULTS = {"greeting": "hello", "colour": "red", "password": "chart-password"}


def _chart(version: str, *, credentials: bool = True) -> Chart:
    templates = {"settings.yaml": SETTINGS}
    if credentials:
        templates["credentials.yaml"] = CREDENTIALS
    return Chart("app", version, templates=templates, values=DEFAULTS)


def _values_config_map(namespace: str, colour: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "shared-values", "namespace": namespace},
        "data": {"values.yaml": f"colour: {colour}\n"},
    }


async def _config_map(kube: KubeClient, namespace: str, name: str) -> dict[str, Any]:
    return await kube.get(ObjectRef("v1", "ConfigMap", name, namespace))


def _table(output: str) -> list[list[str]]:
    return [line.split() for line in output.splitlines()]


async def test_create_preview_reconcile_and_delete_a_helm_release(
    engine: Engine,
    kube: KubeClient,
    kubeconfig: Path,
    namespace: str,
    chart_repository: ChartRepository,
    tmp_path: Path,
) -> None:
    ns = namespace
    chart_repository.add(_chart("1.0.0"))
    created_repository = succeeded(
        await lockstep(
            kubeconfig,
            "create",
            "source",
            "helm",
            "charts",
            "--url",
            chart_repository.url,
            "-n",
            ns,
        )
    )
    assert "helmrepository charts is Ready" in created_repository
    values = tmp_path / "values.yaml"
    values.write_text("greeting: hi\npassword: file-password\n")
    await kube.apply(_values_config_map(ns, "blue"))

    created = succeeded(
        await lockstep(
            kubeconfig, "create", "helmrelease", "app", "-n", ns,
            "--source", "HelmRepository/charts", "--chart", "app", "--chart-version", ">=1",
            "--values", str(values), "--values-from", "ConfigMap/shared-values",
        )
    )  # fmt: skip
    assert f"helmrelease app in namespace {ns} created" in created
    assert "helmrelease app is Ready: applied revision 1.0.0" in created
    settings = await _config_map(kube, ns, "app-settings")
    assert settings["data"] == {"greeting": "hi", "colour": "blue"}

    # Reading state.
    table = _table(succeeded(await lockstep(kubeconfig, "get", "helmreleases", "-n", ns)))
    assert table[0] == ["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE", "AGE"]
    assert table[1][:6] == ["app", "1.0.0", "False", "True", "Helm", "install"]
    assert "charts" in succeeded(await lockstep(kubeconfig, "get", "sources", "helm", "-n", ns))
    charts = _table(succeeded(await lockstep(kubeconfig, "get", "sources", "chart", "-n", ns)))
    assert charts[1][:2] == [f"{ns}-app", "1.0.0"]
    tree = succeeded(await lockstep(kubeconfig, "tree", "hr", "app", "-n", ns)).splitlines()
    assert tree == [
        f"HelmRelease/{ns}/app ✓ Ready",
        f"├── Secret/{ns}/app-credentials",
        f"└── ConfigMap/{ns}/app-settings",
    ]

    # Nothing to change; then the values in the cluster change, and diff and build say how.
    unchanged = await lockstep(kubeconfig, "diff", "helmrelease", "app", "-n", ns)
    assert (unchanged.returncode, unchanged.stdout) == (0, ""), unchanged.stderr
    await kube.apply(_values_config_map(ns, "green"))
    changed = await lockstep(kubeconfig, "diff", "helmrelease", "app", "-n", ns)
    assert changed.returncode == 1, changed.stdout + changed.stderr
    assert f"ConfigMap/{ns}/app-settings drifted" in changed.stdout
    assert "+  colour: green" in changed.stdout
    assert "file-password" not in changed.stdout
    built = succeeded(await lockstep(kubeconfig, "build", "helmrelease", "app", "-n", ns))
    objects = {obj["metadata"]["name"]: obj for obj in yaml.safe_load_all(built)}
    assert objects["app-settings"]["data"] == {"greeting": "hi", "colour": "green"}
    assert objects["app-settings"]["metadata"]["namespace"] == ns
    assert objects["app-settings"]["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"] == "app"
    assert objects["app-credentials"]["data"] == {"password": "***"}
    assert base64.b64encode(b"file-password").decode() not in built

    # A new chart version: reconciling with its sources upgrades to it.
    chart_repository.add(_chart("1.1.0", credentials=False))
    reconciled = succeeded(
        await lockstep(kubeconfig, "reconcile", "hr", "app", "-n", ns, "--with-source")
    )
    assert "helmrepository charts reconciled: fetched revision" in reconciled
    assert f"helmchart {ns}-app reconciled: fetched revision 1.1.0" in reconciled
    assert "helmrelease app reconciled: applied revision 1.1.0" in reconciled
    assert (await _config_map(kube, ns, "app-settings"))["data"]["colour"] == "green"
    with pytest.raises(NotFound):
        await kube.get(ObjectRef("v1", "Secret", "app-credentials", ns))
    unchanged = await lockstep(kubeconfig, "diff", "hr", "app", "-n", ns)
    assert (unchanged.returncode, unchanged.stdout) == (0, ""), unchanged.stderr

    # Suspend and resume, as shown by get.
    suspended = succeeded(await lockstep(kubeconfig, "suspend", "helmrelease", "app", "-n", ns))
    assert f"helmrelease app in namespace {ns} suspended" in suspended
    rows = yaml.safe_load(
        succeeded(await lockstep(kubeconfig, "get", "hr", "-n", ns, "-o", "yaml"))
    )
    assert [(row["name"], row["suspended"]) for row in rows] == [("app", True)]
    resumed = succeeded(await lockstep(kubeconfig, "resume", "helmrelease", "app", "-n", ns))
    assert "helmrelease app resumed: applied revision 1.1.0" in resumed

    # Export, then delete: the release is uninstalled.
    exported = yaml.safe_load(
        succeeded(await lockstep(kubeconfig, "export", "helmrelease", "app", "-n", ns))
    )
    assert exported["spec"]["chart"]["spec"]["sourceRef"] == {
        "kind": "HelmRepository",
        "name": "charts",
    }
    assert "status" not in exported
    repository = yaml.safe_load(
        succeeded(await lockstep(kubeconfig, "export", "source", "helm", "charts", "-n", ns))
    )
    assert repository["spec"]["url"] == chart_repository.url
    deleted = succeeded(await lockstep(kubeconfig, "delete", "helmrelease", "app", "-n", ns))
    assert f"helmrelease app in namespace {ns} deleted" in deleted
    with pytest.raises(NotFound):
        await _config_map(kube, ns, "app-settings")
    succeeded(await lockstep(kubeconfig, "delete", "source", "helm", "charts", "-n", ns))


async def test_a_release_of_an_existing_helm_chart(
    engine: Engine,
    kube: KubeClient,
    kubeconfig: Path,
    namespace: str,
    chart_repository: ChartRepository,
) -> None:
    ns = namespace
    chart_repository.add(_chart("2.0.0"))
    for command in (
        ["source", "helm", "charts", "--url", chart_repository.url],
        ["source", "chart", "app", "--source", "HelmRepository/charts", "--chart", "app"],
    ):
        succeeded(await lockstep(kubeconfig, "create", *command, "-n", ns))
    exported = yaml.safe_load(
        succeeded(await lockstep(kubeconfig, "export", "source", "chart", "app", "-n", ns))
    )
    assert exported["spec"]["chart"] == "app"

    # Created suspended, nothing is deployed yet: build renders an install, diff shows
    # everything created, the target namespace first.
    target = f"{ns}-site"
    release = yaml.safe_load(
        succeeded(
            await lockstep(
                kubeconfig, "create", "hr", "web", "-n", ns, "--chart-ref", "HelmChart/app",
                "--release-name", "site", "--target-namespace", target,
                "--create-target-namespace", "--export",
            )
        )
    )  # fmt: skip
    assert release["spec"]["chartRef"] == {"kind": "HelmChart", "name": "app"}
    release["spec"]["suspend"] = True
    await kube.apply(release)
    try:
        built = succeeded(await lockstep(kubeconfig, "build", "hr", "web", "-n", ns))
        assert {obj["metadata"]["name"] for obj in yaml.safe_load_all(built)} == {
            "site-settings",
            "site-credentials",
        }
        install = await lockstep(kubeconfig, "diff", "hr", "web", "-n", ns)
        assert install.returncode == 1, install.stdout + install.stderr
        unvalidated = "(not validated yet: the set creates its namespace or kind first)"
        assert install.stdout.splitlines() == [
            f"► Namespace/{target} created",
            f"► Secret/{target}/site-credentials created {unvalidated}",
            f"► ConfigMap/{target}/site-settings created {unvalidated}",
        ]
        tree = succeeded(await lockstep(kubeconfig, "tree", "hr", "web", "-n", ns)).splitlines()
        assert tree == [f"HelmRelease/{ns}/web (no deployed release)"]

        resumed = succeeded(await lockstep(kubeconfig, "resume", "hr", "web", "-n", ns))
        assert "helmrelease web resumed: applied revision 2.0.0" in resumed
        assert (await _config_map(kube, target, "site-settings"))["data"]["colour"] == "red"
        reconciled = succeeded(
            await lockstep(kubeconfig, "reconcile", "helmrelease", "web", "-n", ns, "--with-source")
        )
        assert "helmchart app reconciled: fetched revision 2.0.0" in reconciled
        assert "helmrelease web reconciled: applied revision 2.0.0" in reconciled
        succeeded(await lockstep(kubeconfig, "delete", "hr", "web", "-n", ns))
    finally:
        await kube.delete(ObjectRef("v1", "Namespace", target))
    succeeded(await lockstep(kubeconfig, "delete", "source", "chart", "app", "-n", ns))

    # An OCI HelmRepository has no index: nothing to reconcile, as flux says.
    succeeded(
        await lockstep(
            kubeconfig, "create", "source", "helm", "registry", "--url", "oci://127.0.0.1:1/charts",
            "-n", ns,
        )
    )  # fmt: skip
    static = succeeded(
        await lockstep(kubeconfig, "reconcile", "source", "helm", "registry", "-n", ns)
    )
    assert "reconciliation not supported by the object" in static

    missing = await lockstep(kubeconfig, "build", "hr", "nope", "-n", ns)
    assert missing.returncode == 2
    assert f"helmrelease nope not found in namespace {ns}" in missing.stderr
