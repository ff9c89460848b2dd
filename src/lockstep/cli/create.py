"""``lockstep create``: sources (Git, OCI, Helm repositories and charts), Kustomizations
and HelmReleases from flags.

The flags are those of ``flux create``, so commands written for Flux work as they
are, ``--prune=true`` included. Each command builds the manifest, validates it
with the API model the controllers parse it with (a bad flag fails here, naming
the field, not later in the engine), then either prints it (``--export``) or
server-side applies it, which creates or updates, and waits until the engine
reports the new generation Ready: exit 0, or 1 with the engine's message.

Registered on the ``lockstep`` command by :mod:`lockstep.cli.main`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import yaml
from pydantic import ValidationError
from rich.markup import escape
from typer.core import TyperCommand, TyperOption

from lockstep.api.helm import HelmRelease
from lockstep.api.kustomize import Kustomization
from lockstep.api.meta import ApiObject, duration_seconds
from lockstep.api.source import GitRepository, HelmChart, HelmRepository, OCIRepository
from lockstep.cli.context import CliState, UserError, console, state
from lockstep.cli.objects import (
    GIT_REPOSITORY,
    HELM_CHART,
    HELM_RELEASE,
    HELM_REPOSITORY,
    KUSTOMIZATION,
    OCI_REPOSITORY,
    SOURCE_KINDS,
    USAGE_ERROR,
    FluxKind,
    NamespaceOption,
    ensure_served,
    flux_kind_named,
    kind_named,
    namespace_or_default,
)
from lockstep.cli.reconcile import outcome
from lockstep.cli.secrets import secret_app
from lockstep.cli.waiting import TimedOut, TimeoutOption, wait_until_settled
from lockstep.kube import KubeClient, NotFound, ObjectRef
from lockstep.render.helm import merge_values

M = TypeVar("M", bound=ApiObject)


class FluxStyleFlags(TyperCommand):
    """A command whose boolean flags also take ``=true`` / ``=false``, as flux's do."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        flags = {
            opt
            for param in self.params
            if isinstance(param, TyperOption) and param.is_flag
            for opt in param.opts
        }
        return super().parse_args(ctx, [bare for arg in args if (bare := _bare_flag(arg, flags))])


def _bare_flag(arg: str, flags: set[str]) -> str:
    """``--flag=true`` as ``--flag``; ``--flag=false``, the flags' default, as nothing."""
    option, equals, value = arg.partition("=")
    if equals and option in flags and value.lower() in ("true", "false"):
        return option if value.lower() == "true" else ""
    return arg


create_app = typer.Typer(
    help=(
        "Create or update sources, Kustomizations, HelmReleases and Secrets,"
        " or print them with --export."
    ),
    no_args_is_help=True,
)
source_app = typer.Typer(help="Create or update a source.", no_args_is_help=True)
create_app.add_typer(source_app, name="source")
create_app.add_typer(secret_app, name="secret")

NameArgument = Annotated[str, typer.Argument(help="Name of the object.")]
IntervalOption = Annotated[
    str, typer.Option("--interval", help="How often lockstep reconciles it, e.g. 1m, 10m, 1h.")
]
ExportOption = Annotated[
    bool, typer.Option("--export", help="Print the object as YAML instead of applying it.")
]
SecretRefOption = Annotated[
    str | None,
    typer.Option("--secret-ref", help="Name of the Secret with the credentials, in its namespace."),
]
SemverOption = Annotated[
    str | None,
    typer.Option(
        "--semver", "--tag-semver", help='Highest tag in a SemVer range, e.g. ">=1.0 <2".'
    ),
]


CHART_SOURCE_KINDS = ("HelmRepository", "GitRepository", "Bucket")
"""The kinds a HelmChart fetches its chart from (``--source`` of charts and releases)."""
CHART_REFERENCE_KINDS = ("OCIRepository", "HelmChart")
"""The kinds a HelmRelease's ``spec.chartRef`` names (``--chart-ref``)."""
VALUES_FROM_KINDS = ("Secret", "ConfigMap")


@source_app.command("git", cls=FluxStyleFlags)
def create_git(
    ctx: typer.Context,
    name: NameArgument,
    url: Annotated[str, typer.Option("--url", help="Repository URL: https://, ssh:// or git://.")],
    branch: Annotated[str | None, typer.Option("--branch", help="Branch to follow.")] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="Tag to check out.")] = None,
    semver: SemverOption = None,
    commit: Annotated[
        str | None,
        typer.Option("--commit", help="Commit SHA to check out (with or without --branch)."),
    ] = None,
    interval: IntervalOption = "1m",
    secret_ref: SecretRefOption = None,
    namespace: NamespaceOption = None,
    export: ExportOption = False,
    timeout: TimeoutOption = "5m",
) -> None:
    """Create or update a GitRepository and wait until it has fetched.

    With no reference flag, the engine checks out the master branch.

    Examples:

      lockstep create source git podinfo --url https://github.com/stefanprodan/podinfo --branch master

      lockstep create source git podinfo --url https://github.com/stefanprodan/podinfo --tag-semver ">=6.0.0" --export
    """
    exclusive = [flag for flag, value in (("--tag", tag), ("--semver", semver)) if value]
    if len(exclusive) > 1 or (exclusive and commit):
        raise UserError(
            f"GitRepository {name}: give only one of --tag, --semver and --commit",
            hint="--commit may be combined with --branch",
            code=USAGE_ERROR,
        )
    cli = state(ctx)
    namespace = namespace_or_default(cli, namespace)
    ref = {"branch": branch, "tag": tag, "semver": semver, "commit": commit}
    spec: dict[str, Any] = {"url": url, "interval": interval}
    if any(ref.values()):
        spec["ref"] = _present(ref)
    if secret_ref:
        spec["secretRef"] = {"name": secret_ref}
    model = build(GitRepository, name, namespace, spec)
    _export_or_apply(cli, GIT_REPOSITORY, model, export, timeout)


@source_app.command("oci", cls=FluxStyleFlags)
def create_oci(
    ctx: typer.Context,
    name: NameArgument,
    url: Annotated[str, typer.Option("--url", help="Repository address: oci://host/repository.")],
    tag: Annotated[str | None, typer.Option("--tag", help="Tag to pull.")] = None,
    semver: SemverOption = None,
    digest: Annotated[
        str | None, typer.Option("--digest", help="Manifest digest to pull: sha256:<hex>.")
    ] = None,
    interval: IntervalOption = "1m",
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Talk plain HTTP to the registry.")
    ] = False,
    secret_ref: SecretRefOption = None,
    namespace: NamespaceOption = None,
    export: ExportOption = False,
    timeout: TimeoutOption = "5m",
) -> None:
    """Create or update an OCIRepository and wait until it has pulled.

    With no tag, semver or digest, the engine pulls the latest tag.

    Example:

      lockstep create source oci podinfo --url oci://ghcr.io/stefanprodan/manifests/podinfo --tag 6.6.2
    """
    given = [
        flag
        for flag, value in (("--tag", tag), ("--semver", semver), ("--digest", digest))
        if value
    ]
    if len(given) > 1:
        raise UserError(
            f"OCIRepository {name}: give only one of --tag, --semver and --digest",
            hint=f"{given[0]} is enough",
            code=USAGE_ERROR,
        )
    cli = state(ctx)
    namespace = namespace_or_default(cli, namespace)
    spec: dict[str, Any] = {"url": url, "interval": interval}
    ref = _present({"tag": tag, "semver": semver, "digest": digest})
    if ref:
        spec["ref"] = ref
    if insecure:
        spec["insecure"] = True
    if secret_ref:
        spec["secretRef"] = {"name": secret_ref}
    model = build(OCIRepository, name, namespace, spec)
    _export_or_apply(cli, OCI_REPOSITORY, model, export, timeout)


@source_app.command("helm", cls=FluxStyleFlags)
def create_helm(
    ctx: typer.Context,
    name: NameArgument,
    url: Annotated[
        str,
        typer.Option("--url", help="Repository address: http(s):// with an index.yaml, or oci://."),
    ],
    interval: IntervalOption = "1m",
    secret_ref: SecretRefOption = None,
    pass_credentials: Annotated[
        bool,
        typer.Option(
            "--pass-credentials", help="Send the credentials to chart hosts other than the index's."
        ),
    ] = False,
    namespace: NamespaceOption = None,
    export: ExportOption = False,
    timeout: TimeoutOption = "5m",
) -> None:
    """Create or update a HelmRepository and wait until it has fetched its index.

    An oci:// repository has no index: it is created and not waited for, as in Flux.

    Examples:

      lockstep create source helm podinfo --url https://stefanprodan.github.io/podinfo

      lockstep create source helm podinfo --url oci://ghcr.io/stefanprodan/charts --export
    """
    cli = state(ctx)
    namespace = namespace_or_default(cli, namespace)
    spec: dict[str, Any] = {"url": url, "interval": interval}
    if url.startswith("oci://"):
        spec["type"] = "oci"
    if secret_ref:
        spec["secretRef"] = {"name": secret_ref}
    if pass_credentials:
        spec["passCredentials"] = True
    model = build(HelmRepository, name, namespace, spec)
    _export_or_apply(cli, HELM_REPOSITORY, model, export, timeout, wait=spec.get("type") != "oci")


@source_app.command("chart", cls=FluxStyleFlags)
def create_chart(
    ctx: typer.Context,
    name: NameArgument,
    source: Annotated[
        str,
        typer.Option(
            "--source", help="The chart's source: HelmRepository/name or GitRepository/name."
        ),
    ],
    chart: Annotated[
        str, typer.Option("--chart", help="Chart name in a HelmRepository, or its folder in Git.")
    ],
    chart_version: Annotated[
        str | None,
        typer.Option("--chart-version", help='SemVer range of the chart version, e.g. ">=6.0.0".'),
    ] = None,
    reconcile_strategy: Annotated[
        str | None,
        typer.Option(
            "--reconcile-strategy", help="ChartVersion (the default) or Revision: when to package."
        ),
    ] = None,
    interval: IntervalOption = "1m",
    namespace: NamespaceOption = None,
    export: ExportOption = False,
    timeout: TimeoutOption = "5m",
) -> None:
    """Create or update a HelmChart and wait until its chart is stored.

    Example:

      lockstep create source chart podinfo --source HelmRepository/podinfo --chart podinfo --chart-version ">=6.0.0"
    """
    cli = state(ctx)
    namespace = namespace_or_default(cli, namespace)
    kind, slash, source_name = source.partition("/")
    if not slash or kind not in CHART_SOURCE_KINDS:
        raise UserError(
            f"HelmChart {name}: --source {source} names no chart source",
            hint="write it as HelmRepository/name, GitRepository/name or Bucket/name",
            code=USAGE_ERROR,
        )
    spec: dict[str, Any] = {
        "chart": chart,
        "sourceRef": {"kind": kind, "name": source_name},
        "interval": interval,
    }
    if chart_version:
        spec["version"] = chart_version
    if reconcile_strategy:
        spec["reconcileStrategy"] = reconcile_strategy
    model = build(HelmChart, name, namespace, spec)
    _export_or_apply(cli, HELM_CHART, model, export, timeout)


@create_app.command("kustomization", cls=FluxStyleFlags)
@create_app.command("ks", cls=FluxStyleFlags, hidden=True)
def create_kustomization(
    ctx: typer.Context,
    name: NameArgument,
    source: Annotated[
        str,
        typer.Option(
            "--source",
            help="The source to build: [Kind/]name[.namespace], Kind GitRepository (default) or OCIRepository.",
        ),
    ],
    path: Annotated[str, typer.Option("--path", help="Directory in the source to build.")] = "./",
    prune: Annotated[
        bool, typer.Option("--prune", help="Delete objects that are removed from the source.")
    ] = False,
    interval: IntervalOption = "1m",
    target_namespace: Annotated[
        str | None,
        typer.Option("--target-namespace", help="Namespace to put every namespaced object in."),
    ] = None,
    depends_on: Annotated[
        list[str] | None,
        typer.Option(
            "--depends-on",
            help="Kustomization to wait for, as name or namespace/name; repeat or separate with commas.",
        ),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for every applied object to become ready.")
    ] = False,
    health_check: Annotated[
        list[str] | None,
        typer.Option(
            "--health-check",
            help="Object that must be healthy, as Kind/name[.namespace]; repeat or separate with commas.",
        ),
    ] = None,
    health_check_timeout: Annotated[
        str | None,
        typer.Option(
            "--health-check-timeout", help="Time limit for applying and health checks, e.g. 3m."
        ),
    ] = None,
    namespace: NamespaceOption = None,
    export: ExportOption = False,
    timeout: TimeoutOption = "5m",
) -> None:
    """Create or update a Kustomization and wait until it is applied (alias: ks).

    Examples:

      lockstep create kustomization apps --source GitRepository/podinfo --path ./kustomize --prune=true --interval 10m

      lockstep create ks infra --source OCIRepository/infra --wait --health-check Deployment/ingress.ingress --export
    """
    cli = state(ctx)
    namespace = namespace_or_default(cli, namespace)
    spec: dict[str, Any] = {
        "sourceRef": parse_source(source),
        "path": path,
        "interval": interval,
        "prune": prune,
    }
    if target_namespace:
        spec["targetNamespace"] = target_namespace
    if depends_on:
        spec["dependsOn"] = [parse_dependency(item) for item in _split(depends_on)]
    if wait:
        spec["wait"] = True
    if health_check:
        spec["healthChecks"] = [parse_health_check(item) for item in _split(health_check)]
    if health_check_timeout:
        spec["timeout"] = health_check_timeout
    model = build(Kustomization, name, namespace, spec)
    _export_or_apply(cli, KUSTOMIZATION, model, export, timeout)


@create_app.command("helmrelease", cls=FluxStyleFlags)
@create_app.command("hr", cls=FluxStyleFlags, hidden=True)
def create_helmrelease(
    ctx: typer.Context,
    name: NameArgument,
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            help="The chart's source: Kind/name[.namespace], Kind HelmRepository, GitRepository or Bucket.",
        ),
    ] = None,
    chart: Annotated[
        str | None,
        typer.Option("--chart", help="Chart name in a HelmRepository, or its folder in Git."),
    ] = None,
    chart_version: Annotated[
        str | None,
        typer.Option("--chart-version", help='SemVer range of the chart version, e.g. ">=6.0.0".'),
    ] = None,
    chart_ref: Annotated[
        str | None,
        typer.Option(
            "--chart-ref",
            help="An existing chart object instead of --source and --chart: OCIRepository/name or HelmChart/name[.namespace].",
        ),
    ] = None,
    values: Annotated[
        list[Path] | None,
        typer.Option(
            "--values",
            exists=True,
            dir_okay=False,
            help="Local YAML file of values; repeat it to merge several, later files winning.",
        ),
    ] = None,
    values_from: Annotated[
        list[str] | None,
        typer.Option(
            "--values-from",
            help="Secret/name or ConfigMap/name whose values.yaml key holds values; repeat or separate with commas.",
        ),
    ] = None,
    target_namespace: Annotated[
        str | None,
        typer.Option("--target-namespace", help="Namespace to install the release to."),
    ] = None,
    create_target_namespace: Annotated[
        bool,
        typer.Option(
            "--create-target-namespace", help="Create the target namespace if it does not exist."
        ),
    ] = False,
    release_name: Annotated[
        str | None,
        typer.Option(
            "--release-name",
            help="Name of the Helm release; [<target-namespace>-]<name> if omitted.",
        ),
    ] = None,
    depends_on: Annotated[
        list[str] | None,
        typer.Option(
            "--depends-on",
            help="HelmRelease to wait for, as name or namespace/name; repeat or separate with commas.",
        ),
    ] = None,
    interval: IntervalOption = "1m",
    namespace: NamespaceOption = None,
    export: ExportOption = False,
    timeout: TimeoutOption = "5m",
) -> None:
    """Create or update a HelmRelease and wait until it is released (alias: hr).

    Examples:

      lockstep create hr podinfo --source HelmRepository/podinfo --chart podinfo --chart-version ">=6" --values ./values.yaml

      lockstep create hr podinfo --chart-ref OCIRepository/podinfo --target-namespace apps --create-target-namespace --export
    """
    cli = state(ctx)
    namespace = namespace_or_default(cli, namespace)
    spec: dict[str, Any] = {
        "interval": interval,
        **chart_spec(name, source, chart, chart_version, chart_ref),
    }
    if release_name:
        spec["releaseName"] = release_name
    if target_namespace:
        spec["targetNamespace"] = target_namespace
    if create_target_namespace:
        spec["install"] = {"createNamespace": True}
    if depends_on:
        spec["dependsOn"] = [parse_dependency(item) for item in _split(depends_on)]
    if values_from:
        spec["valuesFrom"] = [parse_values_reference(item) for item in _split(values_from)]
    if values:
        spec["values"] = read_values_files(values)
    model = build(HelmRelease, name, namespace, spec)
    _export_or_apply(cli, HELM_RELEASE, model, export, timeout)


def chart_spec(
    name: str,
    source: str | None,
    chart: str | None,
    chart_version: str | None,
    chart_ref: str | None,
) -> dict[str, Any]:
    """``spec.chart`` from ``--source`` and ``--chart``, or ``spec.chartRef`` from ``--chart-ref``."""
    if chart_ref is not None:
        if source or chart or chart_version:
            raise UserError(
                f"HelmRelease {name}: --chart-ref names the chart by itself",
                hint="leave out --source, --chart and --chart-version, or --chart-ref",
                code=USAGE_ERROR,
            )
        return {"chartRef": parse_object_reference("--chart-ref", chart_ref, CHART_REFERENCE_KINDS)}
    if not source or not chart:
        raise UserError(
            f"HelmRelease {name}: give --source and --chart, or --chart-ref",
            hint="e.g. --source HelmRepository/podinfo --chart podinfo",
            code=USAGE_ERROR,
        )
    template: dict[str, Any] = {
        "chart": chart,
        "sourceRef": parse_object_reference("--source", source, CHART_SOURCE_KINDS),
    }
    if chart_version:
        template["version"] = chart_version
    return {"chart": {"spec": template}}


def parse_object_reference(flag: str, value: str, kinds: tuple[str, ...]) -> dict[str, str]:
    """``Kind/name[.namespace]`` as a reference to an object of one of ``kinds`` (any case)."""
    word, slash, rest = value.partition("/")
    kind = next((k for k in kinds if k.lower() == word.lower()), None)
    name, _, namespace = rest.partition(".")
    if not slash or kind is None or not name:
        raise UserError(
            f'{flag} "{value}" does not name one of {", ".join(kinds)}',
            hint=f"write it as {kinds[0]}/name, optionally .namespace",
            code=USAGE_ERROR,
        )
    return {"kind": kind, "name": name, **({"namespace": namespace} if namespace else {})}


def parse_values_reference(value: str) -> dict[str, str]:
    """``Secret/name`` or ``ConfigMap/name`` (any case) as a ``valuesFrom`` entry."""
    word, slash, name = value.partition("/")
    kind = next((k for k in VALUES_FROM_KINDS if k.lower() == word.lower()), None)
    if not slash or kind is None or not name:
        raise UserError(
            f'--values-from "{value}" does not name a Secret or a ConfigMap',
            hint="write it as Secret/name or ConfigMap/name",
            code=USAGE_ERROR,
        )
    return {"kind": kind, "name": name}


def read_values_files(files: list[Path]) -> dict[str, Any]:
    """The values of ``files`` merged in order, as ``helm --values`` merges them."""
    merged: dict[str, Any] = {}
    for file in files:
        try:
            document = yaml.safe_load(file.read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise UserError(
                f"--values {file}: cannot read values: {str(error).splitlines()[0]}",
                hint="give a YAML file with a map of values",
                code=USAGE_ERROR,
            ) from error
        if not isinstance(document, dict):
            raise UserError(
                f"--values {file} is not a map of values",
                hint="give a YAML file with a map of values",
                code=USAGE_ERROR,
            )
        merged = merge_values(merged, document)
    return merged


def _present(fields: dict[str, str | None]) -> dict[str, str]:
    return {key: value for key, value in fields.items() if value}


def _split(values: list[str]) -> list[str]:
    """Repeated flags and comma-separated values alike, as flux's list flags take them."""
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def parse_source(value: str) -> dict[str, str]:
    """``[Kind/]name[.namespace]`` as a ``sourceRef``; the kind defaults to GitRepository."""
    word, slash, rest = value.rpartition("/")
    kind = flux_kind_named(word) if slash else GIT_REPOSITORY
    name, _, namespace = rest.partition(".")
    if kind is None or kind not in SOURCE_KINDS or not name:
        raise UserError(
            f'--source "{value}" does not name a source',
            hint="write it as GitRepository/name or OCIRepository/name, optionally .namespace",
            code=USAGE_ERROR,
        )
    return {"kind": kind.kind, "name": name, **({"namespace": namespace} if namespace else {})}


def parse_dependency(value: str) -> dict[str, str]:
    """``name`` or ``namespace/name`` as a ``dependsOn`` entry."""
    namespace, _, name = value.rpartition("/")
    return {"name": name, **({"namespace": namespace} if namespace else {})}


def parse_health_check(value: str) -> dict[str, str]:
    """``Kind/name[.namespace]`` as a ``healthChecks`` entry. Namespaces have no dots, so
    the last dot starts the namespace; a well-known kind (``deployment``) gets its apiVersion."""
    word, _, rest = value.partition("/")
    name, dot, namespace = rest.rpartition(".")
    if not dot:
        name, namespace = rest, ""
    if not word or not name:
        raise UserError(
            f'--health-check "{value}" does not name an object',
            hint="write it as Kind/name.namespace, e.g. Deployment/web.apps",
            code=USAGE_ERROR,
        )
    api_version, kind = kind_named(word) or ("", word)
    check = {"kind": kind, "name": name}
    if api_version:
        check["apiVersion"] = api_version
    if namespace:
        check["namespace"] = namespace
    return check


def build(model: type[M], name: str, namespace: str, spec: dict[str, Any]) -> M:
    """Validate the object with its API model; a UserError naming the field when it is invalid."""
    kind = model.model_fields["kind"].default
    manifest = {"metadata": {"name": name, "namespace": namespace}, "spec": spec}
    try:
        return model.model_validate(manifest)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise UserError(
            f"{kind} {name} is invalid at {where}: {problem['msg']}",
            hint="check the flag that sets it",
            code=USAGE_ERROR,
        ) from error


def export_yaml(model: ApiObject) -> str:
    """The manifest as a YAML document, ready to commit or concatenate with others."""
    return "---\n" + yaml.safe_dump(model.to_manifest(), sort_keys=False)


def _export_or_apply(
    cli: CliState,
    kind: FluxKind,
    model: ApiObject,
    export: bool,
    timeout: str,
    *,
    wait: bool = True,
) -> None:
    if export:
        typer.echo(export_yaml(model), nl=False)
        return
    asyncio.run(_apply_and_wait(cli.kube_client(), kind, model, timeout, wait=wait))


async def _apply_and_wait(
    kube: KubeClient, kind: FluxKind, model: ApiObject, within: str, *, wait: bool = True
) -> None:
    name, namespace = model.metadata.name, model.metadata.namespace or ""
    what = f"{kind.noun} {name} in namespace {namespace}"
    async with kube:
        await ensure_served(kube, kind)
        existed = await _exists(kube, kind.ref(name, namespace))
        await kube.apply(model.to_manifest())
        console.print(f"[green]✓[/] {what} {'updated' if existed else 'created'}")
        if not wait:
            return
        try:
            with console.status(f"waiting for {what} to become Ready"):
                verdict = await wait_until_settled(
                    lambda: kube.get(kind.ref(name, namespace)), duration_seconds(within)
                )
        except TimedOut as error:
            raise UserError(
                f"{what} is not Ready after {within}",
                hint=f"is lockstep run running? lockstep events --for {kind.kind}/{name} -n {namespace}",
            ) from error
    if not verdict.ready:
        raise UserError(
            f"{what} failed: {escape(verdict.message)}",
            hint=f"lockstep events --for {kind.kind}/{name} -n {namespace}",
        )
    console.print(f"[green]✓[/] {kind.noun} {name} is Ready: {outcome(verdict.object)}")


async def _exists(kube: KubeClient, ref: ObjectRef) -> bool:
    try:
        await kube.get(ref)
    except NotFound:
        return False
    return True
