"""A fleet repository laid out like Flux's flux2-kustomize-helm-example: infrastructure
controllers as HelmReleases from HelmRepositories (one of them installing CRDs),
configs that need those CRDs, and apps whose per-environment values are a Kustomize
patch of a base HelmRelease, tied together by Kustomizations with ``dependsOn`` and
``wait``. The manifests are the example's, with only the repository URLs (and the
charts behind them, made here) changed; everything reaches Ready from the local Git
server and the real helm lists the releases."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ground.charts import Chart, ChartRepository, Helm
from ground.engine import Engine
from ground.gitops import KUBECTL, Scenario, kubectl
from ground.wait import eventually
from lockstep.kube import NotFound, ObjectRef

pytestmark = pytest.mark.integration

NAMESPACES = ("cert-manager", "ingress-nginx", "podinfo")

CLUSTER_INFRASTRUCTURE = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: infra-controllers
  namespace: {ns}
spec:
  interval: 1h
  retryInterval: 1m
  timeout: 5m
  sourceRef:
    kind: GitRepository
    name: flux-system
  path: ./infrastructure/controllers
  prune: true
  wait: true
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: infra-configs
  namespace: {ns}
spec:
  dependsOn:
    - name: infra-controllers
  interval: 1h
  retryInterval: 1m
  timeout: 5m
  sourceRef:
    kind: GitRepository
    name: flux-system
  path: ./infrastructure/configs
  prune: true
"""

CLUSTER_APPS = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: {ns}
spec:
  interval: 10m0s
  dependsOn:
    - name: infra-configs
  sourceRef:
    kind: GitRepository
    name: flux-system
  path: ./apps/production
  prune: true
  wait: true
  timeout: 5m0s
"""

CERT_MANAGER = """\
apiVersion: v1
kind: Namespace
metadata:
  name: cert-manager
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: cert-manager
  namespace: cert-manager
spec:
  interval: 24h
  url: {url}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: cert-manager
  namespace: cert-manager
spec:
  interval: 30m
  chart:
    spec:
      chart: cert-manager
      version: "1.x"
      sourceRef:
        kind: HelmRepository
        name: cert-manager
        namespace: cert-manager
      interval: 12h
  values:
    installCRDs: true
"""

INGRESS_NGINX = """\
apiVersion: v1
kind: Namespace
metadata:
  name: ingress-nginx
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: ingress-nginx
  namespace: ingress-nginx
spec:
  interval: 24h
  url: {url}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: ingress-nginx
  namespace: ingress-nginx
spec:
  interval: 30m
  chart:
    spec:
      chart: ingress-nginx
      version: "*"
      sourceRef:
        kind: HelmRepository
        name: ingress-nginx
        namespace: ingress-nginx
      interval: 12h
  values:
    controller:
      service:
        type: "NodePort"
"""

CLUSTER_ISSUERS = """\
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata:
  name: letsencrypt
spec:
  acme:
    email: fluxcdbot@users.noreply.github.com
    server: https://acme-staging-v02.api.letsencrypt.org/directory
    privateKeySecretRef:
      name: letsencrypt-nginx
    solvers:
      - http01:
          ingress:
            class: nginx
"""

PODINFO_RELEASE = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
  namespace: podinfo
spec:
  releaseName: podinfo
  chart:
    spec:
      chart: podinfo
      sourceRef:
        kind: HelmRepository
        name: podinfo
  interval: 50m
  install:
    remediation:
      retries: 3
  # Default values
  # https://github.com/stefanprodan/podinfo/blob/master/charts/podinfo/values.yaml
  values:
    redis:
      enabled: true
      repository: public.ecr.aws/docker/library/redis
      tag: 7.0.6
    ingress:
      enabled: true
      className: nginx
"""

PODINFO_PRODUCTION_VALUES = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
  namespace: podinfo
spec:
  chart:
    spec:
      version: ">=1.0.0"
  test:
    enable: false
  values:
    ingress:
      hosts:
        - host: podinfo.production
          paths:
            - path: /
              pathType: ImplementationSpecific
"""


def _deployment(name: str) -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
        - name: main
          image: {name}:latest
"""


CLUSTER_ISSUER_CRD = """\
{{- if .Values.installCRDs }}
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: clusterissuers.cert-manager.io
spec:
  group: cert-manager.io
  scope: Cluster
  names: {kind: ClusterIssuer, plural: clusterissuers, singular: clusterissuer}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
{{- end }}
"""

PODINFO_HOSTS = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-ingress
data:
  className: {{ .Values.ingress.className | quote }}
  hosts: {{ toJson .Values.ingress.hosts | quote }}
  redis: {{ .Values.redis.enabled | quote }}
"""


def _charts() -> list[Chart]:
    return [
        Chart(
            "cert-manager",
            "1.14.4",
            templates={
                "crds.yaml": CLUSTER_ISSUER_CRD,
                "deployment.yaml": _deployment("cert-manager"),
            },
            values={"installCRDs": False},
        ),
        Chart(
            "ingress-nginx",
            "4.10.0",
            templates={"deployment.yaml": _deployment("ingress-nginx-controller")},
            values={"controller": {"service": {"type": "LoadBalancer"}}},
        ),
        Chart(
            "podinfo",
            "6.5.4",
            templates={"deployment.yaml": _deployment("podinfo"), "hosts.yaml": PODINFO_HOSTS},
            values={
                "redis": {"enabled": False},
                "ingress": {"enabled": False, "className": "", "hosts": []},
            },
        ),
    ]


@pytest.fixture
def fleet_namespaces(kubeconfig: Path, scenario: Scenario) -> Iterator[None]:
    """The example's own namespaces, removed after the test: the Kustomizations that
    apply them first (their finalizers prune what they applied), so that none of them
    sees its objects deleted under it and applies them again; then what is left,
    without waiting."""
    yield
    for command in (
        ["delete", "kustomization", "--all", "-n", scenario.namespace, "--timeout=60s"],
        ["delete", "namespace", *NAMESPACES, "--wait=false", "--ignore-not-found"],
    ):
        subprocess.run(
            [str(KUBECTL), "--kubeconfig", str(kubeconfig), *command],
            capture_output=True,
            timeout=90,
            check=False,
        )


async def test_the_kustomize_helm_example_reaches_ready(
    engine: Engine,
    scenario: Scenario,
    chart_repository: ChartRepository,
    helm: Helm,
    fleet_namespaces: None,
) -> None:
    chart_repository.add(*_charts())
    url = chart_repository.url
    ns = scenario.namespace
    scenario.commit(
        {
            "clusters/production/infrastructure.yaml": CLUSTER_INFRASTRUCTURE.format(ns=ns),
            "clusters/production/apps.yaml": CLUSTER_APPS.format(ns=ns),
            "infrastructure/controllers/cert-manager.yaml": CERT_MANAGER.format(url=url),
            "infrastructure/controllers/ingress-nginx.yaml": INGRESS_NGINX.format(url=url),
            "infrastructure/controllers/kustomization.yaml": (
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                "resources:\n  - cert-manager.yaml\n  - ingress-nginx.yaml\n"
            ),
            "infrastructure/configs/cluster-issuers.yaml": CLUSTER_ISSUERS,
            "infrastructure/configs/kustomization.yaml": (
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                "resources:\n  - cluster-issuers.yaml\n"
            ),
            "apps/base/podinfo/namespace.yaml": (
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: podinfo\n"
            ),
            "apps/base/podinfo/repository.yaml": (
                "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n"
                f"  name: podinfo\n  namespace: podinfo\nspec:\n  interval: 5m\n  url: {url}\n"
            ),
            "apps/base/podinfo/release.yaml": PODINFO_RELEASE,
            "apps/base/podinfo/kustomization.yaml": (
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                "namespace: podinfo\nresources:\n  - namespace.yaml\n  - repository.yaml\n"
                "  - release.yaml\n"
            ),
            "apps/production/podinfo-values.yaml": PODINFO_PRODUCTION_VALUES,
            "apps/production/kustomization.yaml": (
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                "namespace: podinfo\nresources:\n  - ../base/podinfo\npatches:\n"
                "  - path: podinfo-values.yaml\n    target:\n      kind: HelmRelease\n"
            ),
        }
    )
    await scenario.source("flux-system")
    # What flux bootstrap applies: the cluster's folder, whose Kustomizations do the rest.
    await scenario.kustomization(
        "flux-system",
        "./clusters/production",
        targetNamespace=None,
        sourceRef={"kind": "GitRepository", "name": "flux-system"},
    )
    for name in ("infra-controllers", "infra-configs", "apps"):
        await eventually(
            lambda name=name: scenario.get(scenario.ref(name)),  # type: ignore[misc]
            lambda found: found is not None,
            what=f"Kustomization {name} created from Git",
        )
        await scenario.ready(name, within=240)

    listed = json.loads(helm.run("list", "-A", "-o", "json"))
    assert sorted((r["name"], r["namespace"], r["status"], r["chart"]) for r in listed) == [
        ("cert-manager", "cert-manager", "deployed", "cert-manager-1.14.4"),
        ("ingress-nginx", "ingress-nginx", "deployed", "ingress-nginx-4.10.0"),
        ("podinfo", "podinfo", "deployed", "podinfo-6.5.4"),
    ]
    issuer = await kubectl(scenario.kubeconfig, "get", "clusterissuer", "letsencrypt", "-o", "name")
    assert issuer.strip() == "clusterissuer.cert-manager.io/letsencrypt"
    hosts = await scenario.kube.get(ObjectRef("v1", "ConfigMap", "podinfo-ingress", "podinfo"))
    # The production patch's values over the base's, over the chart's.
    assert json.loads(hosts["data"]["hosts"])[0]["host"] == "podinfo.production"
    assert hosts["data"]["className"] == "nginx"
    assert hosts["data"]["redis"] == "true"

    # Removing the apps from Git prunes the HelmRelease, which uninstalls its release.
    scenario.commit({}, remove=("clusters/production/apps.yaml",))

    async def uninstalled() -> bool:
        try:
            await scenario.kube.get(ObjectRef("v1", "ConfigMap", "podinfo-ingress", "podinfo"))
        except NotFound:
            return True
        return False

    await eventually(uninstalled, bool, within=120, what="podinfo uninstalled")
    names = {r["name"] for r in json.loads(helm.run("list", "-A", "-o", "json"))}
    assert names == {"cert-manager", "ingress-nginx"}
