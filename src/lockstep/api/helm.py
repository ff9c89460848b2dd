"""Models of helm.toolkit.fluxcd.io: the HelmRelease, at v2 as Flux's helm-controller v1.7 serves it.

The HelmRelease controller reads the spec to find the chart, compose the values and
run Helm's install, upgrade, test, rollback and uninstall actions, and writes the
status with the release history. The helper methods of `HelmRelease` turn the
optional fields into the values Flux's controller uses when they are omitted, so
that every caller applies the same defaults. `kinds` registers the kind.

Flux's CRD also carries CEL rules (`x-kubernetes-validations`) that a generated
schema cannot state; the model validators below check the same rules when an
object is parsed.
"""

import hashlib
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Self, cast

from pydantic import Field, StringConstraints, model_validator

from lockstep.api.kustomize import (
    CommonMetadata,
    DriftIgnoreRule,
    Image,
    KubeConfigReference,
    Patch,
    ResourceInventory,
)
from lockstep.api.meta import (
    ApiModel,
    ApiObject,
    Duration,
    LocalObjectReference,
    ObjectStatus,
    Timestamp,
    server_default,
)
from lockstep.api.source import (
    OCILayerSelector,
    OCIProvider,
    OCIRepositoryRef,
    OCIRepositoryVerification,
)

HelmAction = Literal["install", "upgrade", "test", "rollback", "uninstall"]
"""The Helm actions whose behaviour a HelmRelease configures."""

ReleaseAction = Literal["install", "upgrade"]
"""The actions that make a new release revision, each with its own remediation."""

CrdsPolicy = Literal["Skip", "Create", "CreateReplace"]
"""What to do with the CRDs of a chart's `crds/` folder: nothing, create the missing
ones, or create the missing ones and replace the existing ones. None is ever deleted."""

ActionStrategyName = Literal["RemediateOnFailure", "RetryOnFailure"]
"""What follows a failed install or upgrade: remediation, or a plain retry later."""

RemediationStrategy = Literal["rollback", "uninstall"]
"""How a failed release is remediated."""

ServerSideApplyMode = Literal["enabled", "disabled", "auto"]
"""Whether upgrade and rollback apply with server-side apply; `auto` keeps what the
previous revision used."""

DriftDetectionMode = Literal["enabled", "warn", "disabled"]
"""Whether drift from the stored release is corrected, only reported, or not looked for."""

Name = Annotated[str, StringConstraints(min_length=1, max_length=253)]
"""A Kubernetes object name."""

NamespaceName = Annotated[str, StringConstraints(min_length=1, max_length=63)]
"""A Kubernetes namespace name."""

SOURCE_TIMEOUT_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$"
"""A source timeout as Flux's OCIRepository accepts it: like `Duration`, without hours."""

RELEASE_NAME_MAX_LENGTH = 53
"""Longest release name Helm accepts; longer names Flux composes are shortened."""

RELEASE_NAME_HASH_LENGTH = 12
"""Hex digits of the SHA-256 of the full name that end a shortened release name."""

DEFAULT_TIMEOUT = "5m"
"""Time limit of each Kubernetes operation of a Helm action when `spec.timeout` is unset."""

DEFAULT_MAX_HISTORY = 5
"""Release revisions kept in storage when `spec.maxHistory` is unset."""

DEFAULT_RETRY_INTERVAL = "5m"
"""Wait before retrying a failed install or upgrade under `RetryOnFailure`."""

DEFAULT_CRDS_POLICY: CrdsPolicy = "Create"
"""CRD policy of install and upgrade when `crds` is unset, as Flux's controller applies it."""

DEFAULT_VALUES_KEY = "values.yaml"
"""Data key of a values reference when `valuesKey` is unset."""


def shorten_release_name(name: str) -> str:
    """`name`, or for a name over 53 characters its first 40 characters, a dash and the
    first 12 hex digits of the SHA-256 of the whole name: Flux's rule, so that a long
    `<targetNamespace>-<name>` still names a valid, stable Helm release."""
    if len(name) <= RELEASE_NAME_MAX_LENGTH:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:RELEASE_NAME_HASH_LENGTH]
    return f"{name[: RELEASE_NAME_MAX_LENGTH - RELEASE_NAME_HASH_LENGTH - 1]}-{digest}"


def _has(model: ApiModel, field: str) -> bool:
    """Whether `field` was written on `model`, as CEL's `has()` sees a stored object."""
    return field in model.model_fields_set and getattr(model, field) is not None


class ChartSourceReference(ApiModel):
    """The source a generated HelmChart takes its chart from."""

    api_version: str | None = None
    """Group and version of the source."""

    kind: Literal["HelmRepository", "GitRepository", "Bucket"]
    """Kind of the source."""

    name: Name
    """Name of the source."""

    namespace: NamespaceName | None = None
    """Namespace of the source, where the HelmChart is created; the HelmRelease's
    namespace when omitted."""


class ChartVerification(OCIRepositoryVerification):
    """How to verify the signature of a chart pulled from an OCI registry."""

    trusted_root_secret_ref: LocalObjectReference | None = None
    """Secret with a Sigstore `trusted_root.json`, for verifying against a self-hosted
    Sigstore (own Fulcio CA or Rekor)."""


class HelmChartTemplateMetadata(ApiModel):
    """Labels and annotations of the generated chart object."""

    labels: dict[str, str] = Field(default_factory=dict)
    """Labels of the generated object."""

    annotations: dict[str, str] = Field(default_factory=dict)
    """Annotations of the generated object."""


class HelmChartTemplateSpec(ApiModel):
    """The spec of the generated chart object: the fields of a HelmChart, or with
    `kind: OCIRepository` those of an OCIRepository."""

    chart: Annotated[str, StringConstraints(min_length=1, max_length=2048)] | None = None
    """Name of the chart in a HelmRepository, or its path in a GitRepository or Bucket."""

    version: str | None = None
    """SemVer range of the chart version; the highest match is used, `*` when omitted.
    Ignored for charts from a GitRepository or Bucket."""

    source_ref: ChartSourceReference | None = None
    """The source of a generated HelmChart."""

    reconcile_strategy: Literal["ChartVersion", "Revision"] | None = None
    """When a generated HelmChart makes a new artifact: on a new chart version
    (`ChartVersion`, the default) or on any new source revision."""

    values_files: list[str] = Field(default_factory=list)
    """Values files of the chart merged in order in place of its values.yaml."""

    ignore_missing_values_files: bool = False
    """Whether a values file the chart lacks is skipped rather than an error."""

    url: Annotated[str, StringConstraints(pattern=r"^oci://.*$")] | None = None
    """Address of the chart's OCI repository, for a generated OCIRepository."""

    ref: OCIRepositoryRef | None = None
    """The OCI artifact to pull; the `latest` tag when omitted."""

    layer_selector: OCILayerSelector | None = None
    """Which layer of the OCI artifact holds the chart; the first one when omitted."""

    provider: OCIProvider | None = None
    """Where registry credentials come from; `generic` when omitted."""

    secret_ref: LocalObjectReference | None = None
    """Secret with registry credentials, of type `kubernetes.io/dockerconfigjson`."""

    verify: ChartVerification | None = None
    """Signature verification of a chart from an OCI registry."""

    service_account_name: str | None = None
    """ServiceAccount whose pull secrets or cloud identity authenticate the pull."""

    cert_secret_ref: LocalObjectReference | None = None
    """Secret with a client certificate (`tls.crt`, `tls.key`) and/or CA (`ca.crt`)."""

    proxy_secret_ref: LocalObjectReference | None = None
    """Secret with the proxy to reach the registry through."""

    interval: Duration | None = None
    """How often the generated object checks for a new chart; `spec.interval` when omitted."""

    timeout: Annotated[str, StringConstraints(pattern=SOURCE_TIMEOUT_PATTERN)] | None = None
    """Time limit of registry operations of a generated OCIRepository."""

    ignore: str | None = None
    """Paths to leave out of an OCIRepository artifact, in .gitignore syntax."""

    insecure: bool = False
    """Whether the registry is reached over plain HTTP."""

    suspend: bool = False
    """Whether the generated object's reconciliation is paused."""

    def effective_version(self) -> str:
        """The chart version range, `*` when omitted."""
        return self.version or "*"

    def effective_reconcile_strategy(self) -> Literal["ChartVersion", "Revision"]:
        """The reconcile strategy of a generated HelmChart, `ChartVersion` when omitted."""
        return self.reconcile_strategy or "ChartVersion"


class HelmChartTemplate(ApiModel):
    """The chart object the controller creates and keeps in step for a HelmRelease."""

    kind: Literal["HelmChart", "OCIRepository"] | None = None
    """Kind of the generated object; a HelmChart when omitted. An OCIRepository needs
    `spec.url` and takes none of the HelmChart fields."""

    metadata: HelmChartTemplateMetadata | None = None
    """Labels and annotations of the generated object."""

    spec: HelmChartTemplateSpec
    """Spec of the generated object."""

    @model_validator(mode="after")
    def _fields_of_the_generated_kind(self) -> Self:
        spec = self.spec
        if self.kind != "OCIRepository":
            if _has(spec, "url"):
                raise ValueError("chart.spec.url requires chart.kind: OCIRepository")
            if not (_has(spec, "chart") and _has(spec, "source_ref")):
                raise ValueError("chart.spec.chart and chart.spec.sourceRef must be set")
            return self
        if not spec.url:
            raise ValueError("chart.spec.url must be set when chart.kind is OCIRepository")
        helm_chart_only = {
            "chart": _has(spec, "chart"),
            "sourceRef": _has(spec, "source_ref"),
            "version": _has(spec, "version") and spec.version != "*",
            "reconcileStrategy": _has(spec, "reconcile_strategy")
            and spec.reconcile_strategy != "ChartVersion",
            "valuesFiles": "values_files" in spec.model_fields_set,
            "ignoreMissingValuesFiles": "ignore_missing_values_files" in spec.model_fields_set,
        }
        misplaced = [name for name, used in helm_chart_only.items() if used]
        if misplaced:
            raise ValueError(
                f"chart.spec.{misplaced[0]} cannot be set when chart.kind is OCIRepository"
            )
        return self


class ChartReference(ApiModel):
    """An existing source object that holds the chart."""

    api_version: str | None = None
    """Group and version of the object."""

    kind: Literal["OCIRepository", "HelmChart", "ExternalArtifact"]
    """Kind of the object."""

    name: Name
    """Name of the object."""

    namespace: NamespaceName | None = None
    """Namespace of the object; the HelmRelease's namespace when omitted."""


class ReleaseDependency(ApiModel):
    """A HelmRelease that must be ready before this one is reconciled."""

    name: str
    """Name of the HelmRelease."""

    namespace: str | None = None
    """Namespace of the HelmRelease; this one's namespace when omitted."""

    ready_expr: str | None = None
    """CEL expression over `self` and `dep` that decides readiness instead of the
    built-in check."""


class ActionStrategy(ApiModel):
    """What the controller does after a failed install or upgrade."""

    name: ActionStrategyName
    """`RemediateOnFailure` runs the remediation; `RetryOnFailure` tries the action again
    after `retryInterval`, without remediation."""

    retry_interval: Duration | None = None
    """Wait before the retry, `5m` when omitted; only with `RetryOnFailure`."""

    @model_validator(mode="after")
    def _interval_only_for_retries(self) -> Self:
        if self.retry_interval is not None and self.name != "RetryOnFailure":
            raise ValueError("retryInterval can only be set when name is RetryOnFailure")
        return self


class InstallRemediation(ApiModel):
    """What to do when an install fails: uninstall, then retry."""

    retries: int = 0
    """Attempts after the first failure, each after an uninstall; negative means no limit."""

    ignore_test_failures: bool | None = None
    """Whether failed tests after an install are left unremediated; `test.ignoreFailures`
    when omitted."""

    remediate_last_failure: bool | None = None
    """Whether the last failure is remediated too, once no retries remain; false when omitted."""


class UpgradeRemediation(ApiModel):
    """What to do when an upgrade fails: roll back or uninstall, then retry."""

    retries: int = 0
    """Attempts after the first failure, each after a remediation; negative means no limit."""

    ignore_test_failures: bool | None = None
    """Whether failed tests after an upgrade are left unremediated; `test.ignoreFailures`
    when omitted."""

    remediate_last_failure: bool | None = None
    """Whether the last failure is remediated too, once no retries remain; when omitted,
    true if `retries` is above zero."""

    strategy: RemediationStrategy | None = None
    """How to remediate; `rollback` when omitted."""


class Install(ApiModel):
    """How Helm installs the release."""

    timeout: Duration | None = None
    """Time limit of each Kubernetes operation of the install; `spec.timeout` when omitted."""

    strategy: ActionStrategy | None = None
    """What follows a failed install; `RemediateOnFailure` when omitted."""

    remediation: InstallRemediation | None = None
    """Remediation of a failed install; none when omitted."""

    disable_take_ownership: bool = False
    """Whether existing objects are left unowned instead of adopted by the release."""

    disable_wait: bool = False
    """Whether to skip waiting for the installed objects to become ready."""

    disable_wait_for_jobs: bool = False
    """Whether to skip waiting for Jobs to complete."""

    disable_hooks: bool = False
    """Whether the chart's hooks are skipped."""

    disable_open_api_validation: bool = Field(default=False, alias="disableOpenAPIValidation")
    """Whether rendered objects are not validated against the cluster's OpenAPI schema."""

    disable_schema_validation: bool = False
    """Whether values are not validated against the chart's JSON schema."""

    replace: bool = False
    """Whether the release name of an uninstalled release kept in history may be reused."""

    skip_crds: bool = Field(default=False, alias="skipCRDs")
    """Deprecated in favour of `crds: Skip`; Flux's controller no longer reads it."""

    crds: CrdsPolicy | None = None
    """What to do with the chart's CRDs; `Create` when omitted."""

    create_namespace: bool = False
    """Whether `spec.targetNamespace` is created when missing; it is never deleted."""

    server_side_apply: bool | None = None
    """Whether objects are applied with server-side apply; true when omitted."""


class Upgrade(ApiModel):
    """How Helm upgrades the release."""

    timeout: Duration | None = None
    """Time limit of each Kubernetes operation of the upgrade; `spec.timeout` when omitted."""

    strategy: ActionStrategy | None = None
    """What follows a failed upgrade; `RemediateOnFailure` when omitted."""

    remediation: UpgradeRemediation | None = None
    """Remediation of a failed upgrade; none when omitted."""

    disable_take_ownership: bool = False
    """Whether existing objects are left unowned instead of adopted by the release."""

    disable_wait: bool = False
    """Whether to skip waiting for the upgraded objects to become ready."""

    disable_wait_for_jobs: bool = False
    """Whether to skip waiting for Jobs to complete."""

    disable_hooks: bool = False
    """Whether the chart's hooks are skipped."""

    disable_open_api_validation: bool = Field(default=False, alias="disableOpenAPIValidation")
    """Whether rendered objects are not validated against the cluster's OpenAPI schema."""

    disable_schema_validation: bool = False
    """Whether values are not validated against the chart's JSON schema."""

    force: bool = False
    """Whether objects are replaced rather than patched with client-side apply; no
    effect with server-side apply."""

    preserve_values: bool = False
    """Whether the previous release's values are reused, with `values` merged over them."""

    cleanup_on_fail: bool = False
    """Whether objects created by a failed upgrade are deleted."""

    crds: CrdsPolicy | None = None
    """What to do with the chart's CRDs; `Create` when omitted, as Flux's controller does."""

    server_side_apply: ServerSideApplyMode | None = None
    """Whether objects are applied with server-side apply; `auto` when omitted."""

    chart_name_change_strategy: Literal["InPlaceUpdate", "Reinstall"] | None = None
    """What a new chart name leads to: an upgrade in place, or an uninstall and install
    (`Reinstall`, the default)."""


class ReleaseTestFilter(ApiModel):
    """A test to run or leave out."""

    name: Name
    """Name of the test."""

    exclude: bool = False
    """Whether the named test is left out instead of run."""


class ReleaseTests(ApiModel):
    """Whether and how Helm's tests run after an install or upgrade."""

    enable: bool = False
    """Whether the chart's tests run."""

    timeout: Duration | None = None
    """Time limit of each Kubernetes operation of the tests; `spec.timeout` when omitted."""

    ignore_failures: bool = False
    """Whether failed tests are left unremediated; the remediations can say otherwise."""

    filters: list[ReleaseTestFilter] = Field(default_factory=list)
    """Tests to run or leave out; all of them when empty."""


class Rollback(ApiModel):
    """How Helm rolls the release back, when that remediates a failed upgrade."""

    timeout: Duration | None = None
    """Time limit of each Kubernetes operation of the rollback; `spec.timeout` when omitted."""

    disable_wait: bool = False
    """Whether to skip waiting for the rolled back objects to become ready."""

    disable_wait_for_jobs: bool = False
    """Whether to skip waiting for Jobs to complete."""

    disable_hooks: bool = False
    """Whether the chart's hooks are skipped."""

    recreate: bool = False
    """Deprecated: pods are no longer restarted; setting it only warns."""

    force: bool = False
    """Whether objects are replaced rather than patched with client-side apply; no
    effect with server-side apply."""

    cleanup_on_fail: bool = False
    """Whether objects created by a failed rollback are deleted."""

    server_side_apply: ServerSideApplyMode | None = None
    """Whether objects are applied with server-side apply; `auto` when omitted."""


class Uninstall(ApiModel):
    """How Helm uninstalls the release, on deletion or as remediation."""

    timeout: Duration | None = None
    """Time limit of each Kubernetes operation of the uninstall; `spec.timeout` when omitted."""

    disable_hooks: bool = False
    """Whether the chart's hooks are skipped."""

    keep_history: bool = False
    """Whether the release's revisions are kept in storage, marked uninstalled."""

    disable_wait: bool = False
    """Whether to skip waiting for the objects to be gone."""

    deletion_propagation: Literal["background", "foreground", "orphan"] = server_default(
        "background"
    )
    """How the deletion of the release's objects propagates to their dependents."""


class ValuesReference(ApiModel):
    """A ConfigMap or Secret key holding values, in the HelmRelease's namespace."""

    kind: Literal["Secret", "ConfigMap"]
    """Kind of the object."""

    name: Name
    """Name of the object."""

    values_key: (
        Annotated[str, StringConstraints(max_length=253, pattern=r"^[\-._a-zA-Z0-9]+$")] | None
    ) = None
    """Data key holding a values document, or a single value with `targetPath`;
    `values.yaml` when omitted."""

    target_path: (
        Annotated[
            str,
            StringConstraints(max_length=250, pattern=r"^([a-zA-Z0-9_\-.\\\/]|\[[0-9]{1,5}\])+$"),
        ]
        | None
    ) = None
    """Dotted path (Helm's `--set` syntax) at which the single value is merged; the
    values' root when omitted."""

    optional: bool = False
    """Whether a missing object or key is ignored; other errors still fail."""

    literal: bool = False
    """With `targetPath`, whether the value is set as it is (`--set-literal`) instead
    of parsed as `--set` syntax."""

    def effective_values_key(self) -> str:
        """The data key to read, `values.yaml` when omitted."""
        return self.values_key or DEFAULT_VALUES_KEY


class DriftDetection(ApiModel):
    """Whether objects that differ from the stored release are looked for and corrected."""

    mode: DriftDetectionMode | None = None
    """What is done about drift; `disabled` when omitted."""

    ignore: list[DriftIgnoreRule] = Field(default_factory=list)
    """Fields whose changes do not count as drift."""


class KustomizePostRenderer(ApiModel):
    """Kustomize patches and image replacements applied to the rendered objects."""

    patches: list[Patch] = Field(default_factory=list)
    """Strategic merge and JSON 6902 patches, with the objects they target."""

    images: list[Image] = Field(default_factory=list)
    """Image name, tag or digest replacements."""


class PostRenderer(ApiModel):
    """A transformation of the rendered objects before they are applied."""

    kustomize: KustomizePostRenderer | None = None
    """A Kustomize transformation."""


class WaitStrategy(ApiModel):
    """How Helm waits for applied objects to become ready."""

    name: Literal["poller", "legacy"]
    """`poller` (kstatus polling, the default) or `legacy` (Helm 3's own waiting)."""


class CustomHealthCheck(ApiModel):
    """CEL expressions that compute the health of objects of one kind."""

    api_version: str
    """Group and version of the kind."""

    kind: str | None = None
    """The kind the expressions apply to."""

    current: str
    """True when the object has reached its desired state."""

    in_progress: str | None = None
    """True while the object is still progressing."""

    failed: str | None = None
    """True when the object has failed."""


class HelmReleaseSpec(ApiModel):
    """Desired state of a HelmRelease: which chart, with which values, released how."""

    chart: HelmChartTemplate | None = None
    """The chart object to generate; exactly one of `chart` and `chartRef` is set."""

    chart_ref: ChartReference | None = None
    """An existing chart object; exactly one of `chart` and `chartRef` is set."""

    interval: Duration
    """How often to reconcile the release, correcting drift when enabled."""

    kube_config: KubeConfigReference | None = None
    """Kubeconfig of a remote cluster to release to instead of the local one."""

    suspend: bool = False
    """Whether reconciliation is paused."""

    release_name: (
        Annotated[str, StringConstraints(min_length=1, max_length=RELEASE_NAME_MAX_LENGTH)] | None
    ) = None
    """Name of the Helm release; `[<targetNamespace>-]<name>` when omitted."""

    target_namespace: NamespaceName | None = None
    """Namespace the release is installed to; the HelmRelease's namespace when omitted."""

    storage_namespace: NamespaceName | None = None
    """Namespace of Helm's release Secrets; the HelmRelease's namespace when omitted."""

    depends_on: list[ReleaseDependency] = Field(default_factory=list)
    """HelmReleases that must be ready before this one is reconciled."""

    timeout: Duration | None = None
    """Time limit of each Kubernetes operation of a Helm action, such as a hook Job;
    `5m` when omitted."""

    max_history: int | None = None
    """Revisions kept in Helm's storage; `0` keeps all, `5` when omitted."""

    service_account_name: Name | None = None
    """Service account to impersonate for the Helm actions."""

    persistent_client: bool | None = None
    """Whether one Kubernetes client serves a whole reconciliation rather than one per
    action; true when omitted."""

    drift_detection: DriftDetection | None = None
    """Detection and correction of drift from the stored release."""

    install: Install | None = None
    """How Helm installs the release."""

    upgrade: Upgrade | None = None
    """How Helm upgrades the release."""

    test: ReleaseTests | None = None
    """Whether and how Helm's tests run."""

    rollback: Rollback | None = None
    """How Helm rolls the release back."""

    uninstall: Uninstall | None = None
    """How Helm uninstalls the release."""

    values_from: list[ValuesReference] = Field(default_factory=list)
    """ConfigMaps and Secrets with values, merged in order before `values`."""

    values: dict[str, Any] | None = None
    """Values of the release, any YAML, merged last."""

    common_metadata: CommonMetadata | None = None
    """Labels and annotations set on every object of the release."""

    post_renderers: list[PostRenderer] = Field(default_factory=list)
    """Transformations of the rendered objects, applied in order."""

    post_render_strategy: Literal["nohooks", "combined", "separate"] | None = None
    """Which rendered objects the post-renderers see: not the hooks (`nohooks`), hooks
    and templates together (`combined`, the default), or in two passes (`separate`)."""

    wait_strategy: WaitStrategy | None = None
    """How Helm waits for objects to become ready."""

    health_check_exprs: list[CustomHealthCheck] = Field(default_factory=list)
    """CEL health rules for custom kinds, used when waiting with the `poller` strategy."""

    @model_validator(mode="after")
    def _one_chart(self) -> Self:
        if (self.chart is None) == (self.chart_ref is None):
            raise ValueError("set exactly one of chart and chartRef")
        return self


class ReleaseTestRun(ApiModel):
    """The last observed run of one test hook."""

    last_started: Timestamp | None = None
    """When the test last started."""

    last_completed: Timestamp | None = None
    """When the test last completed."""

    phase: str | None = None
    """Phase the test was last seen in, for example `Succeeded` or `Failed`."""


class Snapshot(ApiModel):
    """One release revision as the controller recorded it."""

    api_version: str | None = None
    """Version of the snapshot format, which says how `digest` was computed."""

    digest: str
    """Checksum of the stored release, as `<algorithm>:<hex>`."""

    name: str
    """Name of the release."""

    namespace: str
    """Namespace the release is installed to."""

    version: int
    """Revision of the release."""

    status: str
    """Helm status of the revision, for example `deployed` or `superseded`."""

    action: str | None = None
    """The action that made the revision."""

    chart_name: str
    """Name of the chart."""

    chart_version: str
    """Version of the chart."""

    app_version: str | None = None
    """App version of the chart."""

    config_digest: str
    """Checksum of the revision's values, as `<algorithm>:<hex>`."""

    first_deployed: Timestamp
    """When the release was first deployed."""

    last_deployed: Timestamp
    """When this revision was deployed."""

    deleted: Timestamp | None = None
    """When the revision was uninstalled."""

    test_hooks: dict[str, ReleaseTestRun] | None = None
    """Test hooks run for the revision, by name; empty when the chart has none, absent
    when tests did not run."""

    oci_digest: str | None = None
    """Digest of the OCI artifact the chart came from."""


class HelmReleaseStatus(ObjectStatus):
    """Observed state of a HelmRelease."""

    observed_post_renderers_digest: str | None = None
    """Digest of the post-renderers of the last successful reconciliation."""

    observed_common_metadata_digest: str | None = None
    """Digest of the common metadata of the last successful reconciliation."""

    last_attempted_generation: int | None = None
    """The generation last attempted."""

    helm_chart: str | None = None
    """The chart object in use: `<namespace>/<name>` for a HelmChart, else
    `<kind>/<namespace>/<name>`."""

    storage_namespace: NamespaceName | None = None
    """Namespace of Helm's storage of the current release."""

    history: list[Snapshot] = Field(default_factory=list)
    """Revisions up to the last successful one, newest first."""

    inventory: ResourceInventory | None = None
    """The objects of the current release."""

    last_attempted_release_action: ReleaseAction | None = None
    """The last install or upgrade attempted, which decides the active remediation."""

    last_attempted_release_action_duration: str | None = None
    """How long the last release action took, as a Go duration."""

    failures: int | None = None
    """Failed reconciliations of the current desired state."""

    install_failures: int | None = None
    """Failed installs of the current desired state."""

    upgrade_failures: int | None = None
    """Failed upgrades of the current desired state."""

    last_attempted_revision: str | None = None
    """Chart revision last attempted; from an OCIRepository, the chart version with the
    first 12 digest characters as build metadata."""

    last_attempted_revision_digest: str | None = None
    """Digest of the OCI artifact last attempted."""

    last_attempted_values_checksum: str | None = None
    """Deprecated SHA-1 of the values last attempted; see `lastAttemptedConfigDigest`."""

    last_release_revision: int | None = None
    """Deprecated revision of the last successful release; see `history`."""

    last_attempted_config_digest: str | None = None
    """Digest of the values last attempted."""

    last_handled_reset_at: str | None = None
    """The last value of the reset request annotation that was acted upon."""

    last_handled_force_at: str | None = None
    """The last value of the force request annotation that was acted upon."""


@dataclass(frozen=True)
class ChartObjectReference:
    """The source object that holds a HelmRelease's chart."""

    kind: str
    name: str
    namespace: str

    def status_form(self) -> str:
        """How `status.helmChart` names the object: `<namespace>/<name>` for a
        HelmChart, as older statuses did, else `<kind>/<namespace>/<name>`."""
        if self.kind == "HelmChart":
            return f"{self.namespace}/{self.name}"
        return f"{self.kind}/{self.namespace}/{self.name}"


class HelmRelease(ApiObject):
    """A Helm chart released with values, and kept released, into a cluster."""

    api_version: Literal["helm.toolkit.fluxcd.io/v2"] = "helm.toolkit.fluxcd.io/v2"
    kind: Literal["HelmRelease"] = "HelmRelease"
    spec: HelmReleaseSpec
    status: HelmReleaseStatus | None = None

    def _own_namespace(self) -> str:
        if not self.metadata.namespace:
            raise ValueError(
                f"HelmRelease {self.metadata.name} has no namespace: set metadata.namespace"
            )
        return self.metadata.namespace

    def release_name(self) -> str:
        """Name of the Helm release: `releaseName`, or `[<targetNamespace>-]<name>`
        shortened as `shorten_release_name` does."""
        name = self.spec.release_name
        if not name and self.spec.target_namespace:
            name = f"{self.spec.target_namespace}-{self.metadata.name}"
        return shorten_release_name(name or self.metadata.name)

    def release_namespace(self) -> str:
        """Namespace the release is installed to: `targetNamespace` or the HelmRelease's."""
        return self.spec.target_namespace or self._own_namespace()

    def storage_namespace(self) -> str:
        """Namespace of Helm's release Secrets: `storageNamespace` or the HelmRelease's."""
        return self.spec.storage_namespace or self._own_namespace()

    def chart_name(self) -> str:
        """Name of the chart object generated from `spec.chart`: `<namespace>-<name>`."""
        return f"{self._own_namespace()}-{self.metadata.name}"

    def chart_reference(self) -> ChartObjectReference:
        """The chart object: the one `spec.chartRef` names, or the one generated from
        `spec.chart`, which a HelmChart template puts in its source's namespace."""
        if self.spec.chart_ref is not None:
            ref = self.spec.chart_ref
            return ChartObjectReference(ref.kind, ref.name, ref.namespace or self._own_namespace())
        template = self.spec.chart
        if template is None:
            raise ValueError(f"HelmRelease {self.metadata.name} has neither chart nor chartRef")
        namespace = self._own_namespace()
        source = template.spec.source_ref
        if template.kind != "OCIRepository" and source is not None and source.namespace:
            namespace = source.namespace
        return ChartObjectReference(template.kind or "HelmChart", self.chart_name(), namespace)

    def chart_interval(self) -> str:
        """How often the generated chart object checks for a new chart."""
        template = self.spec.chart
        if template is not None and template.spec.interval:
            return template.spec.interval
        return self.spec.interval

    def timeout(self) -> str:
        """Time limit of each Kubernetes operation of a Helm action: `timeout` or `5m`."""
        return self.spec.timeout or DEFAULT_TIMEOUT

    def action_timeout(self, action: HelmAction) -> str:
        """Time limit of each Kubernetes operation of `action`: its own or `timeout()`."""
        return self._action(action).timeout or self.timeout()

    def max_history(self) -> int:
        """Revisions to keep in storage, `0` for all: `maxHistory` or 5."""
        if self.spec.max_history is None:
            return DEFAULT_MAX_HISTORY
        return self.spec.max_history

    def uses_persistent_client(self) -> bool:
        """Whether one Kubernetes client serves a whole reconciliation; true when omitted."""
        return self.spec.persistent_client is not False

    def drift_detection_mode(self) -> DriftDetectionMode:
        """What is done about drift; `disabled` when omitted."""
        detection = self.spec.drift_detection
        return (detection.mode if detection else None) or "disabled"

    def crds_policy(self, action: ReleaseAction) -> CrdsPolicy:
        """The CRD policy of `action`: its `crds`, or `Create` for install and upgrade
        alike, as Flux's controller applies it (`install.skipCRDs` is not read)."""
        settings = self.spec.install if action == "install" else self.spec.upgrade
        return (settings.crds if settings else None) or DEFAULT_CRDS_POLICY

    def create_namespace(self) -> bool:
        """Whether install creates the target namespace: only with `targetNamespace` set."""
        install = self.spec.install
        return bool(self.spec.target_namespace and install and install.create_namespace)

    def wait_disabled(self, action: Literal["install", "upgrade", "rollback", "uninstall"]) -> bool:
        """Whether `action` skips waiting for its objects."""
        settings = self._action(action)
        return not isinstance(settings, ReleaseTests) and settings.disable_wait

    def hooks_disabled(self, action: str) -> bool:
        """Whether `action` (install, upgrade, rollback, uninstall) skips the chart's hooks."""
        if action not in ("install", "upgrade", "rollback", "uninstall"):
            return False
        settings = self._action(cast(HelmAction, action))
        return not isinstance(settings, ReleaseTests) and settings.disable_hooks

    def schema_validation_disabled(self, action: Literal["install", "upgrade"]) -> bool:
        """Whether `action` renders without checking values against the chart's schema."""
        settings = self.spec.install if action == "install" else self.spec.upgrade
        return bool(settings and settings.disable_schema_validation)

    def take_ownership_disabled(self, action: Literal["install", "upgrade"]) -> bool:
        """Whether `action` refuses to adopt existing objects not marked as the release's."""
        settings = self.spec.install if action == "install" else self.spec.upgrade
        return bool(settings and settings.disable_take_ownership)

    def upgrade_preserve_values(self) -> bool:
        """Whether an upgrade keeps the deployed revision's values under the new ones."""
        return bool(self.spec.upgrade and self.spec.upgrade.preserve_values)

    def upgrade_cleanup_on_fail(self) -> bool:
        """Whether a failed upgrade deletes the objects it created."""
        return bool(self.spec.upgrade and self.spec.upgrade.cleanup_on_fail)

    def rollback_cleanup_on_fail(self) -> bool:
        """Whether a failed rollback deletes the objects it created."""
        return bool(self.spec.rollback and self.spec.rollback.cleanup_on_fail)

    def upgrade_force(self) -> bool:
        """Whether upgrades replace objects rather than patch them."""
        return bool(self.spec.upgrade and self.spec.upgrade.force)

    def keep_history(self) -> bool:
        """Whether uninstall keeps the release's revisions in storage."""
        return bool(self.spec.uninstall and self.spec.uninstall.keep_history)

    def deletion_propagation(self) -> Literal["background", "foreground", "orphan"]:
        """How uninstall's deletions propagate; `background` when omitted."""
        uninstall = self.spec.uninstall
        return uninstall.deletion_propagation if uninstall else "background"

    def action_strategy(self, action: ReleaseAction) -> ActionStrategyName:
        """What follows a failed `action`; `RemediateOnFailure` when omitted."""
        strategy = self._release_action(action).strategy
        return strategy.name if strategy else "RemediateOnFailure"

    def retry_interval(self, action: ReleaseAction) -> str:
        """Wait before retrying a failed `action` under `RetryOnFailure`; `5m` when omitted."""
        strategy = self._release_action(action).strategy
        return (strategy.retry_interval if strategy else None) or DEFAULT_RETRY_INTERVAL

    def remediation_retries(self, action: ReleaseAction) -> int:
        """Retries after a failed `action`, negative for no limit; 0 when omitted."""
        remediation = self._release_action(action).remediation
        return remediation.retries if remediation else 0

    def install_remediation_retries(self) -> int:
        """Retries after a failed install; see `remediation_retries`."""
        return self.remediation_retries("install")

    def upgrade_remediation_retries(self) -> int:
        """Retries after a failed upgrade; see `remediation_retries`."""
        return self.remediation_retries("upgrade")

    def remediation_strategy(self, action: ReleaseAction) -> RemediationStrategy:
        """How a failed `action` is remediated: an install always by uninstall, an
        upgrade by its `remediation.strategy`, `rollback` when omitted."""
        upgrade = self.spec.upgrade
        if action == "install":
            return "uninstall"
        strategy = upgrade.remediation.strategy if upgrade and upgrade.remediation else None
        return strategy or "rollback"

    def remediates_last_failure(self, action: ReleaseAction) -> bool:
        """Whether the failure that uses up the retries is remediated too: as set, else
        never after an install, and after an upgrade only with retries above zero."""
        remediation = self._release_action(action).remediation
        chosen = remediation.remediate_last_failure if remediation else None
        if chosen is not None:
            return chosen
        return action == "upgrade" and self.remediation_retries(action) > 0

    def ignores_test_failures(self, action: ReleaseAction) -> bool:
        """Whether failed tests after `action` go unremediated: the remediation's
        `ignoreTestFailures`, else `test.ignoreFailures`."""
        remediation = self._release_action(action).remediation
        chosen = remediation.ignore_test_failures if remediation else None
        if chosen is not None:
            return chosen
        return bool(self.spec.test and self.spec.test.ignore_failures)

    def retries_exhausted(self, action: ReleaseAction) -> bool:
        """Whether the failures of `action` counted in the status exceed its retries;
        never with negative (unlimited) retries."""
        status = self.status or HelmReleaseStatus()
        failures = status.install_failures if action == "install" else status.upgrade_failures
        retries = self.remediation_retries(action)
        return retries >= 0 and (failures or 0) > retries

    def _release_action(self, action: ReleaseAction) -> Install | Upgrade:
        if action == "install":
            return self.spec.install or Install()
        return self.spec.upgrade or Upgrade()

    def _action(
        self, action: HelmAction
    ) -> Install | Upgrade | ReleaseTests | Rollback | Uninstall:
        spec = self.spec
        match action:
            case "install":
                return spec.install or Install()
            case "upgrade":
                return spec.upgrade or Upgrade()
            case "test":
                return spec.test or ReleaseTests()
            case "rollback":
                return spec.rollback or Rollback()
            case "uninstall":
                return spec.uninstall or Uninstall()
