"""Models of kustomize.toolkit.fluxcd.io: the Kustomization.

The Kustomization controller reads the spec to build, apply, prune and
health-check the objects of a source path, and writes the status with the
applied revision and the inventory. `kinds` registers the kind.
"""

from typing import Annotated, Literal, Self

from pydantic import Field, StringConstraints, model_validator

from lockstep.api.meta import (
    ApiModel,
    ApiObject,
    Duration,
    LocalObjectReference,
    ObjectStatus,
    Timestamp,
    server_default,
)


class SourceReference(ApiModel):
    """The source whose artifact a Kustomization builds."""

    api_version: str | None = None
    """Group and version of the source; the served version of its kind when omitted."""

    kind: Literal["GitRepository", "OCIRepository", "Bucket", "ExternalArtifact"]
    """Kind of the source; Bucket and ExternalArtifact are accepted and reported as not
    supported yet (Stalled)."""

    name: str
    """Name of the source."""

    namespace: str | None = None
    """Namespace of the source; the Kustomization's namespace when omitted."""


class SecretKeyReference(ApiModel):
    """A key of a Secret in the referring object's namespace."""

    name: str
    """Name of the Secret."""

    key: str | None = None
    """Key within the Secret; the consumer's conventional key when omitted."""


class KubeConfigReference(ApiModel):
    """Where to find the kubeconfig of a remote cluster: a Secret, or (Flux's cloud
    identity) a ConfigMap naming the provider and cluster; exactly one of the two."""

    secret_ref: SecretKeyReference | None = None
    """Secret holding the kubeconfig, under `value` or `value.yaml` unless `key` says otherwise."""

    config_map_ref: LocalObjectReference | None = None
    """ConfigMap naming a cloud provider's cluster, reached with the engine's cloud
    identity; accepted and refused (Stalled) until cloud identity is supported."""

    @model_validator(mode="after")
    def _one_reference(self) -> Self:
        if (self.secret_ref is None) == (self.config_map_ref is None):
            raise ValueError("set exactly one of secretRef and configMapRef")
        return self


class Selector(ApiModel):
    """Selects objects; an object must match every field that is set."""

    group: str | None = None
    """API group of the objects."""

    version: str | None = None
    """API version of the objects."""

    kind: str | None = None
    """Kind of the objects."""

    namespace: str | None = None
    """Namespace of the objects."""

    name: str | None = None
    """Name of the objects."""

    annotation_selector: str | None = None
    """Label-selector expression evaluated against the objects' annotations."""

    label_selector: str | None = None
    """Label-selector expression evaluated against the objects' labels."""


class Patch(ApiModel):
    """A strategic merge or JSON 6902 patch and the objects it applies to."""

    patch: str
    """The patch document, inline YAML or JSON."""

    target: Selector | None = None
    """Objects to patch; for a strategic merge patch, the patch itself names them when omitted."""


class Image(ApiModel):
    """A replacement for the name, tag or digest of a container image."""

    name: str
    """Image name to replace, without tag."""

    new_name: str | None = None
    """Replacement image name."""

    new_tag: str | None = None
    """Replacement tag."""

    digest: str | None = None
    """Replacement digest; takes precedence over `newTag`."""


class CommonMetadata(ApiModel):
    """Labels and annotations set on every applied object, overriding existing keys."""

    labels: dict[str, str] = Field(default_factory=dict)
    """Labels to set."""

    annotations: dict[str, str] = Field(default_factory=dict)
    """Annotations to set."""


class HealthCheckReference(ApiModel):
    """An object whose health decides the Kustomization's health."""

    api_version: str | None = None
    """Group and version of the object; the preferred version when omitted."""

    kind: str
    """Kind of the object."""

    name: str
    """Name of the object."""

    namespace: str | None = None
    """Namespace of the object."""


class DependencyReference(ApiModel):
    """Something that must be ready before a Kustomization is applied: another
    Kustomization (kind omitted), or any object by apiVersion and kind, which must be healthy."""

    api_version: str | None = None
    """Group and version of the object; required with `kind`."""

    kind: str | None = None
    """Kind of the object; a Kustomization when omitted."""

    name: str
    """Name of the object."""

    namespace: str | None = None
    """Namespace of the object; the Kustomization's namespace when omitted."""

    ready_expr: str | None = None
    """CEL expression over `self` (this Kustomization) and `dep` (the dependency) that
    decides readiness instead of the built-in check."""


class HealthCheckExpressions(ApiModel):
    """CEL expressions that compute the health of objects of one kind."""

    api_version: str
    """Group and version of the kind."""

    kind: str
    """The kind the expressions apply to."""

    current: str
    """True when the object has reached its desired state."""

    in_progress: str | None = None
    """True while the object is still progressing."""

    failed: str | None = None
    """True when the object has failed."""


class DriftIgnoreRule(ApiModel):
    """Fields that drift detection and apply leave alone."""

    paths: list[str]
    """JSON pointers (RFC 6901) of the fields to ignore."""

    target: Selector | None = None
    """Objects the rule applies to; every object when omitted."""


class SubstituteReference(ApiModel):
    """A ConfigMap or Secret whose data keys are postBuild variables."""

    kind: Literal["ConfigMap", "Secret"]
    """Kind of the object."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=253)]
    """Name of the object, in the Kustomization's namespace."""

    optional: bool = server_default(False)
    """Whether a missing object counts as empty instead of failing the build."""


class PostBuild(ApiModel):
    """Variable substitution on the built objects: `${var}`, `${var:=default}` and the
    other bash forms of Flux's envsubst."""

    substitute_strategy: Literal["WithVariables", "Always"] | None = None
    """`WithVariables` (default): substitute only when at least one variable is defined;
    `Always`: also without variables, for expressions with defaults."""

    substitute: dict[str, str] = Field(default_factory=dict)
    """Variables and their values; these win over `substituteFrom`."""

    substitute_from: list[SubstituteReference] = Field(default_factory=list)
    """Objects holding variables; later ones win over earlier ones."""


class Decryption(ApiModel):
    """How to decrypt encrypted Secrets before applying them."""

    provider: Literal["sops"]
    """The decryption engine."""

    secret_ref: LocalObjectReference | None = None
    """Secret holding the private keys."""

    service_account_name: str | None = None
    """Service account whose cloud identity authenticates to a cloud KMS; not supported
    yet: keys must be given in `secretRef`."""


class KustomizationSpec(ApiModel):
    """Desired state of a Kustomization: what to build from which source, and how to apply it."""

    source_ref: SourceReference
    """The source whose artifact is built."""

    path: str | None = None
    """Directory with a kustomization.yaml or plain manifests; the artifact root if unset."""

    interval: Duration
    """How often to rebuild and reapply, correcting drift."""

    retry_interval: Duration | None = None
    """How soon to retry after a failure; `interval` when omitted."""

    timeout: Duration | None = None
    """Time limit for build, apply and health checks; if unset, `interval` - 30s, at least 30s."""

    prune: bool
    """Whether objects removed from the source are deleted from the cluster."""

    deletion_policy: Literal["MirrorPrune", "Delete", "WaitForTermination", "Orphan"] | None = None
    """What deleting the Kustomization does to applied objects; `MirrorPrune` obeys `prune`."""

    wait: bool = False
    """Whether to wait for every applied object to become ready; replaces `healthChecks`."""

    force: bool = server_default(False)
    """Whether to recreate objects whose immutable fields changed."""

    suspend: bool = False
    """Whether reconciliation is paused."""

    target_namespace: Annotated[str, StringConstraints(min_length=1, max_length=63)] | None = None
    """Namespace set on every namespaced object."""

    name_prefix: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    """Prefix added to the names of all objects."""

    name_suffix: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    """Suffix added to the names of all objects."""

    service_account_name: str | None = None
    """Service account to impersonate when applying."""

    kube_config: KubeConfigReference | None = None
    """Kubeconfig of a remote cluster to apply to instead of the local one."""

    patches: list[Patch] = Field(default_factory=list)
    """Patches applied to the built objects."""

    images: list[Image] = Field(default_factory=list)
    """Image replacements applied to the built objects."""

    components: list[str] = Field(default_factory=list)
    """Paths of kustomize components to include, relative to `path`."""

    ignore_missing_components: bool = False
    """Whether components that the source does not hold are left out instead of failing."""

    build_metadata: list[Literal["originAnnotations", "transformerAnnotations"]] = Field(
        default_factory=list
    )
    """Kustomize build metadata to add to the objects: `originAnnotations`
    (`config.kubernetes.io/origin`) and `transformerAnnotations`."""

    common_metadata: CommonMetadata | None = None
    """Labels and annotations set on every applied object."""

    health_checks: list[HealthCheckReference] = Field(default_factory=list)
    """Objects that must be healthy for the Kustomization to be healthy."""

    health_check_exprs: list[HealthCheckExpressions] = Field(default_factory=list)
    """CEL health rules for custom kinds, used by `wait` and `healthChecks`."""

    depends_on: list[DependencyReference] = Field(default_factory=list)
    """Kustomizations (or other objects) that must be ready before this one is reconciled."""

    ignore: list[DriftIgnoreRule] = Field(default_factory=list)
    """Fields that drift detection and apply leave alone."""

    post_build: PostBuild | None = None
    """Variable substitution on the built objects."""

    decryption: Decryption | None = None
    """Decryption of encrypted Secrets."""


class InventoryEntry(ApiModel):
    """One applied object."""

    id: str
    """`<namespace>_<name>_<group>_<kind>`, with empty namespace and group left empty."""

    version: str = Field(alias="v")
    """API version of the object."""


class ResourceInventory(ApiModel):
    """The objects a Kustomization applied last."""

    entries: list[InventoryEntry]
    """The applied objects."""


class ReconciliationSnapshot(ApiModel):
    """The outcome of the reconciliations of one set of desired objects."""

    digest: str
    """Checksum of the desired objects as `<algorithm>:<hex>`."""

    first_reconciled: Timestamp
    """When these objects were first reconciled."""

    last_reconciled: Timestamp
    """When these objects were last reconciled."""

    last_reconciled_duration: str
    """How long the last reconciliation took, as a Go duration."""

    last_reconciled_status: str
    """Reason of the last reconciliation's outcome."""

    total_reconciliations: int
    """How many times these objects were reconciled."""

    metadata: dict[str, str] = Field(default_factory=dict)
    """More about the snapshot, such as the source revision."""


class KustomizationStatus(ObjectStatus):
    """Observed state of a Kustomization."""

    last_applied_revision: str | None = None
    """Revision of the source artifact last applied successfully."""

    last_applied_origin_revision: str | None = None
    """Origin revision (`org.opencontainers.image.revision` of an OCI artifact) of the
    artifact last applied successfully."""

    last_attempted_revision: str | None = None
    """Revision of the source artifact last attempted."""

    inventory: ResourceInventory | None = None
    """The objects applied last."""

    history: list[ReconciliationSnapshot] = Field(default_factory=list)
    """The last reconciliations, most recent first."""


class Kustomization(ApiObject):
    """A set of objects built from a source and kept applied to a cluster."""

    api_version: Literal["kustomize.toolkit.fluxcd.io/v1"] = "kustomize.toolkit.fluxcd.io/v1"
    kind: Literal["Kustomization"] = "Kustomization"
    spec: KustomizationSpec
    status: KustomizationStatus | None = None
