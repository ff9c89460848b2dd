"""The HelmRelease model: Flux's manifests parse and round-trip whole, the generated
schema is structural and keeps `values` open, and the helpers give Flux's defaults."""

import copy
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import ValidationError

from integration.test_install_crds import HELM_RELEASE
from lockstep.api.crds import openapi_schema
from lockstep.api.helm import ChartObjectReference, HelmRelease, Uninstall, shorten_release_name
from unit.api.test_crds import structural_violations, walk

PODINFO = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
  namespace: default
spec:
  interval: 5m
  chart:
    spec:
      chart: podinfo
      version: "6.5.*"
      sourceRef:
        kind: HelmRepository
        name: podinfo
      interval: 1m
  values:
    replicaCount: 2
    podAnnotations: {}
"""

FROM_OCI_REPOSITORY = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
  namespace: apps
spec:
  interval: 10m
  chartRef:
    apiVersion: source.toolkit.fluxcd.io/v1
    kind: OCIRepository
    name: podinfo
    namespace: flux-system
  kubeConfig:
    configMapRef: {name: edge-cluster}
  install:
    strategy: {name: RetryOnFailure, retryInterval: 1m}
  upgrade:
    strategy: {name: RemediateOnFailure}
    serverSideApply: auto
  values:
    ui: {message: "Hello from OCI"}
"""

OCI_CHART_TEMPLATE = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: cert-manager
  namespace: cert-manager
spec:
  interval: 1h
  chart:
    kind: OCIRepository
    metadata:
      annotations: {team: platform}
    spec:
      url: oci://quay.io/jetstack/charts/cert-manager
      ref:
        tag: v1.16.2
        semver: ">=1.16.0 <1.17.0"
        semverFilter: "^v.*"
        digest: sha256:5a1c3d2e4f6071829304a5b6c7d8e9f00112233445566778899aabbccddeeff0
      layerSelector:
        mediaType: application/vnd.cncf.helm.chart.content.v1.tar+gzip
        operation: copy
      provider: generic
      secretRef: {name: quay-pull}
      certSecretRef: {name: quay-ca}
      proxySecretRef: {name: egress-proxy}
      serviceAccountName: chart-puller
      interval: 12h
      timeout: 90s
      ignore: "*.md"
      insecure: false
      suspend: false
      verify:
        provider: cosign
        matchOIDCIdentity:
          - issuer: "^https://token.actions.githubusercontent.com$"
            subject: "^https://github.com/cert-manager/cert-manager.*$"
        trustedRootSecretRef: {name: sigstore-root}
  values:
    crds: {enabled: true}
"""

EVERYTHING = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: metrics-server
  namespace: monitoring
spec:
  interval: 30m
  chart:
    kind: HelmChart
    spec:
      chart: metrics-server
      version: "3.12.x"
      sourceRef:
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: HelmRepository
        name: metrics-server
        namespace: flux-system
      reconcileStrategy: Revision
      ignoreMissingValuesFiles: true
      valuesFiles: [values.yaml]
  kubeConfig:
    secretRef: {name: prod-kubeconfig, key: value.yaml}
  suspend: false
  releaseName: metrics
  targetNamespace: kube-system
  storageNamespace: monitoring
  dependsOn:
    - name: prometheus-operator-crds
    - name: cert-manager
      namespace: cert-manager
      readyExpr: dep.status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')
  timeout: 10m
  maxHistory: 10
  serviceAccountName: helm-deployer
  persistentClient: false
  driftDetection:
    mode: warn
    ignore:
      - paths: ["/spec/replicas"]
        target: {group: apps, version: v1, kind: Deployment, name: metrics-server, namespace: kube-system}
      - paths: ["/metadata/annotations/checksum~1config"]
        target: {labelSelector: "app=metrics", annotationSelector: "drift=ignore"}
  install:
    timeout: 15m
    remediation: {retries: 3, ignoreTestFailures: true, remediateLastFailure: false}
    disableTakeOwnership: true
    disableWait: false
    disableWaitForJobs: true
    disableHooks: false
    disableOpenAPIValidation: true
    disableSchemaValidation: true
    replace: true
    skipCRDs: false
    crds: CreateReplace
    createNamespace: true
    serverSideApply: true
  upgrade:
    timeout: 12m
    strategy: {name: RetryOnFailure, retryInterval: 3m}
    remediation: {retries: 2, ignoreTestFailures: false, remediateLastFailure: true, strategy: uninstall}
    disableTakeOwnership: false
    disableWait: true
    disableWaitForJobs: false
    disableHooks: true
    disableOpenAPIValidation: false
    disableSchemaValidation: false
    force: true
    preserveValues: false
    cleanupOnFail: true
    crds: Create
    serverSideApply: disabled
    chartNameChangeStrategy: InPlaceUpdate
  test:
    enable: true
    timeout: 3m
    ignoreFailures: true
    filters: [{name: metrics-server-test-connection}, {name: slow-test, exclude: true}]
  rollback:
    timeout: 4m
    disableWait: false
    disableWaitForJobs: true
    disableHooks: false
    recreate: false
    force: true
    cleanupOnFail: true
    serverSideApply: enabled
  uninstall:
    timeout: 6m
    disableHooks: true
    keepHistory: true
    disableWait: true
    deletionPropagation: foreground
  valuesFrom:
    - {kind: ConfigMap, name: prod-env-values, valuesKey: values-prod.yaml}
    - kind: Secret
      name: prod-tls-values
      valuesKey: crt
      targetPath: tls.crt
      optional: true
      literal: true
  values:
    args: ["--kubelet-insecure-tls"]
    resources: {requests: {cpu: 100m, memory: 200Mi}}
  commonMetadata:
    labels: {env: production}
    annotations: {owner: platform}
  postRenderers:
    - kustomize:
        patches:
          - target: {version: v1, kind: Deployment, name: metrics-server}
            patch: |
              - op: add
                path: /metadata/labels/environment
                value: production
          - target:
              group: apps
              namespace: kube-system
              labelSelector: app.kubernetes.io/name=metrics-server
              annotationSelector: patch=enabled
            patch: |
              apiVersion: apps/v1
              kind: Deployment
              metadata: {name: metrics-server}
              spec: {revisionHistoryLimit: 3}
        images:
          - name: docker.io/bitnami/metrics-server
            newName: registry.example.com/bitnami/metrics-server
            newTag: 0.7.2
          - name: docker.io/bitnami/kubectl
            digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  postRenderStrategy: separate
  waitStrategy: {name: poller}
  healthCheckExprs:
    - apiVersion: cert-manager.io/v1
      kind: Certificate
      current: status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')
      inProgress: status.conditions.exists(c, c.type == 'Issuing')
      failed: status.conditions.exists(c, c.type == 'Ready' && c.status == 'False')
status:
  observedGeneration: 4
  observedPostRenderersDigest: sha256:1b7e4f0c
  observedCommonMetadataDigest: sha256:8d2a9c11
  lastAttemptedGeneration: 4
  conditions:
    - type: Ready
      status: "True"
      observedGeneration: 4
      lastTransitionTime: "2026-03-01T10:00:00Z"
      reason: UpgradeSucceeded
      message: Helm upgrade succeeded for release kube-system/metrics.v3 with chart metrics-server@3.12.2
  helmChart: flux-system/monitoring-metrics-server
  storageNamespace: monitoring
  history:
    - apiVersion: v2
      digest: sha256:4a1f0e2b
      name: metrics
      namespace: kube-system
      version: 3
      status: deployed
      action: upgrade
      chartName: metrics-server
      chartVersion: 3.12.2
      appVersion: 0.7.2
      configDigest: sha256:77c0e1aa
      firstDeployed: "2026-01-10T08:00:00Z"
      lastDeployed: "2026-03-01T09:59:30Z"
      testHooks:
        metrics-server-test-connection:
          lastStarted: "2026-03-01T09:59:40Z"
          lastCompleted: "2026-03-01T09:59:50Z"
          phase: Succeeded
      ociDigest: sha256:9f86d081
    - digest: sha256:0b2f9d3c
      name: metrics
      namespace: kube-system
      version: 2
      status: uninstalled
      chartName: metrics-server
      chartVersion: 3.12.1
      configDigest: sha256:77c0e1aa
      firstDeployed: "2026-01-10T08:00:00Z"
      lastDeployed: "2026-02-01T09:00:00Z"
      deleted: "2026-02-01T09:30:00Z"
      testHooks: {}
  inventory:
    entries:
      - {id: kube-system_metrics-server_apps_Deployment, v: v1}
      - {id: kube-system_metrics-server__Service, v: v1}
  lastAttemptedReleaseAction: upgrade
  lastAttemptedReleaseActionDuration: 31.5s
  failures: 1
  installFailures: 0
  upgradeFailures: 1
  lastAttemptedRevision: 3.12.2
  lastAttemptedRevisionDigest: sha256:9f86d081
  lastAttemptedValuesChecksum: 4f3a2b1c
  lastReleaseRevision: 3
  lastAttemptedConfigDigest: sha256:77c0e1aa
  lastHandledResetAt: "2026-02-28T12:00:00Z"
  lastHandledReconcileAt: "2026-03-01T09:59:00Z"
  lastHandledForceAt: "2026-02-27T12:00:00Z"
"""

SCHEMA = openapi_schema(HelmRelease)


def install_crds_sample() -> dict[str, Any]:
    """The HelmRelease of the CRD installation test, without its field from a future Flux."""
    manifest: dict[str, Any] = yaml.safe_load(HELM_RELEASE)
    manifest["spec"].pop("futureField", None)
    return manifest


def samples() -> list[dict[str, Any]]:
    return [
        install_crds_sample(),
        *(
            yaml.safe_load(text)
            for text in (PODINFO, FROM_OCI_REPOSITORY, OCI_CHART_TEMPLATE, EVERYTHING)
        ),
    ]


def release(spec: dict[str, Any], name: str = "podinfo", namespace: str = "apps") -> HelmRelease:
    """A HelmRelease with a chart reference and `spec` merged over it."""
    return HelmRelease.model_validate(
        {
            "apiVersion": "helm.toolkit.fluxcd.io/v2",
            "kind": "HelmRelease",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"interval": "5m", "chartRef": {"kind": "OCIRepository", "name": "x"}, **spec},
        }
    )


def paths(value: Any, path: str = "") -> Iterator[str]:
    """Every field path in a manifest, with list items and map entries written as in `walk`."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield f"{path}.{key}"
            yield from paths(item, f"{path}.{key}")
    elif isinstance(value, list):
        for item in value:
            yield f"{path}[]"
            yield from paths(item, f"{path}[]")


def schema_paths(schema: dict[str, Any]) -> set[str]:
    """The field paths the schema declares, leaving out the insides of free-form maps."""
    return {path for path, _ in walk(schema) if path and not path.endswith("{}")}


@pytest.mark.parametrize("manifest", samples(), ids=lambda m: f"{m['metadata']['name']}")
def test_flux_manifests_round_trip_with_every_field(manifest: dict[str, Any]) -> None:
    parsed = HelmRelease.model_validate(copy.deepcopy(manifest))

    assert parsed.to_manifest() == manifest


def test_the_samples_exercise_every_field_of_the_schema() -> None:
    """So that the round trip above covers every field Flux's API has."""
    written = {path for manifest in samples() for path in paths(manifest)}
    declared = schema_paths(SCHEMA["properties"]["spec"]) | schema_paths(
        SCHEMA["properties"]["status"]
    )
    test_hook = ".history[].testHooks{}"
    declared = {
        path.replace(test_hook, ".history[].testHooks.metrics-server-test-connection")
        for path in declared
    }

    missing = {
        path
        for path in declared
        if f".spec{path}" not in written and f".status{path}" not in written
    }
    assert missing == set()


def test_free_form_values_keep_any_nesting() -> None:
    values = {
        "image": {"tag": "6.5.4", "pullPolicy": None},
        "ports": [80, 443.5, "8080"],
        "flags": [True, False, {"nested": [[1, {"deep": []}]]}],
        "empty": {},
    }

    parsed = release({"values": values})

    assert parsed.spec.values == values
    assert parsed.model_dump(mode="json", by_alias=True)["spec"]["values"] == values


def test_the_generated_schema_is_structural_and_keeps_values_open() -> None:
    spec = SCHEMA["properties"]["spec"]["properties"]

    assert structural_violations(SCHEMA) == []
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert spec["values"]["x-kubernetes-preserve-unknown-fields"] is True
    assert "properties" not in spec["values"]
    assert SCHEMA["properties"]["spec"]["required"] == ["interval"]


@pytest.mark.parametrize("manifest", samples(), ids=lambda m: f"{m['metadata']['name']}")
def test_the_generated_schema_accepts_flux_manifests(manifest: dict[str, Any]) -> None:
    errors = jsonschema.Draft202012Validator(SCHEMA).iter_errors(manifest)

    assert [error.message for error in errors] == []


def test_server_defaults_are_those_of_flux_crd() -> None:
    """Flux v1.7.2 marks two defaults: uninstall's deletion propagation and the signing
    provider of a chart template's verification; the chart version and reconcile
    strategy are no longer server defaults since a template can be an OCIRepository."""
    defaults = {path: node["default"] for path, node in walk(SCHEMA) if "default" in node}

    assert defaults == {
        ".spec.chart.spec.verify.provider": "cosign",
        ".spec.uninstall.deletionPropagation": "background",
    }
    assert Uninstall().deletion_propagation == "background"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"releaseName": "r" * 54}, "at most 53 characters"),
        ({"targetNamespace": "n" * 64}, "at most 63 characters"),
        ({"install": {"crds": "Always"}}, "'Skip', 'Create' or 'CreateReplace'"),
        ({"upgrade": {"remediation": {"strategy": "retry"}}}, "'rollback' or 'uninstall'"),
        ({"uninstall": {"deletionPropagation": "cascade"}}, "'background'"),
        ({"driftDetection": {"mode": "on"}}, "'enabled', 'warn' or 'disabled'"),
        ({"valuesFrom": [{"kind": "ConfigMap", "name": "v", "valuesKey": "a b"}]}, "pattern"),
        ({"valuesFrom": [{"kind": "ConfigMap", "name": "v", "targetPath": "a b"}]}, "pattern"),
        ({"chartRef": {"kind": "HelmRepository", "name": "x"}}, "'OCIRepository'"),
        ({"timeout": "5 minutes"}, "pattern"),
        (
            {"install": {"strategy": {"name": "RemediateOnFailure", "retryInterval": "1m"}}},
            "retryInterval can only be set when name is RetryOnFailure",
        ),
        (
            {
                "chart": {
                    "spec": {
                        "chart": "podinfo",
                        "sourceRef": {"kind": "HelmRepository", "name": "p"},
                    }
                }
            },
            "set exactly one of chart and chartRef",
        ),
        ({"chartRef": None}, "set exactly one of chart and chartRef"),
    ],
)
def test_values_outside_the_flux_api_are_rejected(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        release(change)


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ({"spec": {"chart": "podinfo"}}, "chart.spec.chart and chart.spec.sourceRef must be set"),
        (
            {"spec": {"url": "oci://ghcr.io/stefanprodan/charts/podinfo"}},
            "chart.spec.url requires chart.kind: OCIRepository",
        ),
        ({"kind": "OCIRepository", "spec": {}}, "chart.spec.url must be set"),
        (
            {"kind": "OCIRepository", "spec": {"url": "oci://r/c", "chart": "c"}},
            "chart.spec.chart cannot be set",
        ),
        (
            {"kind": "OCIRepository", "spec": {"url": "oci://r/c", "version": "1.x"}},
            "chart.spec.version cannot be set",
        ),
        (
            {"kind": "OCIRepository", "spec": {"url": "oci://r/c", "valuesFiles": []}},
            "chart.spec.valuesFiles cannot be set",
        ),
    ],
)
def test_chart_templates_follow_flux_rules_per_kind(template: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        release({"chartRef": None, "chart": template})


def test_an_oci_chart_template_may_state_the_helm_chart_defaults() -> None:
    spec = {"url": "oci://r/c", "version": "*", "reconcileStrategy": "ChartVersion"}

    parsed = release({"chartRef": None, "chart": {"kind": "OCIRepository", "spec": spec}})

    assert parsed.spec.chart is not None
    assert parsed.spec.chart.spec.effective_version() == "*"


# Expected names below were printed by the body of helm-controller's release.ShortenName
# (the same in v1.4.3 and v1.6.0, internal/release/name.go) in a Go 1.26 program: names
# over 53 characters keep their first 40, then "-" and 12 hex digits of their SHA-256.
@pytest.mark.parametrize(
    ("spec", "name", "expected"),
    [
        ({}, "podinfo", "podinfo"),
        ({"targetNamespace": "web"}, "podinfo", "web-podinfo"),
        ({"targetNamespace": "web", "releaseName": "frontend"}, "podinfo", "frontend"),
        (
            {"targetNamespace": "team-payments-staging"},
            "checkout-service-postgresql-ha1",
            "team-payments-staging-checkout-service-postgresql-ha1",
        ),
        (
            {"targetNamespace": "team-payments-staging"},
            "checkout-service-postgresql-ha12",
            "team-payments-staging-checkout-service-p-51691af38a53",
        ),
        (
            {"targetNamespace": "observability-production-eu-west-1"},
            "kube-prometheus-stack",
            "observability-production-eu-west-1-kube--3bcade80b604",
        ),
    ],
)
def test_release_name_follows_flux(spec: dict[str, Any], name: str, expected: str) -> None:
    assert release(spec, name=name).release_name() == expected


def test_long_names_are_shortened_to_the_helm_limit() -> None:
    shortened = shorten_release_name("x" * 80)

    assert len(shortened) == 53
    assert shortened == shorten_release_name("x" * 80)
    assert shortened != shorten_release_name("x" * 81)


def test_release_and_storage_namespaces_default_to_the_objects_own() -> None:
    plain = release({})
    placed = release({"targetNamespace": "web", "storageNamespace": "helm-storage"})

    assert (plain.release_namespace(), plain.storage_namespace()) == ("apps", "apps")
    assert (placed.release_namespace(), placed.storage_namespace()) == ("web", "helm-storage")


def test_helpers_name_an_object_without_a_namespace() -> None:
    with pytest.raises(ValueError, match="HelmRelease podinfo has no namespace"):
        release({}, namespace="").release_namespace()


def test_the_generated_chart_lives_in_its_sources_namespace() -> None:
    source = {"kind": "HelmRepository", "name": "podinfo"}

    def chart(template: dict[str, Any]) -> ChartObjectReference:
        return release({"chartRef": None, "chart": template}).chart_reference()

    assert chart({"spec": {"chart": "podinfo", "sourceRef": source}}) == ChartObjectReference(
        "HelmChart", "apps-podinfo", "apps"
    )
    in_flux_system = {"chart": "podinfo", "sourceRef": {**source, "namespace": "flux-system"}}
    assert chart({"spec": in_flux_system}) == ChartObjectReference(
        "HelmChart", "apps-podinfo", "flux-system"
    )
    assert chart({"kind": "OCIRepository", "spec": {"url": "oci://r/c"}}) == ChartObjectReference(
        "OCIRepository", "apps-podinfo", "apps"
    )
    assert release({}).chart_name() == "apps-podinfo"


def test_a_chart_reference_defaults_to_the_objects_namespace() -> None:
    local = release({"chartRef": {"kind": "HelmChart", "name": "shared"}}).chart_reference()
    remote = release(
        {"chartRef": {"kind": "OCIRepository", "name": "c", "namespace": "flux-system"}}
    )

    assert local == ChartObjectReference("HelmChart", "shared", "apps")
    assert local.status_form() == "apps/shared"
    assert remote.chart_reference().status_form() == "OCIRepository/flux-system/c"


def test_omitted_settings_take_flux_defaults() -> None:
    plain = release({})

    assert plain.timeout() == "5m"
    assert plain.action_timeout("install") == "5m"
    assert plain.max_history() == 5
    assert plain.uses_persistent_client() is True
    assert plain.drift_detection_mode() == "disabled"
    assert plain.action_strategy("upgrade") == "RemediateOnFailure"
    assert plain.retry_interval("install") == "5m"
    assert plain.deletion_propagation() == "background"
    assert plain.chart_interval() == "5m"
    assert not plain.create_namespace()
    assert not plain.wait_disabled("install")
    assert not plain.keep_history()


def test_set_settings_win_over_defaults() -> None:
    tuned = release(
        {
            "timeout": "10m",
            "maxHistory": 0,
            "persistentClient": False,
            "upgrade": {"timeout": "20m", "disableWait": True, "force": True},
            "install": {"createNamespace": True, "strategy": {"name": "RetryOnFailure"}},
            "uninstall": {"keepHistory": True},
        }
    )

    assert tuned.timeout() == "10m"
    assert tuned.action_timeout("install") == "10m"
    assert tuned.action_timeout("upgrade") == "20m"
    assert tuned.max_history() == 0
    assert tuned.uses_persistent_client() is False
    assert tuned.wait_disabled("upgrade")
    assert tuned.upgrade_force()
    assert tuned.keep_history()
    assert tuned.action_strategy("install") == "RetryOnFailure"
    assert not tuned.create_namespace(), "only a target namespace is ever created"
    assert release(
        {"targetNamespace": "web", "install": {"createNamespace": True}}
    ).create_namespace()


def test_remediation_defaults_follow_flux() -> None:
    plain = release({})

    assert plain.install_remediation_retries() == 0
    assert plain.upgrade_remediation_retries() == 0
    assert plain.remediation_strategy("install") == "uninstall"
    assert plain.remediation_strategy("upgrade") == "rollback"
    assert not plain.remediates_last_failure("install")
    assert not plain.remediates_last_failure("upgrade")
    assert not plain.ignores_test_failures("install")


def test_remediation_settings_are_read_per_action() -> None:
    tuned = release(
        {
            "install": {"remediation": {"retries": -1}},
            "upgrade": {"remediation": {"retries": 2, "strategy": "uninstall"}},
            "test": {"ignoreFailures": True},
        }
    )

    assert tuned.install_remediation_retries() == -1
    assert tuned.upgrade_remediation_retries() == 2
    assert tuned.remediation_strategy("upgrade") == "uninstall"
    assert tuned.remediates_last_failure("upgrade"), (
        "upgrades with retries remediate the last failure"
    )
    assert tuned.ignores_test_failures("upgrade"), "test.ignoreFailures is the fallback"
    opted_out = release(
        {
            "upgrade": {
                "remediation": {
                    "retries": 2,
                    "remediateLastFailure": False,
                    "ignoreTestFailures": False,
                }
            },
            "test": {"ignoreFailures": True},
        }
    )
    assert not opted_out.remediates_last_failure("upgrade")
    assert not opted_out.ignores_test_failures("upgrade")


def test_retries_are_exhausted_only_past_the_limit() -> None:
    def exhausted(retries: int, failures: int) -> bool:
        manifest = release({"upgrade": {"remediation": {"retries": retries}}}).to_manifest()
        manifest["status"] = {"upgradeFailures": failures}
        return HelmRelease.model_validate(manifest).retries_exhausted("upgrade")

    assert not exhausted(retries=2, failures=2)
    assert exhausted(retries=2, failures=3)
    assert not exhausted(retries=-1, failures=100)
    assert exhausted(retries=0, failures=1)


def test_crds_policy_defaults_to_create_for_install_and_upgrade() -> None:
    """helm-controller (v1.4.3 to v1.6.0, internal/action/crds.go crdPolicyOrDefault) uses
    `Create` for an unset policy on install and on upgrade alike, whatever the API's doc
    comment says of upgrades, and no longer reads the deprecated `install.skipCRDs`."""
    plain = release({})
    skipping = release({"install": {"skipCRDs": True}})
    chosen = release({"install": {"crds": "Skip"}, "upgrade": {"crds": "CreateReplace"}})

    assert (plain.crds_policy("install"), plain.crds_policy("upgrade")) == ("Create", "Create")
    assert skipping.crds_policy("install") == "Create"
    assert (chosen.crds_policy("install"), chosen.crds_policy("upgrade")) == (
        "Skip",
        "CreateReplace",
    )
