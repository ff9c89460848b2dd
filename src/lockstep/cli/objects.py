"""The Flux objects the flux-style commands act on, and how a command finds one.

``get``, ``tree``, ``events``, ``trace``, ``reconcile``, ``suspend``, ``resume``,
``create`` and ``delete`` all name objects the same way: one of the kinds below,
a name, and a namespace that defaults to the kubeconfig context's namespace.
A missing object or an API server without lockstep's CRDs becomes one
:class:`UserError` line with a hint, exiting 2 (the command named something that
is not there), so a pipeline can tell it from a failed reconciliation (1).

Used by the command modules of :mod:`lockstep.cli`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from lightkube import ConfigError, KubeConfig

from lockstep.api.kinds import KINDS, KindInfo
from lockstep.cli.context import CliState, UserError
from lockstep.kube import KubeClient, KubeObject, NotFound, ObjectRef

DEFAULT_NAMESPACE = "default"
USAGE_ERROR = 2
"""Exit code when the command names something that does not exist, as for bad options."""

NamespaceOption = Annotated[
    str | None,
    typer.Option(
        "--namespace",
        "-n",
        help="Namespace of the objects; the kubeconfig context's namespace when omitted.",
    ),
]
AllNamespacesOption = Annotated[
    bool, typer.Option("--all-namespaces", "-A", help="Include every namespace.")
]


@dataclass(frozen=True)
class FluxKind:
    """A kind the commands act on, and how the commands spell it."""

    kind: str
    api_version: str
    command: str
    """How the verbs name it: ``kustomization``, ``source git``, ``image update``."""
    get_command: str
    """The ``lockstep`` command that lists objects of this kind."""
    aliases: tuple[str, ...] = ()
    """Other words for the last word of ``command``: ``ks`` for ``kustomization``."""
    has_source: bool = False
    """Whether its objects name a source (``spec.sourceRef``) that ``--with-source`` reconciles."""

    @property
    def noun(self) -> str:
        """The kind in messages: ``kustomization``, ``gitrepository``."""
        return self.kind.lower()

    def ref(self, name: str, namespace: str) -> ObjectRef:
        return ObjectRef(self.api_version, self.kind, name, namespace)


def _get_command(info: KindInfo) -> str:
    """The ``lockstep get`` command that lists a kind: ``get sources git``, ``get ks``."""
    family, _, last = info.command.rpartition(" ")
    if family:
        return f"get {family}s {last}"
    return f"get {info.short_names[0] if info.short_names else info.plural}"


def flux_kind(info: KindInfo) -> FluxKind:
    """How the commands spell a kind of the kind table."""
    single_word = " " not in info.command
    return FluxKind(
        kind=info.kind,
        api_version=info.api_version,
        command=info.command,
        get_command=_get_command(info),
        aliases=info.short_names if single_word else (),
        has_source=info.has_source,
    )


def _family_order(info: KindInfo) -> int:
    # In the order ``flux get all`` lists them: sources, image automation, then the rest.
    return (
        0 if info.command.startswith("source ") else 1 if info.command.startswith("image ") else 2
    )


FLUX_KINDS = tuple(
    flux_kind(info) for info in sorted(KINDS, key=_family_order) if info.reconciled and info.command
)
"""Every kind lockstep reconciles, as the commands spell it; the per-kind verbs are made
for each (:mod:`lockstep.cli.verbs`), so a kind added to the table gets them all."""


def _flux_kind_of(kind: str) -> FluxKind:
    return next(flux for flux in FLUX_KINDS if flux.kind == kind)


GIT_REPOSITORY = _flux_kind_of("GitRepository")
OCI_REPOSITORY = _flux_kind_of("OCIRepository")
HELM_REPOSITORY = _flux_kind_of("HelmRepository")
HELM_CHART = _flux_kind_of("HelmChart")
KUSTOMIZATION = _flux_kind_of("Kustomization")
HELM_RELEASE = _flux_kind_of("HelmRelease")
RECEIVER = _flux_kind_of("Receiver")
IMAGE_REPOSITORY = _flux_kind_of("ImageRepository")
IMAGE_POLICY = _flux_kind_of("ImagePolicy")
IMAGE_UPDATE_AUTOMATION = _flux_kind_of("ImageUpdateAutomation")

SOURCE_KINDS = tuple(kind for kind in FLUX_KINDS if kind.command.startswith("source "))
IMAGE_KINDS = tuple(kind for kind in FLUX_KINDS if kind.command.startswith("image "))


def source_kind(kind: str) -> FluxKind:
    """The source kind a ``sourceRef`` names; UserError for kinds lockstep does not serve."""
    for candidate in SOURCE_KINDS:
        if candidate.kind == kind:
            return candidate
    raise UserError(
        f"source kind {kind} is not served by lockstep",
        hint=f"use one of {', '.join(candidate.kind for candidate in SOURCE_KINDS)}",
        code=USAGE_ERROR,
    )


def _served_kind_named(word: str) -> KindInfo | None:
    lowered = word.lower()
    for info in KINDS:
        if lowered in (info.kind.lower(), info.singular, info.plural, *info.short_names):
            return info
    return None


def flux_kind_named(word: str) -> FluxKind | None:
    """The kind ``word`` names by kind, singular, plural or short name (``ks``), in any case."""
    info = _served_kind_named(word)
    return next((kind for kind in FLUX_KINDS if info and kind.kind == info.kind), None)


_BUILT_IN: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("v1", "ConfigMap", ("cm",)),
    ("v1", "Secret", ()),
    ("v1", "Service", ("svc",)),
    ("v1", "ServiceAccount", ("sa",)),
    ("v1", "Namespace", ("ns",)),
    ("v1", "PersistentVolumeClaim", ("pvc",)),
    ("v1", "Pod", ("po",)),
    ("apps/v1", "Deployment", ("deploy",)),
    ("apps/v1", "StatefulSet", ("sts",)),
    ("apps/v1", "DaemonSet", ("ds",)),
    ("batch/v1", "Job", ()),
    ("batch/v1", "CronJob", ("cj",)),
    ("networking.k8s.io/v1", "Ingress", ("ing",)),
    ("networking.k8s.io/v1", "NetworkPolicy", ("netpol",)),
    ("rbac.authorization.k8s.io/v1", "Role", ()),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", ()),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", ()),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", ()),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition", ("crd", "crds")),
    ("autoscaling/v2", "HorizontalPodAutoscaler", ("hpa",)),
)


def _plural(kind: str) -> str:
    lowered = kind.lower()
    if lowered.endswith("y"):
        return lowered[:-1] + "ies"
    return lowered + ("es" if lowered.endswith("s") else "s")


BUILT_IN_KINDS: dict[str, tuple[str, str]] = {
    word: (api_version, kind)
    for api_version, kind, short_names in _BUILT_IN
    for word in (kind.lower(), _plural(kind), *short_names)
}
"""Common built-in kinds by lowercase kind, plural and short name, found without discovery."""


def kind_named(word: str) -> tuple[str, str] | None:
    """``(apiVersion, kind)`` of a kind lockstep serves or a common built-in one, by any usual
    spelling; ``None`` for other kinds."""
    info = _served_kind_named(word)
    if info is not None:
        return f"{info.group}/{info.storage_version}", info.kind
    return BUILT_IN_KINDS.get(word.lower())


def default_namespace(cli: CliState) -> str:
    """The namespace of the kubeconfig context in use, or ``default``.

    A kubeconfig that cannot be read yields ``default`` here; connecting to the
    cluster reports the problem with its own message.
    """
    try:
        kubeconfig = (
            KubeConfig.from_file(cli.kubeconfig) if cli.kubeconfig else KubeConfig.from_env()
        )
        config = kubeconfig.get(context_name=cli.context)
    except ConfigError:
        return DEFAULT_NAMESPACE
    return config.namespace if config else DEFAULT_NAMESPACE


def namespace_or_default(cli: CliState, namespace: str | None) -> str:
    return namespace if namespace else default_namespace(cli)


async def ensure_served(kube: KubeClient, kind: FluxKind) -> None:
    """Fail with a hint to install the CRDs when the API server does not serve ``kind``."""
    try:
        await kube.resource_info(kind.api_version, kind.kind)
    except NotFound as error:
        raise UserError(
            f"the cluster at {kube.server} does not serve {kind.kind} ({kind.api_version})",
            hint="install lockstep's CRDs: lockstep install --crds",
        ) from error


async def fetch(kube: KubeClient, kind: FluxKind, name: str, namespace: str) -> KubeObject:
    """Read one object; UserError naming it, and where to look, when it does not exist."""
    await ensure_served(kube, kind)
    try:
        return await kube.get(kind.ref(name, namespace))
    except NotFound as error:
        raise not_found(kind, name, namespace) from error


def not_found(kind: FluxKind, name: str, namespace: str | None) -> UserError:
    """The error for a missing object; ``namespace`` ``None`` when every one was searched."""
    where = f"in namespace {namespace}" if namespace else "in any namespace"
    return UserError(
        f"{kind.noun} {name} not found {where}",
        hint=f"pick the namespace with -n, or list them all: lockstep {kind.get_command} -A",
        code=USAGE_ERROR,
    )


def condition(obj: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    """The status condition of type ``kind``, or ``None``."""
    for entry in (obj.get("status") or {}).get("conditions") or []:
        if entry.get("type") == kind:
            return dict(entry)
    return None


def is_suspended(obj: Mapping[str, Any]) -> bool:
    return bool((obj.get("spec") or {}).get("suspend"))


def name_of(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def namespace_of(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "")
