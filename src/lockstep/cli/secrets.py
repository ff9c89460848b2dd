"""``lockstep create secret git|oci|helm|tls``: the Secrets sources read, as ``flux`` makes them.

The keys are those the source controllers read (:mod:`lockstep.sources.credentials`,
:mod:`lockstep.sources.registry_auth`): ``username``/``password`` or ``bearerToken``,
``identity`` and ``known_hosts`` for SSH, ``ca.crt``/``tls.crt``/``tls.key`` for TLS,
and ``.dockerconfigjson`` for registries. Files are read here, so a missing or
unreadable file fails before anything is written; the Secret is server-side
applied (created or updated) or printed with ``--export`` to commit it encrypted.

Registered under ``lockstep create`` by :mod:`lockstep.cli.create`.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Annotated

import typer
import yaml

from lockstep.cli.context import CliState, UserError, console, state
from lockstep.cli.objects import USAGE_ERROR, NamespaceOption, namespace_or_default
from lockstep.cli.verbs import NameArgument
from lockstep.kube import KubeClient, KubeObject, NotFound, ObjectRef

secret_app = typer.Typer(
    help="Create or update a Secret with credentials for a source, or print it with --export.",
    no_args_is_help=True,
)

ExportOption = Annotated[
    bool, typer.Option("--export", help="Print the Secret as YAML instead of applying it.")
]
UsernameOption = Annotated[str | None, typer.Option("--username", "-u", help="Basic auth user.")]
PasswordOption = Annotated[
    str | None,
    typer.Option("--password", "-p", help="Basic auth password, or the key's passphrase."),
]
CaFileOption = Annotated[
    Path | None, typer.Option("--ca-crt-file", help="PEM file of the CA that signs the server.")
]
CertFileOption = Annotated[
    Path | None, typer.Option("--tls-crt-file", help="PEM file of the client certificate.")
]
KeyFileOption = Annotated[
    Path | None, typer.Option("--tls-key-file", help="PEM file of the client certificate's key.")
]


def secret_manifest(
    name: str, namespace: str, data: dict[str, str], secret_type: str = "Opaque"
) -> KubeObject:
    """A Secret with ``data`` as ``stringData``, the form a person can review."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": secret_type,
        "stringData": data,
    }


def read_file(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(
            f"cannot read the {what} file {path}: {getattr(error, 'strerror', None) or error}",
            hint="give the path of a readable PEM or text file",
            code=USAGE_ERROR,
        ) from error


def tls_data(ca_file: Path | None, cert_file: Path | None, key_file: Path | None) -> dict[str, str]:
    """``ca.crt``, ``tls.crt`` and ``tls.key`` from their files; a certificate needs its key."""
    if (cert_file is None) != (key_file is None):
        raise UserError(
            "a client certificate needs both --tls-crt-file and --tls-key-file",
            hint="give both files, or neither",
            code=USAGE_ERROR,
        )
    data: dict[str, str] = {}
    for key, path, what in (
        ("ca.crt", ca_file, "CA certificate"),
        ("tls.crt", cert_file, "client certificate"),
        ("tls.key", key_file, "client key"),
    ):
        if path is not None:
            data[key] = read_file(path, what)
    return data


def basic_auth_data(username: str | None, password: str | None) -> dict[str, str]:
    if (username is None) != (password is None):
        raise UserError(
            "basic auth needs both --username and --password",
            hint="give both, or neither",
            code=USAGE_ERROR,
        )
    return {"username": username, "password": password} if username and password else {}


def docker_config(server: str, username: str, password: str) -> str:
    """A ``.dockerconfigjson`` with one registry's credentials."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    entry = {"username": username, "password": password, "auth": auth}
    return json.dumps({"auths": {server: entry}})


def registry_host(url: str) -> str:
    """The registry a ``--url`` names: ``oci://ghcr.io/org/app`` → ``ghcr.io``."""
    without_scheme = url.split("://", 1)[1] if "://" in url else url
    host = without_scheme.split("/", 1)[0]
    if not host:
        raise UserError(
            f"--url {url} names no registry",
            hint="give the registry's host, e.g. --url ghcr.io",
            code=USAGE_ERROR,
        )
    return host


@secret_app.command("git")
def create_secret_git(
    ctx: typer.Context,
    name: NameArgument,
    url: Annotated[str, typer.Option("--url", help="URL of the Git repository.")],
    namespace: NamespaceOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
    bearer_token: Annotated[
        str | None, typer.Option("--bearer-token", help="Token sent as HTTP bearer auth.")
    ] = None,
    private_key_file: Annotated[
        Path | None, typer.Option("--private-key-file", help="SSH private key, for ssh:// URLs.")
    ] = None,
    known_hosts_file: Annotated[
        Path | None,
        typer.Option("--known-hosts-file", help="known_hosts lines of the SSH server."),
    ] = None,
    ca_file: CaFileOption = None,
    cert_file: CertFileOption = None,
    key_file: KeyFileOption = None,
    export: ExportOption = False,
) -> None:
    """A Secret for a GitRepository: basic auth or a bearer token for HTTPS, a key for SSH.

    Examples:

      lockstep create secret git repo-auth --url https://git.example.com/fleet.git -u bot -p "$TOKEN"

      lockstep create secret git repo-ssh --url ssh://git@git.example.com/fleet.git \\
        --private-key-file ./id_ed25519 --known-hosts-file ./known_hosts
    """
    if url.startswith("ssh://") or ("://" not in url and "@" in url):
        if private_key_file is None or known_hosts_file is None:
            raise UserError(
                f"an SSH URL needs --private-key-file and --known-hosts-file: {url}",
                hint="ssh-keyscan HOST > known_hosts gives the server's keys",
                code=USAGE_ERROR,
            )
        data = {
            "identity": read_file(private_key_file, "SSH private key"),
            "known_hosts": read_file(known_hosts_file, "known_hosts"),
        }
        if password:
            data["password"] = password
    else:
        data = {**basic_auth_data(username, password), **tls_data(ca_file, cert_file, key_file)}
        if bearer_token:
            data["bearerToken"] = bearer_token
        _require(data, name, "--username and --password, --bearer-token, or TLS files")
    _export_or_apply(state(ctx), secret_manifest(name, _namespace(ctx, namespace), data), export)


@secret_app.command("oci")
def create_secret_oci(
    ctx: typer.Context,
    name: NameArgument,
    url: Annotated[str, typer.Option("--url", help="The registry: ghcr.io, or oci://host/repo.")],
    username: Annotated[str, typer.Option("--username", "-u", help="Registry user.")],
    password: Annotated[str, typer.Option("--password", "-p", help="Registry password or token.")],
    namespace: NamespaceOption = None,
    export: ExportOption = False,
) -> None:
    """A docker-config Secret for OCIRepositories and ImageRepositories.

    Example:

      lockstep create secret oci ghcr-auth --url ghcr.io -u bot -p "$TOKEN"
    """
    data = {".dockerconfigjson": docker_config(registry_host(url), username, password)}
    manifest = secret_manifest(
        name, _namespace(ctx, namespace), data, "kubernetes.io/dockerconfigjson"
    )
    _export_or_apply(state(ctx), manifest, export)


@secret_app.command("helm")
def create_secret_helm(
    ctx: typer.Context,
    name: NameArgument,
    namespace: NamespaceOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
    ca_file: CaFileOption = None,
    cert_file: CertFileOption = None,
    key_file: KeyFileOption = None,
    export: ExportOption = False,
) -> None:
    """A Secret for a Helm repository: basic auth and TLS files, as Flux's HelmRepository reads.

    Example:

      lockstep create secret helm charts-auth -u bot -p "$TOKEN" --ca-crt-file ./ca.crt
    """
    data = {**basic_auth_data(username, password), **tls_data(ca_file, cert_file, key_file)}
    _require(data, name, "--username and --password, or TLS files")
    _export_or_apply(state(ctx), secret_manifest(name, _namespace(ctx, namespace), data), export)


@secret_app.command("tls")
def create_secret_tls(
    ctx: typer.Context,
    name: NameArgument,
    namespace: NamespaceOption = None,
    ca_file: CaFileOption = None,
    cert_file: CertFileOption = None,
    key_file: KeyFileOption = None,
    export: ExportOption = False,
) -> None:
    """A Secret with a CA and a client certificate, for certSecretRef.

    Example:

      lockstep create secret tls registry-tls --ca-crt-file ca.crt --tls-crt-file tls.crt \\
        --tls-key-file tls.key
    """
    data = tls_data(ca_file, cert_file, key_file)
    _require(data, name, "--ca-crt-file, or --tls-crt-file with --tls-key-file")
    _export_or_apply(state(ctx), secret_manifest(name, _namespace(ctx, namespace), data), export)


def _require(data: dict[str, str], name: str, flags: str) -> None:
    """Refuse to make Secret ``name`` with nothing in it."""
    if not data:
        raise UserError(
            f"secret {name}: no credentials given", hint=f"give {flags}", code=USAGE_ERROR
        )


def _namespace(ctx: typer.Context, namespace: str | None) -> str:
    return namespace_or_default(state(ctx), namespace)


def _export_or_apply(cli: CliState, manifest: KubeObject, export: bool) -> None:
    if export:
        typer.echo("---\n" + yaml.safe_dump(manifest, sort_keys=False), nl=False)
        return
    existed = asyncio.run(_apply(cli.kube_client(), manifest))
    metadata = manifest["metadata"]
    verb = "updated" if existed else "created"
    console.print(
        f"[green]✓[/] secret {metadata['name']} in namespace {metadata['namespace']} {verb}"
    )


async def _apply(kube: KubeClient, manifest: KubeObject) -> bool:
    """Apply the Secret; whether it existed. Sent as ``data``: the apply then owns every
    key, so a key left out of a new version of the Secret is removed, not kept."""
    metadata = manifest["metadata"]
    ref = ObjectRef("v1", "Secret", metadata["name"], metadata["namespace"])
    encoded = {
        key: base64.b64encode(value.encode()).decode()
        for key, value in manifest["stringData"].items()
    }
    applied = {key: value for key, value in manifest.items() if key != "stringData"}
    async with kube:
        try:
            await kube.get(ref)
            existed = True
        except NotFound:
            existed = False
        await kube.apply({**applied, "data": encoded})
    return existed
