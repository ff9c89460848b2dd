"""Argo CD's Application and AppProject: the models parse manifests written for Argo CD
3.x, write them back unchanged, and the generated CRDs accept them and prune nothing.

`ARGO_MANIFESTS` are written in the shape of the argocd-example-apps repository; the
integration test `test_argo_crds` applies the same manifests to a real API server.
"""

import copy
from typing import Any

import jsonschema
import pytest
import yaml

from lockstep.api.argo import (
    DEFAULT_PROJECT,
    Application,
    ApplicationSpec,
    AppProject,
    HealthStatusCode,
    OperationPhase,
    SyncStatusCode,
)
from lockstep.api.crds import crd_manifests
from lockstep.api.kinds import find_kind

GUESTBOOK = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: guestbook
  namespace: argocd
  labels: {team: web}
  finalizers: [resources-finalizer.argocd.argoproj.io]
spec:
  project: default
  source:
    repoURL: https://github.com/argoproj/argocd-example-apps.git
    targetRevision: HEAD
    path: guestbook
    directory:
      recurse: true
      include: "{*.yaml,*.yml}"
      exclude: "test-*.yaml"
      jsonnet:
        extVars: [{name: env, value: prod, code: false}]
        tlas: [{name: replicas, value: "2", code: true}]
        libs: [vendor]
  destination:
    server: https://kubernetes.default.svc
    namespace: guestbook
  syncPolicy:
    automated: {prune: true, selfHeal: true}
    syncOptions: [CreateNamespace=true, PruneLast=true]
    managedNamespaceMetadata:
      labels: {team: web}
      annotations: {owner: web-team}
  ignoreDifferences:
    - group: apps
      kind: Deployment
      jsonPointers: [/spec/replicas]
  revisionHistoryLimit: 5
  info:
    - {name: Docs, value: "https://example.com/guestbook"}
"""

KUSTOMIZE_GUESTBOOK = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: kustomize-guestbook
  namespace: argocd
spec:
  project: apps
  source:
    repoURL: https://github.com/argoproj/argocd-example-apps.git
    targetRevision: master
    path: kustomize-guestbook
    kustomize:
      namePrefix: staging-
      nameSuffix: -v2
      images: ["gcr.io/heptio-images/ks-guestbook-demo:0.2"]
      commonLabels: {env: staging}
      commonAnnotations: {team: web}
      forceCommonLabels: true
      forceCommonAnnotations: false
      labelWithoutSelector: true
      namespace: staging
      replicas:
        - {name: kustomize-guestbook-ui, count: 3}
        - {name: worker, count: "2"}
      patches:
        - target: {kind: Deployment, name: kustomize-guestbook-ui}
          patch: |-
            - op: replace
              path: /spec/template/spec/containers/0/ports/0/containerPort
              value: 443
        - path: patches/resources.yaml
          options: {allowNameChange: true}
      components: [../components/monitoring]
      version: v5.4.3
  destination: {name: in-cluster, namespace: staging}
  syncPolicy:
    automated: {prune: false, selfHeal: false, enabled: false}
    retry:
      limit: 5
      refresh: true
      backoff: {duration: 5s, factor: 2, maxDuration: 3m}
"""

HELM_GUESTBOOK = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: helm-guestbook
  namespace: argocd
spec:
  project: default
  source:
    repoURL: https://github.com/argoproj/argocd-example-apps.git
    targetRevision: HEAD
    path: helm-guestbook
    helm:
      releaseName: guestbook-prod
      valueFiles: [values.yaml, values-production.yaml]
      ignoreMissingValueFiles: true
      parameters:
        - {name: service.type, value: LoadBalancer}
        - {name: image.tag, value: "0.2", forceString: true}
      fileParameters:
        - {name: config, path: files/config.json}
      values: |
        ingress:
          enabled: true
      valuesObject:
        replicaCount: 2
        resources: {limits: {cpu: 100m}}
        tolerations: [{key: dedicated, operator: Equal, value: web}]
      skipCrds: true
      skipTests: true
      namespace: guestbook
      kubeVersion: "1.31.0"
      apiVersions: [monitoring.coreos.com/v1]
      passCredentials: false
      version: v3
  destination: {server: "https://kubernetes.default.svc", namespace: guestbook}
"""

MULTI_SOURCE = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: prometheus
  namespace: argocd
spec:
  project: default
  sources:
    - repoURL: https://prometheus-community.github.io/helm-charts
      chart: prometheus
      targetRevision: 25.27.0
      helm:
        valueFiles: [$values/charts/prometheus/values.yaml]
    - repoURL: https://github.com/acme/platform-values.git
      targetRevision: main
      ref: values
    - repoURL: https://github.com/acme/platform-values.git
      targetRevision: main
      path: extras
      name: extras
      plugin:
        name: envsubst
        env: [{name: CLUSTER, value: prod}]
        parameters: [{name: mode, string: strict}]
  destination: {server: "https://kubernetes.default.svc", namespace: monitoring}
  syncPolicy:
    syncOptions: [ServerSideApply=true, RespectIgnoreDifferences=true]
  ignoreDifferences:
    - group: admissionregistration.k8s.io
      kind: MutatingWebhookConfiguration
      jqPathExpressions: [".webhooks[]?.clientConfig.caBundle"]
      managedFieldsManagers: [kube-controller-manager]
"""

APP_OF_APPS = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: apps
  namespace: argocd
  finalizers: [resources-finalizer.argocd.argoproj.io]
spec:
  project: default
  source:
    repoURL: https://github.com/argoproj/argocd-example-apps.git
    targetRevision: HEAD
    path: apps
    helm:
      parameters:
        - {name: spec.destination.server, value: "https://kubernetes.default.svc"}
  destination: {server: "https://kubernetes.default.svc", namespace: argocd}
  syncPolicy:
    automated: {}
"""

SYNCED = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: guestbook-synced
  namespace: argocd
spec:
  project: default
  source:
    repoURL: https://github.com/argoproj/argocd-example-apps.git
    targetRevision: HEAD
    path: guestbook
  destination: {server: "https://kubernetes.default.svc", namespace: guestbook}
  sourceHydrator:
    drySource: {repoURL: "https://github.com/acme/dry.git", targetRevision: HEAD, path: app}
    syncSource: {targetBranch: env/prod, path: app}
operation:
  initiatedBy: {username: admin}
  info: [{name: Reason, value: hotfix}]
  retry: {limit: 2}
  sync:
    revision: 53e28ff20cc530b9ada2173fbbd64d48338583ba
    prune: true
    dryRun: false
    syncOptions: [Replace=true]
    syncStrategy: {hook: {force: true}}
    autoHealAttemptsCount: 1
    resources:
      - {group: apps, kind: Deployment, name: guestbook-ui, namespace: guestbook}
      - {kind: Service, name: guestbook-ui}
status:
  sync:
    status: Synced
    revision: 53e28ff20cc530b9ada2173fbbd64d48338583ba
    comparedTo:
      source:
        repoURL: https://github.com/argoproj/argocd-example-apps.git
        targetRevision: HEAD
        path: guestbook
      destination: {server: "https://kubernetes.default.svc", namespace: guestbook}
      ignoreDifferences:
        - {group: apps, kind: Deployment, jsonPointers: [/spec/replicas]}
  health: {status: Healthy}
  resources:
    - {version: v1, kind: Service, namespace: guestbook, name: guestbook-ui, status: Synced,
       health: {status: Healthy}}
    - {group: apps, version: v1, kind: Deployment, namespace: guestbook, name: guestbook-ui,
       status: Synced, health: {status: Healthy}, syncWave: 1}
    - {group: batch, version: v1, kind: Job, namespace: guestbook, name: migrate,
       status: OutOfSync, hook: true, requiresPruning: false}
  operationState:
    phase: Succeeded
    message: successfully synced (all tasks run)
    startedAt: "2026-01-01T10:00:00Z"
    finishedAt: "2026-01-01T10:00:05Z"
    retryCount: 0
    operation:
      sync: {revision: 53e28ff20cc530b9ada2173fbbd64d48338583ba, prune: true}
      initiatedBy: {automated: true}
      retry: {limit: 5, backoff: {duration: 5s, factor: 2, maxDuration: 3m}}
    syncResult:
      revision: 53e28ff20cc530b9ada2173fbbd64d48338583ba
      source:
        repoURL: https://github.com/argoproj/argocd-example-apps.git
        targetRevision: HEAD
        path: guestbook
      resources:
        - {group: "", version: v1, kind: Service, namespace: guestbook, name: guestbook-ui,
           status: Synced, message: service/guestbook-ui created, syncPhase: Sync}
        - {group: batch, version: v1, kind: Job, namespace: guestbook, name: migrate,
           status: Synced, message: job completed, hookPhase: Succeeded, hookType: PreSync,
           syncPhase: PreSync}
  history:
    - id: 0
      revision: 53e28ff20cc530b9ada2173fbbd64d48338583ba
      deployedAt: "2026-01-01T10:00:05Z"
      deployStartedAt: "2026-01-01T10:00:00Z"
      source:
        repoURL: https://github.com/argoproj/argocd-example-apps.git
        targetRevision: HEAD
        path: guestbook
      initiatedBy: {automated: true}
  conditions:
    - {type: SyncError, message: one hook failed once, lastTransitionTime: "2026-01-01T09:59:00Z"}
  reconciledAt: "2026-01-01T10:02:00Z"
  sourceType: Directory
  summary:
    images: [gcr.io/heptio-images/ks-guestbook-demo:0.2]
    externalURLs: ["http://guestbook.example.com"]
  controllerNamespace: argocd
  sourceHydrator:
    currentOperation: {phase: Hydrated, drySHA: 53e28ff2}
"""

APP_PROJECT = """\
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata:
  name: apps
  namespace: argocd
  finalizers: [resources-finalizer.argocd.argoproj.io]
spec:
  description: Team applications
  sourceRepos:
    - "https://github.com/argoproj/*"
    - "!https://github.com/argoproj/secret-*"
  destinations:
    - {server: "https://kubernetes.default.svc", namespace: "team-*"}
    - {name: in-cluster, namespace: "!kube-system"}
  clusterResourceWhitelist: [{group: "", kind: Namespace}]
  clusterResourceBlacklist: [{group: rbac.authorization.k8s.io, kind: "*"}]
  namespaceResourceWhitelist: [{group: "*", kind: "*"}]
  namespaceResourceBlacklist:
    - {group: "", kind: ResourceQuota}
    - {group: "", kind: LimitRange}
  roles:
    - name: ci
      description: CI may sync
      policies: ["p, proj:apps:ci, applications, sync, apps/*, allow"]
      groups: ["acme:ci"]
      jwtTokens: [{iat: 1700000000, id: token-1}]
  syncWindows:
    - kind: allow
      schedule: "10 1 * * *"
      duration: 1h
      applications: ["*-prod"]
      manualSync: true
      timeZone: Europe/Paris
    - kind: deny
      schedule: "0 22 * * *"
      duration: 8h
      namespaces: [default]
      clusters: [in-cluster]
  orphanedResources:
    warn: true
    ignore: [{group: "", kind: ConfigMap, name: kube-root-ca.crt}]
  sourceNamespaces: ["team-*"]
  signatureKeys: [{keyID: 4AEE18F83AFDEB23}]
  permitOnlyProjectScopedClusters: false
  destinationServiceAccounts:
    - server: "https://kubernetes.default.svc"
      namespace: "team-*"
      defaultServiceAccount: "argocd:deployer"
status:
  jwtTokensByRole:
    ci: {items: [{iat: 1700000000, id: token-1}]}
"""

ARGO_MANIFESTS = {
    "guestbook": GUESTBOOK,
    "kustomize-guestbook": KUSTOMIZE_GUESTBOOK,
    "helm-guestbook": HELM_GUESTBOOK,
    "multi-source": MULTI_SOURCE,
    "app-of-apps": APP_OF_APPS,
    "synced": SYNCED,
    "app-project": APP_PROJECT,
}
"""Manifests as they are written for Argo CD 3.x, by sample name."""


def manifest(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(ARGO_MANIFESTS[name])
    return loaded


def application(name: str) -> Application:
    return Application.model_validate(manifest(name))


def crd_schema(kind: str) -> dict[str, Any]:
    """The openAPIV3Schema the API server validates and prunes objects of `kind` with."""
    [crd] = [crd for crd in crd_manifests() if crd["spec"]["names"]["kind"] == kind]
    [version] = crd["spec"]["versions"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def pruned(value: Any, schema: dict[str, Any]) -> Any:
    """`value` as the API server stores it: fields the structural schema neither declares
    nor preserves are dropped, at every level."""
    if isinstance(value, list) and "items" in schema:
        return [pruned(item, schema["items"]) for item in value]
    if not isinstance(value, dict) or schema.get("type") != "object":
        return value
    if schema.get("x-kubernetes-preserve-unknown-fields") and "properties" not in schema:
        return value
    kept = {}
    for key, item in value.items():
        if key in schema.get("properties", {}):
            kept[key] = pruned(item, schema["properties"][key])
        elif isinstance(schema.get("additionalProperties"), dict):
            kept[key] = pruned(item, schema["additionalProperties"])
        elif schema.get("x-kubernetes-preserve-unknown-fields"):
            kept[key] = item
    return kept


def validation_errors(obj: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(crd_schema(obj["kind"]))
    return [f"{list(error.path)}: {error.message}" for error in validator.iter_errors(obj)]


@pytest.mark.parametrize("name", ARGO_MANIFESTS)
def test_each_manifest_round_trips_through_its_model(name: str) -> None:
    written = manifest(name)
    info = find_kind(written["apiVersion"], written["kind"])
    assert info.model is not None

    parsed = info.model.model_validate(copy.deepcopy(written))

    assert parsed.to_manifest() == written


@pytest.mark.parametrize("name", ARGO_MANIFESTS)
def test_each_manifest_is_accepted_by_the_generated_crd(name: str) -> None:
    assert validation_errors(manifest(name)) == []


@pytest.mark.parametrize("name", ARGO_MANIFESTS)
def test_the_generated_crd_prunes_no_field_of_any_manifest(name: str) -> None:
    written = manifest(name)
    # The API server keeps metadata by its own rules, whatever the CRD says of it.
    without_metadata = {key: value for key, value in written.items() if key != "metadata"}

    assert pruned(without_metadata, crd_schema(written["kind"])) == without_metadata


def test_the_pruning_check_drops_what_a_closed_schema_does_not_declare() -> None:
    """The check is worth something: on a schema that keeps no undeclared field, it prunes."""
    kustomization = [
        crd for crd in crd_manifests() if crd["spec"]["names"]["kind"] == "Kustomization"
    ]
    schema = kustomization[0]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    obj = {"spec": {"path": "./apps", "notAFluxField": 1, "postBuild": {"substitute": {"a": "b"}}}}

    assert pruned(obj, schema) == {
        "spec": {"path": "./apps", "postBuild": {"substitute": {"a": "b"}}}
    }


def test_a_single_source_application_is_typed() -> None:
    app = application("helm-guestbook")
    assert app.spec.source is not None
    helm = app.spec.source.helm
    assert helm is not None

    assert app.spec.source.repo_url == "https://github.com/argoproj/argocd-example-apps.git"
    assert helm.value_files == ["values.yaml", "values-production.yaml"]
    assert [(p.name, p.value, p.force_string) for p in helm.parameters] == [
        ("service.type", "LoadBalancer", None),
        ("image.tag", "0.2", True),
    ]
    assert helm.values_object == {
        "replicaCount": 2,
        "resources": {"limits": {"cpu": "100m"}},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "web"}],
    }
    assert helm.skip_crds is True
    assert helm.file_parameters[0].path == "files/config.json"
    assert app.spec.destination.server == "https://kubernetes.default.svc"


def test_kustomize_settings_are_typed_and_replica_counts_keep_their_form() -> None:
    source = application("kustomize-guestbook").spec.effective_sources()[0]
    kustomize = source.kustomize
    assert kustomize is not None

    assert kustomize.name_prefix == "staging-"
    assert kustomize.common_labels == {"env": "staging"}
    assert [(replica.name, replica.count) for replica in kustomize.replicas] == [
        ("kustomize-guestbook-ui", 3),
        ("worker", "2"),
    ]
    assert kustomize.patches[0].target is not None
    assert kustomize.patches[0].target.kind == "Deployment"
    assert kustomize.patches[1].options == {"allowNameChange": True}


@pytest.mark.parametrize(
    ("name", "repositories"),
    [
        ("guestbook", ["https://github.com/argoproj/argocd-example-apps.git"]),
        (
            "multi-source",
            [
                "https://prometheus-community.github.io/helm-charts",
                "https://github.com/acme/platform-values.git",
                "https://github.com/acme/platform-values.git",
            ],
        ),
    ],
)
def test_the_sources_are_listed_whether_source_or_sources_is_used(
    name: str, repositories: list[str]
) -> None:
    sources = application(name).spec.effective_sources()

    assert [source.repo_url for source in sources] == repositories


def test_sources_take_precedence_over_source_and_none_gives_no_source() -> None:
    multi = manifest("multi-source")
    multi["spec"]["source"] = {"repoURL": "https://example.com/ignored.git", "path": "."}
    bare = ApplicationSpec.model_validate({"destination": {"name": "in-cluster"}})

    assert len(Application.model_validate(multi).spec.effective_sources()) == 3
    assert bare.effective_sources() == []


def test_a_multi_source_application_names_its_values_reference() -> None:
    chart, values, extras = application("multi-source").spec.effective_sources()

    assert chart.chart == "prometheus"
    assert chart.helm is not None
    assert chart.helm.value_files == ["$values/charts/prometheus/values.yaml"]
    assert (values.ref, values.path) == ("values", None)
    assert extras.plugin is not None
    assert extras.plugin.name == "envsubst"


@pytest.mark.parametrize(
    ("name", "automated"),
    [
        ("guestbook", True),
        ("app-of-apps", True),
        ("kustomize-guestbook", False),
        ("multi-source", False),
        ("helm-guestbook", False),
    ],
)
def test_automated_sync_is_on_when_automated_is_present_and_not_disabled(
    name: str, automated: bool
) -> None:
    assert application(name).spec.automated_sync is automated


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("guestbook", ["CreateNamespace=true", "PruneLast=true"]),
        ("multi-source", ["ServerSideApply=true", "RespectIgnoreDifferences=true"]),
        ("kustomize-guestbook", []),
        ("helm-guestbook", []),
    ],
)
def test_sync_options_are_a_list_even_without_a_sync_policy(name: str, options: list[str]) -> None:
    assert application(name).spec.sync_options == options


def test_the_project_is_default_when_omitted_and_kept_out_of_the_manifest() -> None:
    written = manifest("guestbook")
    del written["spec"]["project"]

    app = Application.model_validate(written)

    assert app.spec.project == DEFAULT_PROJECT == "default"
    assert "project" not in app.to_manifest()["spec"]


def test_an_operation_and_the_status_argo_cd_writes_are_typed() -> None:
    app = application("synced")
    assert app.operation is not None
    assert app.operation.sync is not None
    assert app.status is not None
    assert app.status.sync is not None
    assert app.status.health is not None
    assert app.status.operation_state is not None
    assert app.status.operation_state.sync_result is not None
    assert app.status.summary is not None

    assert app.operation.sync.prune is True
    assert [resource.kind for resource in app.operation.sync.resources] == ["Deployment", "Service"]
    assert app.status.sync.status == SyncStatusCode.SYNCED
    assert app.status.health.status == HealthStatusCode.HEALTHY
    assert app.status.operation_state.phase == OperationPhase.SUCCEEDED
    assert app.status.operation_state.started_at is not None
    assert app.status.operation_state.started_at.isoformat() == "2026-01-01T10:00:00+00:00"
    hook = app.status.operation_state.sync_result.resources[1]
    assert (hook.hook_type, hook.hook_phase, hook.sync_phase) == ("PreSync", "Succeeded", "PreSync")
    assert app.status.resources[1].sync_wave == 1
    assert app.status.history[0].id == 0
    assert app.status.summary.external_urls == ["http://guestbook.example.com"]


def test_fields_lockstep_does_not_model_are_kept_where_they_were() -> None:
    app = application("synced")
    assert app.operation is not None
    assert app.operation.sync is not None
    assert app.operation.sync.sync_strategy is not None

    assert app.spec.model_extra is not None
    assert app.spec.model_extra["sourceHydrator"]["syncSource"] == {
        "targetBranch": "env/prod",
        "path": "app",
    }
    assert app.operation.sync.model_extra == {"autoHealAttemptsCount": 1}
    assert app.operation.sync.sync_strategy.model_extra == {"hook": {"force": True}}
    dumped = app.to_manifest()
    assert dumped["status"]["sourceHydrator"] == {
        "currentOperation": {"phase": "Hydrated", "drySHA": "53e28ff2"}
    }


def test_an_app_project_is_typed_with_its_negations_and_windows() -> None:
    project = AppProject.model_validate(manifest("app-project"))
    spec = project.spec
    assert spec.orphaned_resources is not None

    assert spec.source_repos[1] == "!https://github.com/argoproj/secret-*"
    assert [(d.server, d.name, d.namespace) for d in spec.destinations] == [
        ("https://kubernetes.default.svc", None, "team-*"),
        (None, "in-cluster", "!kube-system"),
    ]
    assert [(gk.group, gk.kind) for gk in spec.cluster_resource_whitelist] == [("", "Namespace")]
    assert [(w.kind, w.schedule, w.duration, w.manual_sync) for w in spec.sync_windows] == [
        ("allow", "10 1 * * *", "1h", True),
        ("deny", "0 22 * * *", "8h", None),
    ]
    assert spec.sync_windows[0].time_zone == "Europe/Paris"
    assert spec.orphaned_resources.warn is True
    assert spec.signature_keys[0].key_id == "4AEE18F83AFDEB23"
    assert spec.destination_service_accounts[0].default_service_account == "argocd:deployer"
    assert spec.roles[0].name == "ci"
    assert spec.roles[0].model_extra is not None
    assert spec.roles[0].model_extra["policies"] == [
        "p, proj:apps:ci, applications, sync, apps/*, allow"
    ]


@pytest.mark.parametrize(
    ("name", "change", "where"),
    [
        ("guestbook", lambda spec: spec.pop("destination"), "['spec']: 'destination' is"),
        (
            "helm-guestbook",
            lambda spec: spec["source"]["helm"]["parameters"][0].update(value={"a": 1}),
            "['spec', 'source', 'helm', 'parameters', 0, 'value']",
        ),
        (
            "kustomize-guestbook",
            lambda spec: spec["source"]["kustomize"]["replicas"][0].pop("count"),
            "['spec', 'source', 'kustomize', 'replicas', 0]",
        ),
        (
            "guestbook",
            lambda spec: spec["syncPolicy"].update(syncOptions="CreateNamespace=true"),
            "['spec', 'syncPolicy', 'syncOptions']",
        ),
        (
            "app-project",
            lambda spec: spec["clusterResourceWhitelist"][0].pop("group"),
            "['spec', 'clusterResourceWhitelist', 0]",
        ),
        (
            "synced",
            lambda spec: spec.update(revisionHistoryLimit="ten"),
            "['spec', 'revisionHistoryLimit']",
        ),
    ],
)
def test_manifests_outside_argo_cds_api_are_rejected(name: str, change: Any, where: str) -> None:
    written = manifest(name)
    change(written["spec"])

    [error] = validation_errors(written)
    assert error.startswith(where)


def test_a_wrong_operation_is_rejected_too() -> None:
    written = manifest("synced")
    written["operation"]["sync"]["prune"] = "yes"

    assert validation_errors(written) == [
        "['operation', 'sync', 'prune']: 'yes' is not of type 'boolean'"
    ]
