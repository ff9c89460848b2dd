"""``lockstep export``: objects as YAML to re-apply elsewhere, as ``flux export`` prints them.

One object by name, every object of a kind with ``--all``, or every kind with
``lockstep export all``, in one namespace or with ``-A`` in all of them. Only
what a user declares is printed: ``apiVersion``, ``kind``, name, namespace,
labels, annotations and ``spec`` — no ``status`` and no metadata the API server
sets, and no reconcile request — so the output applies cleanly to another
cluster, sources before the objects that use them. ``--with-credentials`` also
prints the Secrets the objects name in ``spec.secretRef`` and ``certSecretRef``
(the backup then holds credentials: keep it like one).

Registered on the ``lockstep`` command by :mod:`lockstep.cli.main`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Annotated

import typer
import yaml

from lockstep.api.meta import RECONCILE_REQUEST_ANNOTATION
from lockstep.cli.context import CliState, UserError, console, state
from lockstep.cli.objects import (
    FLUX_KINDS,
    USAGE_ERROR,
    AllNamespacesOption,
    FluxKind,
    NamespaceOption,
    fetch,
    namespace_or_default,
)
from lockstep.cli.verbs import described, register_per_kind
from lockstep.kube import KubeClient, KubeObject, NotFound, ObjectRef

export_app = typer.Typer(
    help="Print objects as YAML to apply elsewhere: one by name, or all with --all.",
    no_args_is_help=True,
)

SERVER_ANNOTATIONS = (
    "kubectl.kubernetes.io/last-applied-configuration",
    RECONCILE_REQUEST_ANNOTATION,
)
"""Annotations that record what happened to an object, not what was declared."""

SECRET_REFERENCES = ("secretRef", "certSecretRef", "proxySecretRef")
"""Fields of ``spec`` that name a Secret of the object's namespace."""

OptionalName = Annotated[
    str | None, typer.Argument(help="Name of the object; omit it with --all.", show_default=False)
]
AllOption = Annotated[bool, typer.Option("--all", help="Every object of the kind.")]
CredentialsOption = Annotated[
    bool,
    typer.Option(
        "--with-credentials", help="Also print the Secrets named by secretRef and certSecretRef."
    ),
]


def exported(obj: KubeObject) -> KubeObject:
    """What a user declared of ``obj``: no status, no server-set metadata."""
    metadata = obj.get("metadata") or {}
    kept: KubeObject = {"name": metadata.get("name")}
    if metadata.get("namespace"):
        kept["namespace"] = metadata["namespace"]
    if metadata.get("labels"):
        kept["labels"] = dict(metadata["labels"])
    annotations = {
        key: value
        for key, value in (metadata.get("annotations") or {}).items()
        if key not in SERVER_ANNOTATIONS
    }
    if annotations:
        kept["annotations"] = annotations
    result: KubeObject = {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind")}
    result["metadata"] = kept
    for field in ("spec", "type", "data", "stringData"):
        if field in obj:
            result[field] = obj[field]
    return result


def secret_names(obj: KubeObject) -> list[str]:
    """The Secrets of the object's namespace its spec names, in field order."""
    spec = obj.get("spec") or {}
    names = [
        str(spec[field]["name"])
        for field in SECRET_REFERENCES
        if (spec.get(field) or {}).get("name")
    ]
    return list(dict.fromkeys(names))


def as_yaml(objects: Iterable[KubeObject]) -> str:
    """YAML documents, each introduced by ``---`` as ``flux export`` prints them."""
    return "".join(
        "---\n" + yaml.safe_dump(obj, sort_keys=False, default_flow_style=False) for obj in objects
    )


async def _collect(
    kube: KubeClient,
    kinds: Iterable[FluxKind],
    *,
    name: str | None,
    namespace: str | None,
    with_credentials: bool,
) -> list[KubeObject]:
    collected: list[KubeObject] = []
    for kind in kinds:
        if name is not None and namespace is not None:
            objects = [await fetch(kube, kind, name, namespace)]
        else:
            try:
                objects = await kube.list(kind.api_version, kind.kind, namespace=namespace)
            except NotFound:
                continue  # a kind this cluster does not serve has nothing to export
        for obj in sorted(objects, key=_position):
            if with_credentials:
                collected.extend(await _secrets(kube, obj))
            collected.append(exported(obj))
    return collected


async def _secrets(kube: KubeClient, obj: KubeObject) -> list[KubeObject]:
    namespace = str((obj.get("metadata") or {}).get("namespace") or "")
    secrets: list[KubeObject] = []
    for secret_name in secret_names(obj):
        try:
            secret = await kube.get(ObjectRef("v1", "Secret", secret_name, namespace))
        except NotFound as error:
            raise UserError(
                f"{obj.get('kind')} {namespace}/{(obj.get('metadata') or {}).get('name')} names"
                f" Secret {secret_name}, which does not exist",
                hint="create the Secret, or export without --with-credentials",
            ) from error
        secrets.append(exported(secret))
    return secrets


def _position(obj: KubeObject) -> tuple[str, str]:
    metadata = obj.get("metadata") or {}
    return str(metadata.get("namespace") or ""), str(metadata.get("name") or "")


def _export(
    cli: CliState,
    kinds: Iterable[FluxKind],
    *,
    name: str | None,
    namespace: str | None,
    all_namespaces: bool,
    with_credentials: bool,
) -> None:
    where = None if all_namespaces else namespace_or_default(cli, namespace)

    async def main(kube: KubeClient) -> list[KubeObject]:
        async with kube:
            return await _collect(
                kube, kinds, name=name, namespace=where, with_credentials=with_credentials
            )

    objects = asyncio.run(main(cli.kube_client()))
    console.out(as_yaml(objects), end="", highlight=False)


def _export_command(kind: FluxKind) -> Callable[..., None]:
    def export(
        ctx: typer.Context,
        name: OptionalName = None,
        every: AllOption = False,
        namespace: NamespaceOption = None,
        all_namespaces: AllNamespacesOption = False,
        with_credentials: CredentialsOption = False,
    ) -> None:
        if (name is None) == (not every and not all_namespaces):
            raise UserError(
                f"name one {kind.noun}, or export all of them with --all",
                hint=f"lockstep export {kind.command} NAME, or --all (-A for every namespace)",
                code=USAGE_ERROR,
            )
        _export(
            state(ctx),
            [kind],
            name=name,
            namespace=namespace,
            all_namespaces=all_namespaces and name is None,
            with_credentials=with_credentials,
        )

    described(export, f"Print a {kind.kind} (or all with --all) as YAML.", kind, "export")
    return export


register_per_kind(export_app, "export", FLUX_KINDS, _export_command)


@export_app.command("all")
def export_all(
    ctx: typer.Context,
    namespace: NamespaceOption = None,
    all_namespaces: AllNamespacesOption = False,
    with_credentials: CredentialsOption = False,
) -> None:
    """Print every object lockstep reconciles as YAML, sources first: a backup.

    Example:

      lockstep export all -A --with-credentials > backup.yaml
    """
    _export(
        state(ctx),
        FLUX_KINDS,
        name=None,
        namespace=namespace,
        all_namespaces=all_namespaces,
        with_credentials=with_credentials,
    )
