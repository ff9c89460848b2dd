"""``lockstep cluster add`` and ``lockstep cluster list``: the clusters Argo CD
Applications can be sent to, kept as Argo CD keeps them, in cluster Secrets of Argo
CD's namespace (:mod:`lockstep.controllers.argo.clusters` reads them).

``cluster add CONTEXT`` writes the Secret of a kubeconfig context: its server, its CA
and its credentials (a bearer token, a client certificate, or a user name and password)
embedded, the files the kubeconfig names read now. A context whose credentials come
from an ``exec`` plugin or an auth provider, or that skips TLS verification, is refused:
the engine could not use it. Unlike ``argocd cluster add``, no ServiceAccount is made
on the cluster; the context's own credentials are what the engine uses. ``--export``
prints the Secret instead of writing it. The Secret's name follows from the server, so
adding the same cluster again updates its Secret.

``cluster list`` shows every cluster, the local one (``in-cluster``) too, with the
version each one answers (``Unknown``, and why, when it cannot be reached) and how many
Applications are sent to it.

Registered on the ``lockstep`` command by :mod:`lockstep.cli.main`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlparse

import typer
import yaml
from lightkube import ConfigError, KubeConfig
from rich.table import Table
from rich.text import Text

from lockstep.api import kinds
from lockstep.cli.context import CliState, UserError, console, state
from lockstep.cli.objects import USAGE_ERROR
from lockstep.cli.output import OutputFormat, OutputOption, data_text, print_table
from lockstep.controllers.argo.application import CONTROL_PLANE_NAMESPACE
from lockstep.controllers.argo.clusters import (
    CLUSTER_SECRET_TYPE,
    IN_CLUSTER,
    SECRET_TYPE_LABEL,
    ArgoCluster,
    ClusterSecretError,
    DestinationError,
    cluster_of_secret,
    resolve_destination,
    same_server,
    secret_value,
)
from lockstep.kube import KubeClient, KubeError, KubeObject, NotFound
from lockstep.kube.kubeconfig import self_contained_kubeconfig
from lockstep.runtime.clusters import ClusterUnavailable, target_client

T = TypeVar("T")

VERSION_SECONDS = 10.0
"""How long ``cluster list`` waits for one cluster's version."""
UNKNOWN = "Unknown"

cluster_app = typer.Typer(
    help="Argo CD clusters: add one from a kubeconfig context, list them.",
    no_args_is_help=True,
)

NamespaceOption = Annotated[
    str,
    typer.Option("--namespace", "-n", help="Argo CD's namespace, where cluster Secrets live."),
]


@cluster_app.command("add")
def add_cluster(
    ctx: typer.Context,
    context: Annotated[str, typer.Argument(help="The kubeconfig context of the cluster.")],
    name: Annotated[
        str | None,
        typer.Option(
            "--name", help="The cluster's name in Applications; the context's if omitted."
        ),
    ] = None,
    kubeconfig: Annotated[
        Path | None,
        typer.Option(
            "--kubeconfig",
            help="The kubeconfig holding the context; the one lockstep uses if omitted.",
        ),
    ] = None,
    namespace: NamespaceOption = CONTROL_PLANE_NAMESPACE,
    export: Annotated[
        bool, typer.Option("--export", help="Print the Secret's YAML instead of writing it.")
    ] = False,
) -> None:
    """Add the cluster of a kubeconfig context, as a cluster Secret.

    Examples:

      lockstep cluster add staging

      lockstep cluster add prod --name production --kubeconfig ~/.kube/prod.yaml --export
    """
    cli = state(ctx)
    document = _context_document(kubeconfig or cli.kubeconfig, context)
    secret = cluster_secret(document, context, name or context, namespace)
    if export:
        typer.echo("---\n" + yaml.safe_dump(secret, sort_keys=False), nl=False)
        return
    written = data_secret(secret)

    async def write(kube: KubeClient) -> None:
        try:
            await kube.apply(written)
        except NotFound as error:
            raise UserError(
                f"cannot write Secret {namespace}/{written['metadata']['name']}: {error}; "
                f"create the namespace {namespace}, or name Argo CD's with --namespace",
                code=USAGE_ERROR,
            ) from error

    _run(cli, write)
    console.print(
        f"[green]✓[/] cluster {name or context} ({secret['stringData']['server']}) added as "
        f"Secret {namespace}/{secret['metadata']['name']}"
    )


@cluster_app.command("list")
def list_clusters(
    ctx: typer.Context,
    namespace: NamespaceOption = CONTROL_PLANE_NAMESPACE,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List the clusters: name, server, version, status and how many Applications use each.

    Example:

      lockstep cluster list
    """
    rows = _run(state(ctx), lambda kube: _rows(kube, namespace))
    if output != OutputFormat.TABLE:
        typer.echo(data_text([asdict(row) for row in rows], output), nl=False)
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for header in ("NAME", "SERVER", "VERSION", "STATUS", "APPS", "MESSAGE"):
        table.add_column(header, overflow="fold" if header == "MESSAGE" else "ellipsis")
    for row in rows:
        table.add_row(*(Text(str(cell)) for cell in asdict(row).values()))
    print_table(table)


# --- a cluster Secret from a kubeconfig context ---------------------------------------


def _context_document(path: Path | None, context: str) -> dict[str, Any]:
    """The kubeconfig of ``context`` alone, the files it names read in."""
    try:
        config = (KubeConfig.from_file(path) if path else KubeConfig.from_env()).get(context)
        text = self_contained_kubeconfig(config, None)
    except (ConfigError, OSError) as error:
        where = str(path) if path else "the kubeconfig"
        raise UserError(
            f"context {context} of {where} cannot be read: {error}; list the contexts with "
            "kubectl config get-contexts",
            code=USAGE_ERROR,
        ) from error
    document: dict[str, Any] = yaml.safe_load(text)
    return document


def cluster_secret(
    document: dict[str, Any], context: str, name: str, namespace: str
) -> dict[str, Any]:
    """The cluster Secret of the kubeconfig ``context``, alone in ``document`` (as
    :func:`~lockstep.kube.kubeconfig.self_contained_kubeconfig` writes it), named
    ``name`` in Applications; a UserError when its credentials cannot be embedded."""
    cluster = document["clusters"][0]["cluster"]
    user = document["users"][0]["user"]
    refused = {
        "exec": "come from an exec plugin",
        "auth-provider": "come from an auth provider",
    }
    for key, why in refused.items():
        if user.get(key):
            raise UserError(
                f"context {context}: its credentials {why}, which lockstep cannot embed; use a "
                "context with a token or a client certificate (e.g. a ServiceAccount's token)",
                code=USAGE_ERROR,
            )
    if cluster.get("insecure-skip-tls-verify"):
        raise UserError(
            f"context {context} skips TLS verification, which lockstep refuses; give it the "
            "cluster's CA (certificate-authority-data)",
            code=USAGE_ERROR,
        )
    server = str(cluster.get("server") or "")
    tls = {
        argo: cluster.get(kube) or user.get(kube)
        for argo, kube in (
            ("caData", "certificate-authority-data"),
            ("certData", "client-certificate-data"),
            ("keyData", "client-key-data"),
        )
        if cluster.get(kube) or user.get(kube)
    }
    config: dict[str, Any] = {}
    if user.get("token"):
        config["bearerToken"] = user["token"]
    elif user.get("username") and user.get("password"):
        config.update(username=user["username"], password=user["password"])
    config["tlsClientConfig"] = tls
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret_name(server),
            "namespace": namespace,
            "labels": {SECRET_TYPE_LABEL: CLUSTER_SECRET_TYPE},
        },
        "type": "Opaque",
        "stringData": {"name": name, "server": server, "config": json.dumps(config)},
    }


def secret_name(server: str) -> str:
    """``cluster-<host>-<hash of the server>``: one Secret per server."""
    host = re.sub(r"[^a-z0-9.-]", "-", (urlparse(server).hostname or "cluster").lower())
    digest = hashlib.sha256(server.rstrip("/").encode()).hexdigest()[:8]
    return f"cluster-{host.strip('.-')[:200]}-{digest}"


def data_secret(secret: dict[str, Any]) -> dict[str, Any]:
    """``secret`` with its values in ``data``, as server-side apply keeps them."""
    data = {k: base64.b64encode(v.encode()).decode() for k, v in secret["stringData"].items()}
    return {**{k: v for k, v in secret.items() if k != "stringData"}, "data": data}


# --- listing -------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterRow:
    name: str
    server: str
    version: str
    status: str
    apps: int
    message: str


async def _rows(kube: KubeClient, namespace: str) -> list[ClusterRow]:
    secrets = await kube.list(
        "v1", "Secret", namespace=namespace, labels={SECRET_TYPE_LABEL: CLUSTER_SECRET_TYPE}
    )
    applications = await _applications(kube)
    found: list[ArgoCluster | tuple[KubeObject, str]] = []
    for secret in secrets:
        try:
            found.append(cluster_of_secret(secret))
        except ClusterSecretError as error:
            found.append((secret, str(error)))
    if not any(isinstance(c, ArgoCluster) and c.target.local for c in found):
        found.insert(0, IN_CLUSTER)
    return list(
        await asyncio.gather(*(_row(kube, cluster, secrets, applications) for cluster in found))
    )


async def _row(
    kube: KubeClient,
    cluster: ArgoCluster | tuple[KubeObject, str],
    secrets: list[KubeObject],
    applications: list[KubeObject],
) -> ClusterRow:
    if not isinstance(cluster, ArgoCluster):
        secret, problem = cluster
        name, server = secret_value(secret, "name"), secret_value(secret, "server")
        return ClusterRow(name, server, UNKNOWN, "Failed", 0, problem)
    apps = sum(1 for app in applications if _sent_to(app, cluster, secrets))
    try:
        async with asyncio.timeout(VERSION_SECONDS):
            async with target_client(kube, cluster.target) as client:
                version = await client.server_version()
    except (ClusterUnavailable, KubeError, TimeoutError) as error:
        why = str(error) or f"no answer within {VERSION_SECONDS:.0f}s"
        return ClusterRow(cluster.name, cluster.server, UNKNOWN, "Failed", apps, why)
    return ClusterRow(cluster.name, cluster.server, version, "Successful", apps, "")


async def _applications(kube: KubeClient) -> list[KubeObject]:
    try:
        return await kube.list(kinds.APPLICATION.api_version, kinds.APPLICATION.kind)
    except NotFound:
        return []


def _sent_to(application: KubeObject, cluster: ArgoCluster, secrets: list[KubeObject]) -> bool:
    destination = (application.get("spec") or {}).get("destination") or {}
    try:
        resolved = resolve_destination(destination.get("server"), destination.get("name"), secrets)
    except (DestinationError, ClusterSecretError):
        return False
    return resolved.name == cluster.name and same_server(resolved.server, cluster.server)


def _run(cli: CliState, action: Callable[[KubeClient], Awaitable[T]]) -> T:
    async def run() -> T:
        async with cli.kube_client() as kube:
            return await action(kube)

    return asyncio.run(run())
