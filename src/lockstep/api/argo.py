"""Models of argoproj.io/v1alpha1: Argo CD's Application and AppProject.

lockstep serves these kinds so that manifests written for Argo CD 3.x apply
unchanged and read back whole. `kinds` registers both kinds and `crds`
generates their CRDs from these models; the Argo CD reconciler (to come) reads
an Application's spec and `operation`, checks it against its AppProject, and
writes the status with a plain patch, as Argo CD does (no status subresource).

Every object model here keeps the fields it does not declare (`extra="allow"`),
and its generated schema says so (`x-kubernetes-preserve-unknown-fields`):
fields of a newer Argo CD, or ones lockstep has no use for yet, are stored and
written back as they came, while the declared fields are still type-checked.
"""

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, WithJsonSchema

from lockstep.api.meta import ApiModel, ApiObject, Timestamp

INT_OR_STRING_MARK = "x-kubernetes-int-or-string"
"""Schema key of a field that takes an integer or a string, as Kubernetes' IntOrString."""

IntOrString = Annotated[int | str, WithJsonSchema({INT_OR_STRING_MARK: True})]
"""A count written either as a number or as a string, kept in the form it came in."""

DEFAULT_PROJECT = "default"
"""The AppProject an Application belongs to when it names none."""


class SyncStatusCode(StrEnum):
    """How the live objects of an Application compare with its sources."""

    SYNCED = "Synced"
    OUT_OF_SYNC = "OutOfSync"
    UNKNOWN = "Unknown"


class HealthStatusCode(StrEnum):
    """Health of an object or an Application, from best to worst."""

    HEALTHY = "Healthy"
    SUSPENDED = "Suspended"
    PROGRESSING = "Progressing"
    MISSING = "Missing"
    DEGRADED = "Degraded"
    UNKNOWN = "Unknown"


class OperationPhase(StrEnum):
    """Where an operation on an Application stands."""

    RUNNING = "Running"
    TERMINATING = "Terminating"
    FAILED = "Failed"
    ERROR = "Error"
    SUCCEEDED = "Succeeded"


class ArgoModel(ApiModel):
    """Base of the Argo CD models: undeclared fields are kept and written back unchanged."""

    model_config = ConfigDict(extra="allow")


class NameValue(ArgoModel):
    """A named string value."""

    name: str
    """Name of the entry."""

    value: str
    """Value of the entry."""


class HelmParameter(ArgoModel):
    """A value set on the Helm command line, as `--set` (or `--set-string`) does."""

    name: str | None = None
    """Dotted path of the value, for example `service.type`."""

    value: str | None = None
    """The value."""

    force_string: bool | None = None
    """Keep the value a string, as `--set-string` does."""


class HelmFileParameter(ArgoModel):
    """A value read from a file of the source, as `--set-file` does."""

    name: str | None = None
    """Dotted path of the value."""

    path: str | None = None
    """Path of the file in the source."""


class ApplicationSourceHelm(ArgoModel):
    """How a Helm chart is rendered."""

    value_files: list[str] = Field(default_factory=list)
    """Values files, relative to the chart; `$<ref>/<path>` reads one from another source."""

    values: str | None = None
    """Values as one YAML document in a string."""

    values_object: dict[str, Any] | None = None
    """Values as a YAML object; takes precedence over `values`."""

    parameters: list[HelmParameter] = Field(default_factory=list)
    """Values set one by one, over the values files and values."""

    file_parameters: list[HelmFileParameter] = Field(default_factory=list)
    """Values read from files of the source."""

    release_name: str | None = None
    """Name of the Helm release; the Application's name when omitted."""

    skip_crds: bool | None = None
    """Leave out the chart's `crds/` directory."""

    skip_tests: bool | None = None
    """Leave out the chart's test hooks."""

    namespace: str | None = None
    """Namespace the chart is rendered for; the destination namespace when omitted."""

    kube_version: str | None = None
    """Kubernetes version the chart is rendered for (`.Capabilities.KubeVersion`)."""

    api_versions: list[str] = Field(default_factory=list)
    """API versions the chart sees as available (`.Capabilities.APIVersions`)."""

    ignore_missing_value_files: bool | None = None
    """Skip values files that do not exist instead of failing."""

    pass_credentials: bool | None = None
    """Send the repository's credentials to every domain the chart is fetched from."""

    version: str | None = None
    """Helm major version to render with."""


class KustomizeReplica(ArgoModel):
    """A replica count set on a workload."""

    name: str
    """Name of the Deployment or StatefulSet."""

    count: IntOrString
    """Number of replicas, as a number or a string."""


class KustomizeSelector(ArgoModel):
    """The objects a kustomize patch applies to."""

    group: str | None = None
    """API group of the objects."""

    version: str | None = None
    """API version of the objects."""

    kind: str | None = None
    """Kind of the objects."""

    name: str | None = None
    """Name of the objects."""

    namespace: str | None = None
    """Namespace of the objects."""

    label_selector: str | None = None
    """Label-selector expression the objects' labels must match."""

    annotation_selector: str | None = None
    """Label-selector expression the objects' annotations must match."""


class KustomizePatch(ArgoModel):
    """A patch kustomize applies, inline or from a file of the source."""

    path: str | None = None
    """Path of the patch file in the source."""

    patch: str | None = None
    """The patch document, inline."""

    target: KustomizeSelector | None = None
    """Objects to patch."""

    options: dict[str, bool] = Field(default_factory=dict)
    """Kustomize patch options, such as `allowNameChange`."""


class ApplicationSourceKustomize(ArgoModel):
    """How a kustomization is built."""

    name_prefix: str | None = None
    """Prefix added to the name of every object."""

    name_suffix: str | None = None
    """Suffix added to the name of every object."""

    images: list[str] = Field(default_factory=list)
    """Image overrides as kustomize writes them: `name=newName:tag` or `name:tag`."""

    common_labels: dict[str, str] = Field(default_factory=dict)
    """Labels set on every object."""

    common_annotations: dict[str, str] = Field(default_factory=dict)
    """Annotations set on every object."""

    force_common_labels: bool | None = None
    """Overwrite labels the objects already have."""

    force_common_annotations: bool | None = None
    """Overwrite annotations the objects already have."""

    namespace: str | None = None
    """Namespace set on every namespaced object."""

    replicas: list[KustomizeReplica] = Field(default_factory=list)
    """Replica counts set on workloads."""

    patches: list[KustomizePatch] = Field(default_factory=list)
    """Patches applied after the build."""

    components: list[str] = Field(default_factory=list)
    """Kustomize components added to the build."""

    version: str | None = None
    """Kustomize version to build with, as configured in Argo CD."""


class ApplicationSourceJsonnet(ArgoModel):
    """How Jsonnet files are evaluated: external variables, top-level arguments, libraries."""


class ApplicationSourceDirectory(ArgoModel):
    """How a directory of plain manifests is read."""

    recurse: bool | None = None
    """Read subdirectories too."""

    include: str | None = None
    """Glob of the files to read, for example `{*.yml,*.yaml}`."""

    exclude: str | None = None
    """Glob of the files to leave out."""

    jsonnet: ApplicationSourceJsonnet | None = None
    """Jsonnet evaluation settings."""


class ApplicationSourcePlugin(ArgoModel):
    """A config management plugin that renders the source."""

    name: str | None = None
    """Name of the plugin; found by discovery when omitted."""


class ApplicationSource(ArgoModel):
    """Where manifests come from: a Git path, or a Helm chart from a repository."""

    repo_url: str = Field(alias="repoURL")
    """URL of the Git repository, Helm repository or OCI registry."""

    path: str | None = None
    """Directory in the repository; for Git sources."""

    target_revision: str | None = None
    """Branch, tag, commit or (for charts) version constraint; `HEAD` when omitted."""

    chart: str | None = None
    """Name of the chart in a Helm repository."""

    ref: str | None = None
    """Name by which other sources read files of this one, as `$<ref>/<path>`."""

    name: str | None = None
    """Name of the source, for telling sources apart."""

    helm: ApplicationSourceHelm | None = None
    """Helm rendering settings."""

    kustomize: ApplicationSourceKustomize | None = None
    """Kustomize build settings."""

    directory: ApplicationSourceDirectory | None = None
    """Plain-manifest directory settings."""

    plugin: ApplicationSourcePlugin | None = None
    """Config management plugin settings."""


class ApplicationDestination(ArgoModel):
    """The cluster and namespace an Application deploys to."""

    server: str | None = None
    """API server URL of the cluster; set this or `name`."""

    name: str | None = None
    """Name of the cluster as Argo CD knows it; set this or `server`."""

    namespace: str | None = None
    """Namespace of namespaced objects that name none."""


class SyncPolicyAutomated(ArgoModel):
    """Sync without being asked whenever the Application is out of sync."""

    prune: bool | None = None
    """Delete objects that are no longer in the sources."""

    self_heal: bool | None = None
    """Sync again when the live objects drift, not only when the sources change."""

    allow_empty: bool | None = None
    """Allow a sync that would leave the Application with no objects."""

    enabled: bool | None = None
    """Whether automated sync is on; on when omitted."""


class Backoff(ArgoModel):
    """How long to wait between sync retries."""

    duration: str | None = None
    """First wait, as a duration (`5s`) or seconds; 5s when omitted."""

    factor: int | None = None
    """Multiplier applied to the wait after each retry; 2 when omitted."""

    max_duration: str | None = None
    """Longest wait; 3m when omitted."""


class RetryStrategy(ArgoModel):
    """How a failed sync is retried."""

    limit: int | None = None
    """Number of retries; a negative number retries forever."""

    backoff: Backoff | None = None
    """Waits between retries."""


class ManagedNamespaceMetadata(ArgoModel):
    """Labels and annotations of the namespace a sync creates."""

    labels: dict[str, str] = Field(default_factory=dict)
    """Labels of the namespace."""

    annotations: dict[str, str] = Field(default_factory=dict)
    """Annotations of the namespace."""


class SyncPolicy(ArgoModel):
    """When and how an Application is synced."""

    automated: SyncPolicyAutomated | None = None
    """Automated sync; the Application syncs only when asked when omitted."""

    sync_options: list[str] = Field(default_factory=list)
    """Options as `Name=value`, for example `CreateNamespace=true`."""

    retry: RetryStrategy | None = None
    """Retries of failed syncs."""

    managed_namespace_metadata: ManagedNamespaceMetadata | None = None
    """Metadata of the namespace created with `CreateNamespace=true`."""

    @property
    def automated_sync(self) -> bool:
        """Whether the Application syncs by itself: `automated` is set and not disabled."""
        return self.automated is not None and self.automated.enabled is not False


class ResourceIgnoreDifferences(ArgoModel):
    """Fields of some objects that the comparison leaves out."""

    group: str | None = None
    """API group of the objects."""

    kind: str
    """Kind of the objects."""

    name: str | None = None
    """Name of the objects; every name when omitted."""

    namespace: str | None = None
    """Namespace of the objects; every namespace when omitted."""

    json_pointers: list[str] = Field(default_factory=list)
    """JSON pointers (RFC 6901) of the fields to leave out."""

    jq_path_expressions: list[str] = Field(default_factory=list)
    """jq path expressions of the fields to leave out."""

    managed_fields_managers: list[str] = Field(default_factory=list)
    """Field managers whose fields are left out."""


class ApplicationSpec(ArgoModel):
    """Desired state of an Application: what to deploy, where, and how to sync."""

    source: ApplicationSource | None = None
    """The single source; set this or `sources`."""

    sources: list[ApplicationSource] = Field(default_factory=list)
    """Several sources rendered together; takes precedence over `source`."""

    destination: ApplicationDestination
    """Where the objects go."""

    project: str = DEFAULT_PROJECT
    """AppProject the Application belongs to."""

    sync_policy: SyncPolicy | None = None
    """When and how to sync."""

    ignore_differences: list[ResourceIgnoreDifferences] = Field(default_factory=list)
    """Fields the comparison leaves out."""

    revision_history_limit: int | None = None
    """How many entries `status.history` keeps; 10 when omitted."""

    info: list[NameValue] = Field(default_factory=list)
    """Extra information shown with the Application."""

    def effective_sources(self) -> list[ApplicationSource]:
        """The sources to render: `sources` when it has any, else `source`, else none."""
        if self.sources:
            return list(self.sources)
        return [self.source] if self.source is not None else []

    @property
    def automated_sync(self) -> bool:
        """Whether the Application syncs by itself."""
        return self.sync_policy is not None and self.sync_policy.automated_sync

    @property
    def sync_options(self) -> list[str]:
        """The sync options of the sync policy, empty when there is none."""
        return list(self.sync_policy.sync_options) if self.sync_policy is not None else []


class SyncOperationResource(ArgoModel):
    """An object a sync is limited to."""

    group: str | None = None
    """API group of the object."""

    kind: str
    """Kind of the object."""

    name: str
    """Name of the object."""

    namespace: str | None = None
    """Namespace of the object."""


class SyncStrategy(ArgoModel):
    """How objects are synced: `apply` (kubectl apply) or `hook` (apply, then hooks)."""


class SyncOperation(ArgoModel):
    """A requested sync."""

    revision: str | None = None
    """Revision to sync to; the target revision when omitted."""

    revisions: list[str] = Field(default_factory=list)
    """Revision of each source, for multi-source Applications."""

    prune: bool | None = None
    """Delete objects that are no longer in the sources."""

    dry_run: bool | None = None
    """Run the sync without changing anything."""

    resources: list[SyncOperationResource] = Field(default_factory=list)
    """Objects to sync; every object when empty."""

    sync_options: list[str] = Field(default_factory=list)
    """Sync options for this sync, over the Application's."""

    sync_strategy: SyncStrategy | None = None
    """How objects are synced."""


class OperationInitiator(ArgoModel):
    """Who asked for an operation."""

    username: str | None = None
    """Name of the user who asked."""

    automated: bool | None = None
    """Whether the controller asked by itself (automated sync)."""


class Operation(ArgoModel):
    """An operation asked for by writing `operation` on the Application."""

    sync: SyncOperation | None = None
    """A sync."""

    initiated_by: OperationInitiator | None = None
    """Who asked."""

    info: list[NameValue] = Field(default_factory=list)
    """Extra information about the operation."""

    retry: RetryStrategy | None = None
    """Retries of the operation when it fails."""


class ComparedTo(ArgoModel):
    """The desired state the live objects were compared with."""

    source: ApplicationSource | None = None
    """The single source compared with."""

    sources: list[ApplicationSource] = Field(default_factory=list)
    """The sources compared with, for multi-source Applications."""

    destination: ApplicationDestination | None = None
    """The destination compared with."""

    ignore_differences: list[ResourceIgnoreDifferences] = Field(default_factory=list)
    """The fields the comparison left out."""


class SyncStatus(ArgoModel):
    """How the live objects compare with the sources."""

    status: str
    """`Synced`, `OutOfSync` or `Unknown`."""

    revision: str | None = None
    """Revision the comparison was made at."""

    revisions: list[str] = Field(default_factory=list)
    """Revision of each source, for multi-source Applications."""

    compared_to: ComparedTo | None = None
    """The desired state compared with."""


class HealthStatus(ArgoModel):
    """Health of an Application or of one of its objects."""

    status: str | None = None
    """`Healthy`, `Suspended`, `Progressing`, `Missing`, `Degraded` or `Unknown`."""

    message: str | None = None
    """Why the health is what it is."""


class ResourceIdentity(ArgoModel):
    """Which object an entry of the status is about."""

    group: str | None = None
    """API group of the object."""

    version: str | None = None
    """API version of the object."""

    kind: str | None = None
    """Kind of the object."""

    namespace: str | None = None
    """Namespace of the object."""

    name: str | None = None
    """Name of the object."""


class ResourceStatus(ResourceIdentity):
    """One object of an Application, as last compared."""

    status: str | None = None
    """Sync status of the object."""

    health: HealthStatus | None = None
    """Health of the object."""

    hook: bool | None = None
    """Whether the object is a hook."""

    requires_pruning: bool | None = None
    """Whether the object is live but no longer in the sources."""

    sync_wave: int | None = None
    """Sync wave of the object."""


class ResourceResult(ResourceIdentity):
    """What a sync did to one object."""

    status: str | None = None
    """`Synced`, `SyncFailed`, `Pruned` or `PruneSkipped`."""

    message: str | None = None
    """What happened, in words."""

    hook_phase: str | None = None
    """For hooks: `Running`, `Succeeded`, `Failed`, `Error` or `Terminating`."""

    hook_type: str | None = None
    """For hooks: `PreSync`, `Sync`, `PostSync`, `SyncFail` or `Skip`."""

    sync_phase: str | None = None
    """Phase the object was synced in: `PreSync`, `Sync`, `PostSync` or `SyncFail`."""


class SyncOperationResult(ArgoModel):
    """The outcome of a sync."""

    resources: list[ResourceResult] = Field(default_factory=list)
    """What was done to each object."""

    revision: str | None = None
    """Revision that was synced."""

    revisions: list[str] = Field(default_factory=list)
    """Revision of each source that was synced, for multi-source Applications."""

    source: ApplicationSource | None = None
    """The single source that was synced."""

    sources: list[ApplicationSource] = Field(default_factory=list)
    """The sources that were synced, for multi-source Applications."""


class OperationState(ArgoModel):
    """Progress and outcome of the current or last operation."""

    operation: Operation | None = None
    """The operation."""

    phase: str | None = None
    """`Running`, `Terminating`, `Failed`, `Error` or `Succeeded`."""

    message: str | None = None
    """What happened, in words."""

    sync_result: SyncOperationResult | None = None
    """The outcome of a sync."""

    started_at: Timestamp | None = None
    """When the operation started."""

    finished_at: Timestamp | None = None
    """When the operation finished."""

    retry_count: int | None = None
    """How many times the operation was retried."""


class RevisionHistory(ArgoModel):
    """One past sync."""

    id: int
    """Number of the entry, for rollbacks."""

    revision: str | None = None
    """Revision synced."""

    revisions: list[str] = Field(default_factory=list)
    """Revision of each source synced, for multi-source Applications."""

    deployed_at: Timestamp | None = None
    """When the sync finished."""

    deploy_started_at: Timestamp | None = None
    """When the sync started."""

    source: ApplicationSource | None = None
    """The single source synced."""

    sources: list[ApplicationSource] = Field(default_factory=list)
    """The sources synced, for multi-source Applications."""

    initiated_by: OperationInitiator | None = None
    """Who asked for the sync."""


class ApplicationCondition(ArgoModel):
    """A problem or warning about an Application, such as `ComparisonError`."""

    type: str
    """Type of the condition."""

    message: str | None = None
    """What is wrong, in words."""

    last_transition_time: Timestamp | None = None
    """When the condition was first seen."""


class ApplicationSummary(ArgoModel):
    """At-a-glance facts about the deployed objects."""

    images: list[str] = Field(default_factory=list)
    """Container images the objects run."""

    external_urls: list[str] = Field(default_factory=list, alias="externalURLs")
    """URLs the objects are reachable at."""


class ApplicationStatus(ArgoModel):
    """Observed state of an Application."""

    sync: SyncStatus | None = None
    """How the live objects compare with the sources."""

    health: HealthStatus | None = None
    """Health of the Application, the worst of its objects'."""

    resources: list[ResourceStatus] = Field(default_factory=list)
    """The objects of the Application."""

    operation_state: OperationState | None = None
    """The current or last operation."""

    history: list[RevisionHistory] = Field(default_factory=list)
    """Past syncs, oldest first."""

    conditions: list[ApplicationCondition] = Field(default_factory=list)
    """Problems and warnings."""

    reconciled_at: Timestamp | None = None
    """When the Application was last compared."""

    observed_at: Timestamp | None = None
    """When the live objects were last observed (deprecated by Argo CD)."""

    source_type: str | None = None
    """How the source is rendered: `Helm`, `Kustomize`, `Directory` or `Plugin`."""

    source_types: list[str] = Field(default_factory=list)
    """How each source is rendered, for multi-source Applications."""

    summary: ApplicationSummary | None = None
    """Facts about the deployed objects."""

    controller_namespace: str | None = None
    """Namespace of the controller that manages the Application."""


class Application(ApiObject):
    """A set of objects rendered from one or more sources and kept synced to a destination."""

    api_version: Literal["argoproj.io/v1alpha1"] = "argoproj.io/v1alpha1"
    kind: Literal["Application"] = "Application"
    spec: ApplicationSpec
    operation: Operation | None = None
    """An operation asked for, such as a manual sync; removed once it has run."""

    status: ApplicationStatus | None = None


class GroupKind(ArgoModel):
    """A kind of object, by API group (empty for the core group) and kind."""

    group: str
    """API group, or a glob of groups."""

    kind: str
    """Kind, or a glob of kinds."""


class OrphanedResourceKey(ArgoModel):
    """Objects that are never reported as orphaned."""

    group: str | None = None
    """API group of the objects."""

    kind: str | None = None
    """Kind of the objects."""

    name: str | None = None
    """Name of the objects."""


class OrphanedResourcesMonitor(ArgoModel):
    """Reporting of objects in the destination namespaces that no Application owns."""

    warn: bool | None = None
    """Add a warning condition to Applications while orphaned objects exist."""

    ignore: list[OrphanedResourceKey] = Field(default_factory=list)
    """Objects never reported."""


class ProjectRole(ArgoModel):
    """A role with access policies, its groups and its JWT tokens."""

    name: str | None = None
    """Name of the role."""


class SyncWindow(ArgoModel):
    """A time window in which syncs are allowed or denied."""

    kind: str | None = None
    """`allow` or `deny`."""

    schedule: str | None = None
    """When the window opens, as a cron expression."""

    duration: str | None = None
    """How long the window stays open, for example `1h`."""

    applications: list[str] = Field(default_factory=list)
    """Globs of the Applications the window applies to."""

    namespaces: list[str] = Field(default_factory=list)
    """Globs of the destination namespaces the window applies to."""

    clusters: list[str] = Field(default_factory=list)
    """Globs of the destination clusters the window applies to."""

    manual_sync: bool | None = None
    """Allow manual syncs while a deny window is open."""

    time_zone: str | None = None
    """Time zone of the schedule, for example `Europe/Paris`; UTC when omitted."""


class SignatureKey(ArgoModel):
    """A GnuPG key that may sign the commits an Application syncs."""

    key_id: str | None = Field(default=None, alias="keyID")
    """ID of the key."""


class DestinationServiceAccount(ArgoModel):
    """The service account syncs impersonate for a destination."""

    server: str | None = None
    """API server URL (glob) of the destination cluster."""

    namespace: str | None = None
    """Destination namespace (glob)."""

    default_service_account: str | None = None
    """Service account to impersonate, optionally as `<namespace>:<name>`."""


class AppProjectSpec(ArgoModel):
    """What the Applications of a project may deploy, from where and to where."""

    description: str | None = None
    """What the project is for."""

    source_repos: list[str] = Field(default_factory=list)
    """Globs of the repositories Applications may deploy from; `!` negates one."""

    destinations: list[ApplicationDestination] = Field(default_factory=list)
    """Clusters and namespaces (globs) Applications may deploy to; `!` negates one."""

    cluster_resource_whitelist: list[GroupKind] = Field(default_factory=list)
    """Cluster-scoped kinds Applications may deploy; none when empty."""

    cluster_resource_blacklist: list[GroupKind] = Field(default_factory=list)
    """Cluster-scoped kinds Applications may not deploy."""

    namespace_resource_whitelist: list[GroupKind] = Field(default_factory=list)
    """Namespaced kinds Applications may deploy; every kind when empty."""

    namespace_resource_blacklist: list[GroupKind] = Field(default_factory=list)
    """Namespaced kinds Applications may not deploy."""

    roles: list[ProjectRole] = Field(default_factory=list)
    """Roles with access to the project's Applications."""

    sync_windows: list[SyncWindow] = Field(default_factory=list)
    """When syncs are allowed or denied."""

    orphaned_resources: OrphanedResourcesMonitor | None = None
    """Reporting of orphaned objects; off when omitted."""

    source_namespaces: list[str] = Field(default_factory=list)
    """Namespaces (globs) besides the control plane's in which Applications may name the
    project."""

    signature_keys: list[SignatureKey] = Field(default_factory=list)
    """Keys of which one must have signed the synced commits; no check when empty."""

    permit_only_project_scoped_clusters: bool | None = None
    """Allow only clusters that belong to this project as destinations."""

    destination_service_accounts: list[DestinationServiceAccount] = Field(default_factory=list)
    """Service accounts syncs impersonate, per destination."""


class AppProject(ApiObject):
    """A group of Applications and the limits placed on them."""

    api_version: Literal["argoproj.io/v1alpha1"] = "argoproj.io/v1alpha1"
    kind: Literal["AppProject"] = "AppProject"
    spec: AppProjectSpec
    status: dict[str, Any] | None = None
    """Observed state of the project, such as its JWT tokens; kept as written."""
