"""The registry of served kinds: names, versions, printer columns and model of each.

`crds` generates one CustomResourceDefinition per entry; controllers and the
CLI look kinds up here to find the resource to watch and the model that
parses its objects.
"""

from dataclasses import dataclass

from lockstep.api.image import ImagePolicy, ImageRepository, ImageUpdateAutomation
from lockstep.api.kustomize import Kustomization
from lockstep.api.meta import ApiObject
from lockstep.api.notification import Receiver
from lockstep.api.source import GitRepository, OCIRepository


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
    model: type[ApiObject]

    @property
    def crd_name(self) -> str:
        """Name of the CustomResourceDefinition: `<plural>.<group>`."""
        return f"{self.plural}.{self.group}"

    @property
    def api_versions(self) -> tuple[str, ...]:
        """`<group>/<version>` of every served version."""
        return tuple(f"{self.group}/{version}" for version in self.served_versions)


SOURCE_GROUP = "source.toolkit.fluxcd.io"
KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io"
IMAGE_GROUP = "image.toolkit.fluxcd.io"
NOTIFICATION_GROUP = "notification.toolkit.fluxcd.io"

READY = PrinterColumn("Ready", "string", '.status.conditions[?(@.type=="Ready")].status')
STATUS = PrinterColumn("Status", "string", '.status.conditions[?(@.type=="Ready")].message')
AGE = PrinterColumn("Age", "date", ".metadata.creationTimestamp")
URL = PrinterColumn("URL", "string", ".spec.url")

KINDS: tuple[KindInfo, ...] = (
    KindInfo(
        kind="GitRepository",
        group=SOURCE_GROUP,
        plural="gitrepositories",
        singular="gitrepository",
        short_names=("gitrepo",),
        categories=("all", "fluxcd", "fluxcd-sources"),
        served_versions=("v1",),
        storage_version="v1",
        printer_columns=(URL, AGE, READY, STATUS),
        model=GitRepository,
    ),
    KindInfo(
        kind="OCIRepository",
        group=SOURCE_GROUP,
        plural="ocirepositories",
        singular="ocirepository",
        short_names=("ocirepo",),
        categories=("all", "fluxcd", "fluxcd-sources"),
        served_versions=("v1",),
        storage_version="v1",
        printer_columns=(URL, READY, STATUS, AGE),
        model=OCIRepository,
    ),
    KindInfo(
        kind="Kustomization",
        group=KUSTOMIZE_GROUP,
        plural="kustomizations",
        singular="kustomization",
        short_names=("ks",),
        categories=("all", "fluxcd", "fluxcd-appliers"),
        served_versions=("v1",),
        storage_version="v1",
        printer_columns=(AGE, READY, STATUS),
        model=Kustomization,
    ),
    KindInfo(
        kind="ImageRepository",
        group=IMAGE_GROUP,
        plural="imagerepositories",
        singular="imagerepository",
        short_names=("imgrepo", "imagerepo"),
        categories=("all", "fluxcd", "fluxcd-images"),
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
    ),
    KindInfo(
        kind="ImagePolicy",
        group=IMAGE_GROUP,
        plural="imagepolicies",
        singular="imagepolicy",
        short_names=("imgpol", "imagepol"),
        categories=("all", "fluxcd", "fluxcd-images"),
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
    ),
    KindInfo(
        kind="ImageUpdateAutomation",
        group=IMAGE_GROUP,
        plural="imageupdateautomations",
        singular="imageupdateautomation",
        short_names=("iua", "imgupd", "imgauto"),
        categories=("all", "fluxcd", "fluxcd-images"),
        served_versions=("v1beta2", "v1"),
        storage_version="v1",
        printer_columns=(
            READY,
            STATUS,
            PrinterColumn("Last run", "string", ".status.lastAutomationRunTime", priority=1),
            AGE,
        ),
        model=ImageUpdateAutomation,
    ),
    KindInfo(
        kind="Receiver",
        group=NOTIFICATION_GROUP,
        plural="receivers",
        singular="receiver",
        short_names=(),
        categories=("all", "fluxcd", "fluxcd-notifications"),
        served_versions=("v1",),
        storage_version="v1",
        printer_columns=(AGE, READY, STATUS),
        model=Receiver,
    ),
)


def find_kind(api_version: str, kind: str) -> KindInfo:
    """The served kind named `kind` at `api_version`, e.g. `source.toolkit.fluxcd.io/v1`.

    Raises LookupError when lockstep does not serve that kind at that version.
    """
    for info in KINDS:
        if info.kind == kind and api_version in info.api_versions:
            return info
    raise LookupError(f"{kind} at {api_version} is not a kind lockstep serves")
