"""Models of source.toolkit.fluxcd.io: GitRepository, OCIRepository, HelmRepository, HelmChart.

The source controllers read these specs to fetch and pack artifacts and write
the statuses; the Kustomization and image automation controllers read the
statuses to find the artifact to build from (the Helm controller the chart). `kinds`
registers the kinds.
"""

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from lockstep.api.meta import (
    ApiModel,
    ApiObject,
    Artifact,
    Duration,
    LocalObjectReference,
    ObjectStatus,
    server_default,
)

GitVerificationMode = Literal["head", "HEAD", "Tag", "TagAndHEAD"]
"""Which Git objects to verify; `head` is the legacy spelling of `HEAD`."""

GitProvider = Literal["generic", "aws", "azure", "github"]
"""Where a GitRepository's credentials come from."""

OCIProvider = Literal["generic", "aws", "azure", "gcp"]
"""Where registry credentials come from; `generic` is `secretRef` and ServiceAccount pull secrets."""


class GitRepositoryRef(ApiModel):
    """The Git reference to check out.

    When several fields are set, the most specific wins: commit, then name,
    then semver, then tag, then branch. With none set, the controller checks
    out the `master` branch.
    """

    branch: str | None = None
    """Branch to check out."""

    tag: str | None = None
    """Tag to check out."""

    semver: str | None = None
    """SemVer range; the highest matching tag is checked out."""

    name: str | None = None
    """Full reference name, for example `refs/heads/main` or `refs/pull/1/head`; a short
    name (`main`, `v1.0.0`) is read as a branch, else a tag (Flux needs the full name)."""

    commit: str | None = None
    """Commit SHA to check out; with `branch`, the branch is cloned shallowly to reach it."""


class GitRepositoryInclude(ApiModel):
    """The artifact of another GitRepository to copy into this one's artifact."""

    repository: LocalObjectReference
    """The GitRepository whose artifact is included."""

    from_path: str | None = None
    """Directory of the included artifact to copy; its root when omitted."""

    to_path: str | None = None
    """Directory to copy into; the included repository's name when omitted."""


class GitRepositoryVerification(ApiModel):
    """How to verify OpenPGP signatures of the checked out commit or tag."""

    mode: GitVerificationMode = server_default("HEAD")
    """Which Git objects must carry a valid signature."""

    secret_ref: LocalObjectReference
    """Secret holding the public keys of trusted authors."""


class GitRepositorySpec(ApiModel):
    """Desired state of a GitRepository: what to fetch and how often."""

    url: Annotated[str, StringConstraints(pattern=r"^(http|https|ssh|git)://.*$")]
    """Address of the repository: an http, https or ssh URL (git:// too, for local servers)."""

    secret_ref: LocalObjectReference | None = None
    """Secret with credentials: `username` and `password` or `bearerToken` for
    HTTPS, `identity` and `known_hosts` for SSH."""

    provider: GitProvider | None = None
    """Where credentials come from: `generic` (the default) uses `secretRef`; `aws`,
    `azure` and `github` need cloud identity or a GitHub App, not supported yet."""

    service_account_name: str | None = None
    """ServiceAccount whose identity authenticates to the `aws` or `azure` provider."""

    proxy_secret_ref: LocalObjectReference | None = None
    """Secret with the proxy to reach the Git server through: `address`, and
    optionally `username` and `password`."""

    interval: Duration
    """How often to check the repository for new commits."""

    timeout: Duration = server_default("60s")
    """Time limit for Git operations such as clone."""

    ref: GitRepositoryRef | None = None
    """The Git reference to check out."""

    ignore: str | None = None
    """Paths to leave out of the artifact, in .gitignore syntax; applied after the default exclusions."""

    include: list[GitRepositoryInclude] = Field(default_factory=list)
    """Artifacts of other GitRepositories to copy into this one's artifact."""

    sparse_checkout: list[str] = Field(default_factory=list)
    """Directories to check out; the whole tree when empty."""

    recurse_submodules: bool = False
    """Whether to clone submodules too."""

    verify: GitRepositoryVerification | None = None
    """Signature verification of the checked out commit or tag."""

    suspend: bool = False
    """Whether reconciliation is paused."""


class SourceStatus(ObjectStatus):
    """Status fields every source kind reports."""

    artifact: Artifact | None = None
    """The artifact of the last successful reconciliation."""

    observed_ignore: str | None = None
    """The ignore patterns the current artifact was built with."""


class GitRepositoryStatus(SourceStatus):
    """Observed state of a GitRepository."""

    included_artifacts: list[Artifact] = Field(default_factory=list)
    """Artifacts of the included repositories, in the order of `spec.include`."""

    observed_recurse_submodules: bool = False
    """Whether the current artifact was built with submodules."""

    observed_include: list[GitRepositoryInclude] = Field(default_factory=list)
    """The includes the current artifact was built with."""

    observed_sparse_checkout: list[str] = Field(default_factory=list)
    """The sparse checkout directories the current artifact was built with."""

    source_verification_mode: GitVerificationMode | None = None
    """The verification mode the current artifact was checked with."""


class GitRepository(ApiObject):
    """A Git repository that lockstep fetches and packs into an artifact."""

    api_version: Literal["source.toolkit.fluxcd.io/v1"] = "source.toolkit.fluxcd.io/v1"
    kind: Literal["GitRepository"] = "GitRepository"
    spec: GitRepositorySpec
    status: GitRepositoryStatus | None = None


class OCIRepositoryRef(ApiModel):
    """The OCI artifact to pull: the most specific of digest, semver and tag wins."""

    tag: str | None = None
    """Tag to pull; `latest` when nothing else is set."""

    semver: str | None = None
    """SemVer range; the highest matching tag is pulled."""

    semver_filter: str | None = None
    """Regular expression that tags must match to be considered for `semver`."""

    digest: str | None = None
    """Manifest digest to pull, as `sha256:<hex>`."""


class OCILayerSelector(ApiModel):
    """Which layer of the OCI artifact becomes the source artifact, and how."""

    media_type: str | None = None
    """Media type of the layer; the first layer when omitted."""

    operation: Literal["extract", "copy"] | None = None
    """`extract` unpacks the layer (the default); `copy` stores it as it is."""


class OIDCIdentityMatch(ApiModel):
    """Regular expressions that a keyless signing certificate's identity must match."""

    issuer: str
    """Pattern for the OIDC issuer."""

    subject: str
    """Pattern for the identity subject."""


class OCIRepositoryVerification(ApiModel):
    """How to verify the signature of the OCI artifact."""

    provider: Literal["cosign", "notation"] = server_default("cosign")
    """The signing technology."""

    secret_ref: LocalObjectReference | None = None
    """Secret holding the trusted public keys."""

    match_oidc_identity: list[OIDCIdentityMatch] = Field(
        default_factory=list, alias="matchOIDCIdentity"
    )
    """Accepted identities for keyless signatures; any one match suffices."""


class OCIRepositorySpec(ApiModel):
    """Desired state of an OCIRepository: which artifact to pull and how often."""

    url: Annotated[str, StringConstraints(pattern=r"^oci://.*$")]
    """Repository address as `oci://host/repository`."""

    ref: OCIRepositoryRef | None = None
    """The artifact to pull; the `latest` tag when omitted."""

    layer_selector: OCILayerSelector | None = None
    """Which layer to use; the first layer when omitted."""

    provider: OCIProvider = server_default("generic")
    """Where registry credentials come from: `generic` uses `secretRef` and the
    ServiceAccount's pull secrets; `aws`, `azure` and `gcp` need cloud identity, not
    supported yet."""

    secret_ref: LocalObjectReference | None = None
    """Secret of type kubernetes.io/dockerconfigjson with registry credentials."""

    service_account_name: str | None = None
    """ServiceAccount whose `imagePullSecrets` hold registry credentials too."""

    cert_secret_ref: LocalObjectReference | None = None
    """Secret with a client certificate (`tls.crt`, `tls.key`) and/or a CA (`ca.crt`)."""

    proxy_secret_ref: LocalObjectReference | None = None
    """Secret with the proxy to reach the registry through: `address`, and optionally
    `username` and `password`."""

    insecure: bool = False
    """Whether to accept any TLS certificate and fall back to plain HTTP."""

    ignore: str | None = None
    """Paths to leave out of the artifact, in .gitignore syntax; applied after the default exclusions."""

    interval: Duration
    """How often to check the registry for a new artifact."""

    timeout: Duration = server_default("60s")
    """Time limit for registry operations such as pull."""

    verify: OCIRepositoryVerification | None = None
    """Signature verification of the pulled artifact."""

    suspend: bool = False
    """Whether reconciliation is paused."""


class OCIRepositoryStatus(SourceStatus):
    """Observed state of an OCIRepository."""

    url: str | None = None
    """Download address of the current artifact."""

    observed_layer_selector: OCILayerSelector | None = None
    """The layer selector the current artifact was built with."""


class OCIRepository(ApiObject):
    """An OCI artifact that lockstep pulls into the artifact store."""

    api_version: Literal["source.toolkit.fluxcd.io/v1"] = "source.toolkit.fluxcd.io/v1"
    kind: Literal["OCIRepository"] = "OCIRepository"
    spec: OCIRepositorySpec
    status: OCIRepositoryStatus | None = None


HelmRepositoryType = Literal["default", "oci"]
"""`default` is an HTTP repository with an `index.yaml`; `oci` a registry of OCI charts."""


class NamespaceSelector(ApiModel):
    """Namespaces selected by their labels."""

    match_labels: dict[str, str] = Field(default_factory=dict)
    """Labels a namespace must carry, all of them."""


class AccessFrom(ApiModel):
    """Namespaces whose objects may refer to this one (kept for Flux compatibility; lockstep,
    like Flux without multi-tenancy lockdown, does not restrict cross-namespace references)."""

    namespace_selectors: list[NamespaceSelector]
    """Selectors of the namespaces allowed; any one match suffices."""


class HelmRepositorySpec(ApiModel):
    """Desired state of a HelmRepository: where charts are served and how to reach it."""

    url: Annotated[str, StringConstraints(pattern=r"^(http|https|oci)://.*$")]
    """Address of the repository: an http(s) URL serving `index.yaml`, or `oci://host/path`
    for a registry of OCI charts."""

    secret_ref: LocalObjectReference | None = None
    """Secret with credentials: `username` and `password` for HTTP basic auth, or a
    `kubernetes.io/dockerconfigjson` Secret for an OCI registry."""

    cert_secret_ref: LocalObjectReference | None = None
    """Secret with a client certificate (`tls.crt`, `tls.key`) and/or a CA (`ca.crt`)."""

    pass_credentials: bool = False
    """Whether credentials are sent to chart hosts other than the repository's own."""

    interval: Duration | None = None
    """How often to fetch the index again."""

    insecure: bool = False
    """For an OCI registry: whether plain HTTP is allowed."""

    timeout: Duration | None = None
    """Time limit for fetching the index or a chart; 60s when omitted."""

    suspend: bool = False
    """Whether reconciliation is paused."""

    access_from: AccessFrom | None = None
    """Namespaces whose objects may refer to this repository."""

    type: HelmRepositoryType | None = None
    """The kind of repository: `default` (HTTP) or `oci`; `default` when omitted."""

    provider: OCIProvider = server_default("generic")
    """Where OCI credentials come from: `generic` uses `secretRef`; `aws`, `azure` and `gcp`
    need cloud identity, not supported yet."""


class HelmRepositoryStatus(SourceStatus):
    """Observed state of a HelmRepository."""

    url: str | None = None
    """Download address of the current index artifact."""


class HelmRepository(ApiObject):
    """A Helm chart repository: its index is fetched into the artifact store."""

    api_version: Literal["source.toolkit.fluxcd.io/v1"] = "source.toolkit.fluxcd.io/v1"
    kind: Literal["HelmRepository"] = "HelmRepository"
    spec: HelmRepositorySpec
    status: HelmRepositoryStatus | None = None


class ChartSourceReference(ApiModel):
    """The source a HelmChart takes its chart from, in the HelmChart's namespace."""

    api_version: str | None = None
    """API version of the source; `source.toolkit.fluxcd.io/v1` when omitted."""

    kind: Literal["HelmRepository", "GitRepository", "Bucket"]
    """Kind of the source."""

    name: str
    """Name of the source."""


HelmChartVerification = OCIRepositoryVerification
"""A chart pulled from an OCI registry is verified as an OCIRepository's artifact is."""


class HelmChartSpec(ApiModel):
    """Desired state of a HelmChart: which chart, which version, from where."""

    chart: Annotated[str, StringConstraints(min_length=1)]
    """Name of the chart in a HelmRepository, or its folder in a GitRepository."""

    version: str = server_default("*")
    """SemVer range of the chart version; the highest match is packaged. Ignored for charts
    from a GitRepository, whose version is that of their Chart.yaml."""

    source_ref: ChartSourceReference
    """The source of the chart."""

    interval: Duration
    """How often to check the source for a new chart."""

    reconcile_strategy: Literal["ChartVersion", "Revision"] = server_default("ChartVersion")
    """When a new artifact is made: on a new chart version, or also on a new revision of the
    source (the source revision then joins the artifact's revision as build metadata)."""

    values_files: list[str] = Field(default_factory=list)
    """Values files of the chart merged in order into its values.yaml."""

    ignore_missing_values_files: bool = False
    """Whether a values file the chart lacks is skipped rather than an error."""

    suspend: bool = False
    """Whether reconciliation is paused."""

    verify: HelmChartVerification | None = None
    """Signature verification of a chart pulled from an OCI registry."""

    access_from: AccessFrom | None = None
    """Namespaces whose objects may refer to this chart."""


class HelmChartStatus(SourceStatus):
    """Observed state of a HelmChart."""

    observed_source_artifact_revision: str | None = None
    """The revision of the source artifact the current chart was built from."""

    observed_chart_name: str | None = None
    """The name of the chart in the current artifact."""

    observed_values_files: list[str] = Field(default_factory=list)
    """The values files the current artifact was built with."""

    url: str | None = None
    """Download address of the current chart artifact."""


class HelmChart(ApiObject):
    """A Helm chart fetched from a source and packaged into the artifact store."""

    api_version: Literal["source.toolkit.fluxcd.io/v1"] = "source.toolkit.fluxcd.io/v1"
    kind: Literal["HelmChart"] = "HelmChart"
    spec: HelmChartSpec
    status: HelmChartStatus | None = None
