"""``lockstep install --crds`` on the real control plane: Flux's complete CRD set, which
accepts Flux manifests verbatim and keeps every field of the kinds lockstep does not
reconcile yet."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ground.manifests import SAMPLE_MANIFESTS
from lockstep.api.kinds import KINDS

pytestmark = pytest.mark.integration


def _run(*command: str, kubeconfig: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        timeout=120,
    )


@pytest.fixture(scope="module")
def installed(kubeconfig: Path) -> Path:
    result = _run(sys.executable, "-m", "lockstep", "install", "--crds", kubeconfig=kubeconfig)
    assert result.returncode == 0, result.stderr
    assert "CRDs installed and established" in result.stdout
    return kubeconfig


def test_install_is_repeatable(installed: Path) -> None:
    again = _run(sys.executable, "-m", "lockstep", "install", "--crds", kubeconfig=installed)
    assert again.returncode == 0, again.stderr


def test_seed_manifests_are_accepted_and_printed_with_flux_columns(installed: Path) -> None:
    _run("kubectl", "create", "namespace", "flux-system", kubeconfig=installed)
    applied = _run("kubectl", "apply", "-f", "-", kubeconfig=installed, stdin=SAMPLE_MANIFESTS)
    assert applied.returncode == 0, applied.stderr
    assert "kustomization.kustomize.toolkit.fluxcd.io/apps created" in applied.stdout

    table = _run("kubectl", "get", "kustomizations", "-n", "flux-system", kubeconfig=installed)
    assert table.returncode == 0, table.stderr
    header = table.stdout.splitlines()[0].split()
    assert header == ["NAME", "AGE", "READY", "STATUS"]
    assert table.stdout.splitlines()[1].split()[0] == "apps"

    git = _run("kubectl", "get", "gitrepositories", "-n", "flux-system", kubeconfig=installed)
    assert git.stdout.splitlines()[0].split() == ["NAME", "URL", "AGE", "READY", "STATUS"]
    assert "https://github.com/acme/infra" in git.stdout

    policy = _run(
        "kubectl",
        "get",
        "imagepolicy.v1.image.toolkit.fluxcd.io",
        "payment-service-policy",
        "-n",
        "flux-system",
        "-o",
        "yaml",
        kubeconfig=installed,
    )
    assert policy.returncode == 0, policy.stderr
    assert yaml.safe_load(policy.stdout)["spec"]["policy"] == {"semver": {"range": "^1.2.x"}}


def test_invalid_manifest_is_rejected_by_the_schema(installed: Path) -> None:
    broken = SAMPLE_MANIFESTS.split("---")[1].replace("interval: 10m", "interval: ten minutes")
    result = _run(
        "kubectl", "apply", "--dry-run=server", "-f", "-", kubeconfig=installed, stdin=broken
    )
    assert result.returncode != 0
    assert "spec.interval" in result.stderr


def test_export_prints_the_same_crds(installed: Path) -> None:
    exported = _run(
        sys.executable, "-m", "lockstep", "install", "--crds", "--export", kubeconfig=installed
    )
    documents = [d for d in yaml.safe_load_all(exported.stdout) if d]
    names = {d["metadata"]["name"] for d in documents}
    assert {
        "gitrepositories.source.toolkit.fluxcd.io",
        "ocirepositories.source.toolkit.fluxcd.io",
        "kustomizations.kustomize.toolkit.fluxcd.io",
        "imagerepositories.image.toolkit.fluxcd.io",
        "imagepolicies.image.toolkit.fluxcd.io",
        "imageupdateautomations.image.toolkit.fluxcd.io",
        "receivers.notification.toolkit.fluxcd.io",
    } <= names
    listed = _run("kubectl", "get", "crds", "-o", "name", kubeconfig=installed)
    for name in names:
        assert f"customresourcedefinition.apiextensions.k8s.io/{name}" in listed.stdout


FLUX_CRDS = {
    "gitrepositories.source.toolkit.fluxcd.io": "true",
    "ocirepositories.source.toolkit.fluxcd.io": "true",
    "helmrepositories.source.toolkit.fluxcd.io": "true",
    "helmcharts.source.toolkit.fluxcd.io": "true",
    "buckets.source.toolkit.fluxcd.io": "false",
    "externalartifacts.source.toolkit.fluxcd.io": "false",
    "kustomizations.kustomize.toolkit.fluxcd.io": "true",
    "helmreleases.helm.toolkit.fluxcd.io": "true",
    "imagerepositories.image.toolkit.fluxcd.io": "true",
    "imagepolicies.image.toolkit.fluxcd.io": "true",
    "imageupdateautomations.image.toolkit.fluxcd.io": "true",
    "receivers.notification.toolkit.fluxcd.io": "true",
    "alerts.notification.toolkit.fluxcd.io": "false",
    "providers.notification.toolkit.fluxcd.io": "false",
}
"""Flux's complete CRD set, and whether lockstep reconciles each kind."""

ARGO_CRDS = {
    info.crd_name: "true" if info.reconciled else "false"
    for info in KINDS
    if info.group == "argoproj.io"
}
"""Argo CD's Application and AppProject CRDs, and whether lockstep reconciles each kind."""

HELM_RELEASE = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
  namespace: flux-system
spec:
  interval: 10m
  timeout: 5m
  releaseName: podinfo
  chart:
    metadata:
      labels: {team: web}
    spec:
      chart: podinfo
      version: ">=6.0.0 <7.0.0"
      sourceRef: {kind: HelmRepository, name: podinfo, namespace: flux-system}
      interval: 30m
      reconcileStrategy: ChartVersion
      valuesFiles: [values.yaml, values-prod.yaml]
      verify: {provider: cosign, secretRef: {name: cosign-keys}}
  dependsOn:
    - {name: cert-manager, namespace: infra}
  install:
    createNamespace: true
    crds: CreateReplace
    remediation: {retries: 3, remediateLastFailure: true}
    strategy: {name: RetryOnFailure, retryInterval: 2m}
  upgrade:
    cleanupOnFail: true
    remediation: {retries: -1, strategy: rollback}
  test: {enable: true, ignoreFailures: false, filters: [{name: smoke, exclude: true}]}
  driftDetection:
    mode: enabled
    ignore:
      - paths: [/spec/replicas]
        target: {kind: Deployment}
  values:
    replicaCount: 2
    ingress: {enabled: true, hosts: [{host: podinfo.example.com, paths: [{path: /}]}]}
    resources: {limits: {memory: 256Mi}}
  valuesFrom:
    - {kind: ConfigMap, name: podinfo-values, valuesKey: values.yaml, optional: true}
  postRenderers:
    - kustomize:
        patches:
          - target: {kind: Deployment}
            patch: |
              - op: add
                path: /metadata/annotations/owner
                value: web
  commonMetadata: {labels: {app.kubernetes.io/part-of: shop}}
"""

ALERT = """\
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata:
  name: on-call
  namespace: flux-system
spec:
  providerRef: {name: slack}
  eventSeverity: error
  eventSources:
    - {kind: Kustomization, name: "*", matchLabels: {team: web}}
    - {kind: HelmRelease, name: podinfo, namespace: flux-system}
  eventMetadata: {cluster: prod-eu, env: prod}
  inclusionList: [".*failed.*"]
  exclusionList: ["^Dependencies.*"]
  summary: Production cluster
  suspend: false
"""


def test_the_complete_flux_crd_set_is_established_and_marked(installed: Path) -> None:
    listed = _run(
        "kubectl", "get", "crds", "-l", "lockstep.io/reconciled", "-o", "json", kubeconfig=installed
    )
    assert listed.returncode == 0, listed.stderr
    crds = {item["metadata"]["name"]: item for item in json.loads(listed.stdout)["items"]}

    assert {
        name: crd["metadata"]["labels"]["lockstep.io/reconciled"] for name, crd in crds.items()
    } == FLUX_CRDS | ARGO_CRDS
    for name, crd in crds.items():
        conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert conditions["Established"] == "True", name


def _applied_and_read_back(installed: Path, manifest: str, resource: str) -> dict[str, Any]:
    _run("kubectl", "create", "namespace", "flux-system", kubeconfig=installed)
    applied = _run("kubectl", "apply", "-f", "-", kubeconfig=installed, stdin=manifest)
    assert applied.returncode == 0, applied.stderr
    name = yaml.safe_load(manifest)["metadata"]["name"]
    read = _run(
        "kubectl", "get", resource, name, "-n", "flux-system", "-o", "json", kubeconfig=installed
    )
    assert read.returncode == 0, read.stderr
    live: dict[str, Any] = json.loads(read.stdout)
    return live


def test_a_helm_release_keeps_every_flux_field_and_its_status(installed: Path) -> None:
    live = _applied_and_read_back(installed, HELM_RELEASE, "helmreleases.helm.toolkit.fluxcd.io")

    assert live["spec"] == yaml.safe_load(HELM_RELEASE)["spec"]
    status = {
        "observedGeneration": 1,
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "InstallSucceeded",
                "message": "Helm install succeeded for release flux-system/podinfo.v1",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ],
        "history": [
            {
                "chartName": "podinfo",
                "chartVersion": "6.5.0",
                "configDigest": "sha256:" + "0" * 64,
                "digest": "sha256:" + "1" * 64,
                "firstDeployed": "2026-01-01T00:00:00Z",
                "lastDeployed": "2026-01-01T00:00:00Z",
                "name": "podinfo",
                "namespace": "flux-system",
                "status": "deployed",
                "version": 1,
            }
        ],
    }
    patched = _run(
        "kubectl",
        "patch",
        "helmreleases.helm.toolkit.fluxcd.io",
        "podinfo",
        "-n",
        "flux-system",
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
        "-o",
        "json",
        kubeconfig=installed,
    )
    assert patched.returncode == 0, patched.stderr
    assert json.loads(patched.stdout)["status"] == status
    table = _run("kubectl", "get", "hr", "-n", "flux-system", kubeconfig=installed)
    assert table.stdout.splitlines()[0].split() == ["NAME", "AGE", "READY", "STATUS"]
    assert "Helm install succeeded" in table.stdout


def test_an_alert_keeps_every_flux_field(installed: Path) -> None:
    live = _applied_and_read_back(installed, ALERT, "alerts.notification.toolkit.fluxcd.io")

    assert live["spec"] == yaml.safe_load(ALERT)["spec"]


def test_versions_flux_stored_objects_at_are_kept_unserved(installed: Path) -> None:
    """A cluster where Flux stored Providers at an older version: the install keeps that
    version in the CRD, as the API server requires, and the objects stay readable."""
    name = "providers.notification.toolkit.fluxcd.io"
    exported = _run(
        sys.executable, "-m", "lockstep", "install", "--crds", "--export", kubeconfig=installed
    )
    [provider_crd] = [
        d for d in yaml.safe_load_all(exported.stdout) if d and d["metadata"]["name"] == name
    ]
    older = json.loads(json.dumps(provider_crd))
    older["spec"]["versions"][0]["name"] = "v1beta2"
    _run("kubectl", "delete", "crd", name, "--wait=true", kubeconfig=installed)
    created = _run(
        "kubectl", "create", "-f", "-", kubeconfig=installed, stdin=yaml.safe_dump(older)
    )
    assert created.returncode == 0, created.stderr
    _run("kubectl", "wait", "--for=condition=Established", f"crd/{name}", kubeconfig=installed)
    _run("kubectl", "create", "namespace", "flux-system", kubeconfig=installed)
    provider = {
        "apiVersion": "notification.toolkit.fluxcd.io/v1beta2",
        "kind": "Provider",
        "metadata": {"name": "slack", "namespace": "flux-system"},
        "spec": {"type": "slack", "channel": "general", "secretRef": {"name": "slack-url"}},
    }
    stored = _run("kubectl", "apply", "-f", "-", kubeconfig=installed, stdin=json.dumps(provider))
    assert stored.returncode == 0, stored.stderr

    again = _run(sys.executable, "-m", "lockstep", "install", "--crds", kubeconfig=installed)
    assert again.returncode == 0, again.stderr

    crd = json.loads(_run("kubectl", "get", "crd", name, "-o", "json", kubeconfig=installed).stdout)
    versions = {v["name"]: (v["served"], v["storage"]) for v in crd["spec"]["versions"]}
    assert versions == {"v1beta3": (True, True), "v1beta2": (False, False)}
    read = _run(
        "kubectl",
        "get",
        "providers.v1beta3.notification.toolkit.fluxcd.io",
        "slack",
        "-n",
        "flux-system",
        "-o",
        "json",
        kubeconfig=installed,
    )
    assert read.returncode == 0, read.stderr
    assert json.loads(read.stdout)["spec"] == provider["spec"]
