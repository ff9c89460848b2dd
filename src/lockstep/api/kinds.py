"""The one kind table: names, groups, versions, printer columns and model of every served kind.

The kind names and API versions of the Flux toolkit APIs and of Argo CD's
Application and AppProject are written here (the models repeat their own as
`Literal` types, and the tests hold the models and the reconcilers to this
table). `crds` generates one CustomResourceDefinition per entry, so
`lockstep install --crds` installs Flux's complete CRD set and Argo CD's two;
the controller manager starts a kind's controller when the API server serves
the kind; the CLI looks kinds up here to name, list and parse objects.

A kind lockstep does not reconcile yet (`reconciled=False`) is still served, so
that Flux's own controllers can start against lockstep's CRDs, and Argo CD's
manifests apply before lockstep reconciles them. Without a model
its CRD keeps `spec` and `status` open, so no field of Flux's schema is ever
pruned.
"""

from dataclasses import dataclass

from lockstep.api.argo import Application, AppProject
from lockstep.api.helm import HelmRelease
from lockstep.api.image import ImagePolicy, ImageRepository, ImageUpdateAutomation
from lockstep.api.kustomize import Kustomization
from lockstep.api.meta import ApiObject
from lockstep.api.notification import Receiver
from lockstep.api.source import GitRepository, HelmChart, HelmRepository, OCIRepository


@dataclass(frozen=True)
class PrinterColumn:
    """A column `kubectl get` shows for a kind."""

    name: str
    type: str
    json_path: str
    priority: int = 0
    """0 shows the column always; higher values only with `-o wide`."""


@dataclass(frozen=True)
class KindInfo:
    """How one kind is named and served."""

    kind: str
    group: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    categories: tuple[str, ...]
    served_versions: tuple[str, ...]
    storage_version: str
    printer_columns: tuple[PrinterColumn, ...]
    model: type[ApiObject] | None
    """The typed model of the kind; `None` keeps `spec` and `status` open in the CRD."""

    reconciled: bool = True
    """Whether lockstep runs a controller for the kind; if not, the kind is only served."""

    status_subresource: bool = True
    """Whether objects have a status written through the `status` subresource."""

    command: str = ""
    """How the `lockstep` verbs name the kind, as `flux` does: `source git`, `kustomization`,
    `image policy`; every per-kind verb (reconcile, suspend, resume, delete, export) is
    generated from it for the kinds lockstep reconciles."""

    has_source: bool = False
    """Whether its objects name a source in `spec.sourceRef` (`reconcile --with-source`)."""

    @property
    def crd_name(self) -> str:
        """Name of the CustomResourceDefinition: `<plural>.<group>`."""
        return f"{self.plural}.{self.group}"

    @property
    def api_versions(self) -> tuple[str, ...]:
        """`<group>/<version>` of every served version."""
        return tuple(f"{self.group}/{version}" for version in self.served_versions)

    @property
    def api_version(self) -> str:
        """`<group>/<storage version>`: the version lockstep reads and writes."""
        return f"{self.group}/{self.storage_version}"


SOURCE_GROUP = "source.toolkit.fluxcd.io"
KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io"
HELM_GROUP = "helm.toolkit.fluxcd.io"
IMAGE_GROUP = "image.toolkit.fluxcd.io"
NOTIFICATION_GROUP = "notification.toolkit.fluxcd.io"
ARGO_GROUP = "argoproj.io"

RECONCILED_LABEL = "lockstep.io/reconciled"
"""Label on each CRD lockstep installs: `"true"` when lockstep reconciles the kind,
`"false"` when it only serves it (`kubectl get crds -l lockstep.io/reconciled=false`)."""

READY = PrinterColumn("Ready", "string", '.status.conditions[?(@.type=="Ready")].status')
STATUS = PrinterColumn("Status", "string", '.status.conditions[?(@.type=="Ready")].message')
AGE = PrinterColumn("Age", "date", ".metadata.creationTimestamp")
URL = PrinterColumn("URL", "string", ".spec.url")

SOURCE_CATEGORIES = ("all", "fluxcd", "fluxcd-sources")
APPLIER_CATEGORIES = ("all", "fluxcd", "fluxcd-appliers")
IMAGE_CATEGORIES = ("all", "fluxcd", "fluxcd-images")
NOTIFICATION_CATEGORIES = ("all", "fluxcd", "fluxcd-notifications")

GIT_REPOSITORY = KindInfo(
    kind="GitRepository",
    group=SOURCE_GROUP,
    plural="gitrepositories",
    singular="gitrepository",
    short_names=("gitrepo",),
    categories=SOURCE_CATEGORIES,
    served_versions=("v1",),
    storage_version="v1",
    printer_columns=(URL, AGE, READY, STATUS),
    model=GitRepository,
    command="source git",
)
OCI_REPOSITORY = KindInfo(
    kind="OCIRepository",
    group=SOURCE_GROUP,
    plural="ocirepositories",
    singular="ocirepository",
    short_names=("ocirepo",),
    categories=SOURCE_CATEGORIES,
    served_versions=("v1",),
    storage_version="v1",
    printer_columns=(URL, READY, STATUS, AGE),
    model=OCIRepository,
    command="source oci",
)
HELM_REPOSITORY = KindInfo(
    kind="HelmRepository",
    group=SOURCE_GROUP,
    plural="helmrepositories",
    singular="helmrepository",
    short_names=("helmrepo",),
    categories=SOURCE_CATEGORIES,
    served_versions=("v1",),
    storage_version="v1",
    printer_columns=(URL, AGE, READY, STATUS),
    model=HelmRepository,
    command="source helm",
)
HELM_CHART = KindInfo(
    kind="HelmChart",
    group=SOURCE_GROUP,
    plural="helmcharts",
    singular="helmchart",
    short_names=("hc",),
    categories=SOURCE_CATEGORIES,
    served_versions=("v1",),
    storage_version="v1",
    printer_columns=(
        PrinterColumn("Chart", "string", ".spec.chart"),
        PrinterColumn("Version", "string", ".spec.version"),
        PrinterColumn("Source Kind", "string", ".spec.sourceRef.kind"),
        PrinterColumn("Source Name", "string", ".spec.sourceRef.name"),
        AGE,
        READY,
        STATUS,
    ),
    model=HelmChart,
    command="source chart",
)
BUCKET = KindInfo(
    kind="Bucket",
    group=SOURCE_GROUP,
    plural="buckets",
    singular="bucket",
    short_names=(),
    categories=SOURCE_CATEGORIES,
    served_versions=("v1",),
    storage_version="v1",
    printer_columns=(PrinterColumn("Endpoint", "string", ".spec.endpoint"), AGE, READY, STATUS),
    model=None,
    reconciled=False,
    command="source bucket",
)
EXTERNAL_ARTIFACT = KindInfo(
    kind="ExternalArtifact",
    group=SOURCE_GROUP,
    plural="externalartifacts",
    singular="externalartifact",
    short_names=("ea",),
    categories=SOURCE_CATEGORIES,
    served_versions=("v1",),
    storage_version="v1",
    printer_columns=(AGE, READY, STATUS, PrinterColumn("Source", "string", ".spec.sourceRef.name")),
    model=None,
    reconciled=False,
    command="source external",
)
KUSTOMIZATION = KindInfo(
    kind="Kustomization",
    group=KUSTOMIZE_GROUP,
    plural="kustomizations",
    singular="kustomization",
    short_names=("ks",),
    categories=APPLIER_CATEGORIES,
    served_versions=("v1",),
    storage_version="v1",
    printer_columns=(AGE, READY, STATUS),
    model=Kustomization,
    command="kustomization",
    has_source=True,
)
HELM_RELEASE = KindInfo(
    kind="HelmRelease",
    group=HELM_GROUP,
    plural="helmreleases",
    singular="helmrelease",
    short_names=("hr",),
    categories=APPLIER_CATEGORIES,
    served_versions=("v2",),
    storage_version="v2",
    printer_columns=(AGE, READY, STATUS),
    model=HelmRelease,
    command="helmrelease",
    has_source=True,
)
IMAGE_REPOSITORY = KindInfo(
    kind="ImageRepository",
    group=IMAGE_GROUP,
    plural="imagerepositories",
    singular="imagerepository",
    short_names=("imgrepo", "imagerepo"),
    categories=IMAGE_CATEGORIES,
    served_versions=("v1beta2", "v1"),
    storage_version="v1",
    printer_columns=(
        PrinterColumn("Image", "string", ".spec.image"),
        PrinterColumn("Tags", "string", ".status.lastScanResult.tagCount"),
        READY,
        STATUS,
        PrinterColumn("Last scan", "string", ".status.lastScanResult.scanTime", priority=1),
        AGE,
    ),
    model=ImageRepository,
    command="image repository",
)
IMAGE_POLICY = KindInfo(
    kind="ImagePolicy",
    group=IMAGE_GROUP,
    plural="imagepolicies",
    singular="imagepolicy",
    short_names=("imgpol", "imagepol"),
    categories=IMAGE_CATEGORIES,
    served_versions=("v1beta2", "v1"),
    storage_version="v1",
    printer_columns=(
        PrinterColumn("Image", "string", ".status.latestRef.name"),
        PrinterColumn("Tag", "string", ".status.latestRef.tag"),
        READY,
        STATUS,
        AGE,
    ),
    model=ImagePolicy,
    command="image policy",
)
IMAGE_UPDATE_AUTOMATION = KindInfo(
    kind="ImageUpdateAutomation",
    group=IMAGE_GROUP,
    plural="imageupdateautomations",
    singular="imageupdateautomation",
    short_names=("iua", "imgupd", "imgauto"),
    categories=IMAGE_CATEGORIES,
    served_versions=("v1beta2", "v1"),
    storage_version="v1",
    printer_columns=(
        READY,
        STATUS,
        PrinterColumn("Last run", "string", ".status.lastAutomationRunTime", priority=1),
        AGE,
    ),
    model=ImageUpdateAutomation,
    command="image update",
)
RECEIVER = KindInfo(
    kind="Receiver",
    group=NOTIFICATION_GROUP,
    plural="receivers",
    singular="receiver",
    short_names=(),
    categories=NOTIFICATION_CATEGORIES,
    served_versions=("v1",),
    storage_version="v1",
    printer_columns=(AGE, READY, STATUS),
    model=Receiver,
    command="receiver",
)
ALERT = KindInfo(
    kind="Alert",
    group=NOTIFICATION_GROUP,
    plural="alerts",
    singular="alert",
    short_names=(),
    categories=NOTIFICATION_CATEGORIES,
    served_versions=("v1beta3",),
    storage_version="v1beta3",
    printer_columns=(AGE,),
    model=None,
    reconciled=False,
    status_subresource=False,
    command="alert",
)
PROVIDER = KindInfo(
    kind="Provider",
    group=NOTIFICATION_GROUP,
    plural="providers",
    singular="provider",
    short_names=(),
    categories=NOTIFICATION_CATEGORIES,
    served_versions=("v1beta3",),
    storage_version="v1beta3",
    printer_columns=(AGE,),
    model=None,
    reconciled=False,
    status_subresource=False,
    command="alert-provider",
)

APPLICATION = KindInfo(
    kind="Application",
    group=ARGO_GROUP,
    plural="applications",
    singular="application",
    short_names=("app", "apps"),
    # Argo CD's CRDs name no category, so `kubectl get all` leaves its kinds out.
    categories=(),
    served_versions=("v1alpha1",),
    storage_version="v1alpha1",
    printer_columns=(
        PrinterColumn("Sync Status", "string", ".status.sync.status"),
        PrinterColumn("Health Status", "string", ".status.health.status"),
        PrinterColumn("Revision", "string", ".status.sync.revision", priority=10),
        PrinterColumn("Project", "string", ".spec.project", priority=10),
    ),
    model=Application,
    # Argo CD writes an Application's status with a plain patch, not through a subresource.
    status_subresource=False,
)
APP_PROJECT = KindInfo(
    kind="AppProject",
    group=ARGO_GROUP,
    plural="appprojects",
    singular="appproject",
    short_names=("appproj", "appprojs"),
    categories=(),
    served_versions=("v1alpha1",),
    storage_version="v1alpha1",
    printer_columns=(),
    model=AppProject,
    reconciled=False,
    status_subresource=False,
)

KINDS: tuple[KindInfo, ...] = (
    GIT_REPOSITORY,
    OCI_REPOSITORY,
    HELM_REPOSITORY,
    HELM_CHART,
    BUCKET,
    EXTERNAL_ARTIFACT,
    KUSTOMIZATION,
    HELM_RELEASE,
    IMAGE_REPOSITORY,
    IMAGE_POLICY,
    IMAGE_UPDATE_AUTOMATION,
    RECEIVER,
    ALERT,
    PROVIDER,
    APPLICATION,
    APP_PROJECT,
)
"""Every served kind: Flux's sources, appliers, image automation and notifications, then
Argo CD's Application and AppProject."""

RECONCILED_KINDS: tuple[KindInfo, ...] = tuple(info for info in KINDS if info.reconciled)
"""The kinds lockstep runs a controller for."""


def find_kind(api_version: str, kind: str) -> KindInfo:
    """The served kind named `kind` at `api_version`, e.g. `source.toolkit.fluxcd.io/v1`.

    Raises LookupError when lockstep does not serve that kind at that version.
    """
    for info in KINDS:
        if info.kind == kind and api_version in info.api_versions:
            return info
    raise LookupError(f"{kind} at {api_version} is not a kind lockstep serves")


def kind_info(kind: str) -> KindInfo:
    """The served kind named `kind` in any of its groups' versions, e.g. `HelmRelease`.

    Raises LookupError for a kind lockstep does not serve.
    """
    for info in KINDS:
        if info.kind == kind:
            return info
    raise LookupError(f"{kind} is not a kind lockstep serves")
