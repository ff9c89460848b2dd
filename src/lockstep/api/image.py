"""Models of image.toolkit.fluxcd.io: ImageRepository, ImagePolicy, ImageUpdateAutomation.

Versions v1beta2 and v1 share these models. The image scanner reads
ImageRepository specs and writes the scan results; the policy controller picks
the latest image for each ImagePolicy; the update automation controller
rewrites setter markers in Git for each ImageUpdateAutomation. `kinds`
registers the three kinds.
"""

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from lockstep.api.meta import (
    ApiModel,
    ApiObject,
    Duration,
    LabelSelector,
    LocalObjectReference,
    NamespacedObjectReference,
    ObjectStatus,
    Timestamp,
    server_default,
)
from lockstep.api.source import GitRepositoryRef

ImageApiVersion = Literal["image.toolkit.fluxcd.io/v1beta2", "image.toolkit.fluxcd.io/v1"]
"""The served versions of the image API; they share one schema."""

SortOrder = Literal["asc", "desc"]
"""`asc` elects the highest tag, `desc` the lowest."""

DEFAULT_TAG_EXCLUSION = r"^.*\.sig$"
"""Tags left out of scans by default: cosign signatures."""


class NamespaceSelector(ApiModel):
    """Namespaces whose labels include all of `matchLabels`."""

    match_labels: dict[str, str] = Field(default_factory=dict)
    """Labels the namespace must carry with exactly these values."""


class AccessFrom(ApiModel):
    """Which other namespaces may refer to an object (Flux's cross-namespace ACL)."""

    namespace_selectors: list[NamespaceSelector]
    """Namespaces matching any of these selectors are granted access."""


class ImageRepositorySpec(ApiModel):
    """Desired state of an ImageRepository: which image to scan for tags, and how often."""

    image: str
    """Image repository to scan, for example `ghcr.io/acme/app`."""

    interval: Duration
    """How often to scan."""

    timeout: Duration | None = None
    """Time limit for a scan; `interval` when omitted."""

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
    """Whether to fall back to plain HTTP when HTTPS cannot connect."""

    access_from: AccessFrom | None = None
    """Namespaces whose ImagePolicies may use this repository; only its own without it."""

    provider: Literal["generic", "aws", "azure", "gcp"] = server_default("generic")
    """Where registry credentials come from: `generic` uses `secretRef` and the
    ServiceAccount's pull secrets; `aws`, `azure` and `gcp` need cloud identity, not
    supported yet."""

    exclusion_list: Annotated[list[str], Field(max_length=25)] = server_default(
        [DEFAULT_TAG_EXCLUSION]
    )
    """Regular expressions; tags matching any of them are not stored."""

    suspend: bool = False
    """Whether scanning is paused."""


class ScanResult(ApiModel):
    """What the last scan of an image repository found."""

    revision: str | None = None
    """A stable hash of the tags found."""

    tag_count: int
    """How many tags were found."""

    scan_time: Timestamp | None = None
    """When the scan that found these tags ran; a rescan finding the same tags leaves it."""

    latest_tags: list[str] = Field(default_factory=list)
    """A sample of the tags: the first ten in descending alphabetical order."""


class ImageRepositoryStatus(ObjectStatus):
    """Observed state of an ImageRepository."""

    canonical_image_name: str | None = None
    """The image name with implied parts spelled out, e.g. `index.docker.io/library/alpine`."""

    last_scan_result: ScanResult | None = None
    """The outcome of the last scan."""

    observed_exclusion_list: list[str] = Field(default_factory=list)
    """The exclusion list the last scan applied."""


class ImageRepository(ApiObject):
    """An image repository whose tags lockstep scans."""

    api_version: ImageApiVersion = "image.toolkit.fluxcd.io/v1"
    kind: Literal["ImageRepository"] = "ImageRepository"
    spec: ImageRepositorySpec
    status: ImageRepositoryStatus | None = None


class SemVerPolicy(ApiModel):
    """Elect the highest tag that is a version within a range."""

    range: str
    """SemVer range, for example `^1.2.x` or `>=1.0.0 <2.0.0`."""


class AlphabeticalPolicy(ApiModel):
    """Elect a tag by alphabetical order."""

    order: SortOrder = server_default("asc")
    """Sort order of the tags."""


class NumericalPolicy(ApiModel):
    """Elect a tag by numerical order; tags must be numbers."""

    order: SortOrder = server_default("asc")
    """Sort order of the tags."""


class ImagePolicyChoice(ApiModel):
    """The rule that elects the latest tag; set exactly one field."""

    semver: SemVerPolicy | None = None
    """Highest version within a SemVer range."""

    alphabetical: AlphabeticalPolicy | None = None
    """Alphabetical order."""

    numerical: NumericalPolicy | None = None
    """Numerical order."""


class TagFilter(ApiModel):
    """Filter tags by a regular expression before the policy elects one."""

    pattern: str | None = None
    """Regular expression the tags must match."""

    extract: str | None = None
    """Replacement such as `$version` computing the value the policy compares."""


class ImageRef(ApiModel):
    """A container image reference split into its parts."""

    name: str
    """Image name without tag."""

    tag: str
    """Image tag."""

    digest: str | None = None
    """Manifest digest, when reflected."""


class ImagePolicySpec(ApiModel):
    """Desired state of an ImagePolicy: which repository and which rule elects the latest image."""

    image_repository_ref: NamespacedObjectReference
    """The ImageRepository whose tags are considered."""

    policy: ImagePolicyChoice
    """The rule that elects the latest tag."""

    filter_tags: TagFilter | None = None
    """Filter applied to tags before the rule; all tags when omitted."""

    digest_reflection_policy: Literal["Always", "IfNotPresent", "Never"] = server_default("Never")
    """When `status.latestRef.digest` is filled in: always, once, or never."""

    interval: Duration | None = None
    """How often to refresh the digest when `digestReflectionPolicy` is `Always`."""

    suspend: bool = False
    """Whether electing the latest image is paused."""


class ImagePolicyStatus(ObjectStatus):
    """Observed state of an ImagePolicy."""

    latest_ref: ImageRef | None = None
    """The elected image."""

    observed_previous_ref: ImageRef | None = None
    """The image elected before `latestRef`."""

    latest_image: str | None = None
    """The elected image as `name:tag`, the form v1beta2 clients read."""


class ImagePolicy(ApiObject):
    """A rule electing the latest image among the tags of an ImageRepository."""

    api_version: ImageApiVersion = "image.toolkit.fluxcd.io/v1"
    kind: Literal["ImagePolicy"] = "ImagePolicy"
    spec: ImagePolicySpec
    status: ImagePolicyStatus | None = None


class GitRepositorySourceReference(ApiModel):
    """The GitRepository an ImageUpdateAutomation commits to."""

    api_version: str | None = None
    """Group and version of the source."""

    kind: Literal["GitRepository"] = server_default("GitRepository")
    """Kind of the source."""

    name: str
    """Name of the GitRepository."""

    namespace: str | None = None
    """Namespace of the GitRepository; the automation's namespace when omitted."""


class UpdateStrategy(ApiModel):
    """How files are updated."""

    strategy: Literal["Setters"] = server_default("Setters")
    """`Setters` rewrites the values marked with `# {"$imagepolicy": "<ns>:<policy>"}` comments."""

    path: str | None = None
    """Directory whose files are updated; the repository root when omitted."""


class GitCheckout(ApiModel):
    """What to clone before updating files."""

    ref: GitRepositoryRef
    """The reference to check out."""


class CommitAuthor(ApiModel):
    """The author of automation commits."""

    name: str | None = None
    """Author name."""

    email: str
    """Author email."""


class SigningKey(ApiModel):
    """An OpenPGP key that signs automation commits."""

    secret_ref: LocalObjectReference
    """Secret holding the armored key under `git.asc`, and its `passphrase` if any."""


class GitCommit(ApiModel):
    """How automation commits are written."""

    author: CommitAuthor
    """The commit author."""

    signing_key: SigningKey | None = None
    """Key to sign commits with; unsigned when omitted."""

    message_template: str | None = None
    """Go text/template for the commit message, with `.AutomationObject` and `.Changed`."""

    message_template_values: dict[str, str] = Field(default_factory=dict)
    """Extra values available to the template as `.Values`."""


class GitPush(ApiModel):
    """Where automation commits are pushed."""

    branch: str | None = None
    """Branch to push to, created from the checkout branch if missing."""

    refspec: Annotated[str, StringConstraints(pattern=r"^$|^[^+:]")] | None = None
    """Refspec to push with, in addition to `branch`; force and delete refspecs are refused."""

    options: dict[str, str] = Field(default_factory=dict)
    """Git push options sent to the server."""


class GitUpdate(ApiModel):
    """Git settings of an ImageUpdateAutomation."""

    checkout: GitCheckout | None = None
    """What to clone; the GitRepository's own reference when omitted."""

    commit: GitCommit
    """How to commit."""

    push: GitPush | None = None
    """Where to push; the checked out branch when omitted."""


class ImageUpdateAutomationSpec(ApiModel):
    """Desired state of an ImageUpdateAutomation: which repository to update, how, and how often."""

    source_ref: GitRepositorySourceReference
    """The GitRepository to update."""

    interval: Duration
    """How often to run the automation."""

    policy_selector: LabelSelector | None = None
    """Labels selecting the ImagePolicies to apply; all in the namespace when omitted."""

    update: UpdateStrategy = server_default(UpdateStrategy(strategy="Setters"))
    """How files are updated."""

    git: GitUpdate | None = None
    """How to commit and push the changes."""

    suspend: bool = False
    """Whether the automation is paused."""


class ImageUpdateAutomationStatus(ObjectStatus):
    """Observed state of an ImageUpdateAutomation."""

    last_automation_run_time: Timestamp | None = None
    """When the automation last ran to completion, whether or not it changed anything."""

    last_push_commit: str | None = None
    """SHA of the last commit pushed."""

    last_push_time: Timestamp | None = None
    """When a commit was last pushed."""

    observed_policies: dict[str, ImageRef] = Field(default_factory=dict)
    """The elected image of each ImagePolicy considered, by policy name."""

    observed_source_revision: str | None = None
    """The source revision the last run started from."""


class ImageUpdateAutomation(ApiObject):
    """Commits the images elected by ImagePolicies back to a Git repository."""

    api_version: ImageApiVersion = "image.toolkit.fluxcd.io/v1"
    kind: Literal["ImageUpdateAutomation"] = "ImageUpdateAutomation"
    spec: ImageUpdateAutomationSpec
    status: ImageUpdateAutomationStatus | None = None
