"""``lockstep push|pull|tag artifact`` and ``lockstep list artifacts``: Flux-format OCI
artifacts from the command line, as ``flux push artifact`` and its siblings make them.

- ``push artifact oci://REPO:TAG --path DIR --source URL --revision REV`` packs DIR (or
  one file) and pushes it through :mod:`lockstep.sources.oci_push`; with ``--sign --key``
  it then signs it as ``cosign sign --key`` does
  (:func:`lockstep.sources.cosign.sign_artifact`). It prints ``oci://REPO@sha256:<hex>``,
  the address to pin in ``spec.ref.digest`` or to sign elsewhere.
- ``pull artifact oci://REPO:TAG --output DIR`` extracts the first layer with the engine's
  own extraction (:func:`lockstep.sources.oci.pull_oci`), which refuses entries that
  would land outside DIR. DIR must be new or empty, and a failed pull leaves it so.
- ``tag artifact oci://REPO:TAG --tag NEW`` stores the same manifest under NEW.
- ``list artifacts oci://REPO`` shows each tag with its digest, source, revision and
  creation time; cosign's signature tags are left out.

Credentials come from ``--creds user:password``; ``--insecure`` accepts any TLS
certificate and falls back to plain HTTP, which localhost, 127.0.0.1, ::1 and private
(RFC 1918) registries get without it, as with ``flux push artifact``. Every
failure ends as one line naming the artifact or registry and what to do, exit code 1.

Registered on the ``lockstep`` command by :mod:`lockstep.cli.main`.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, astuple
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from lockstep.cli.context import UserError, console, error_console
from lockstep.cli.keys import cosign_password
from lockstep.cli.output import OutputFormat, data_text, print_table
from lockstep.sources.cosign import SigningKey, load_private_key, sign_artifact, signature_tag
from lockstep.sources.credentials import BasicAuth
from lockstep.sources.errors import (
    AuthenticationFailed,
    FetchTimeout,
    InvalidSecret,
    RefNotFound,
    RepositoryNotFound,
    ServerUnavailable,
    SourceError,
    TooLarge,
    Unreachable,
)
from lockstep.sources.oci import (
    REVISION_ANNOTATION,
    OciRef,
    PulledArtifact,
    ResolvedArtifact,
    pull_oci,
    resolve_oci,
)
from lockstep.sources.oci_push import (
    FLUX_PUSH_EXCLUSIONS,
    ArtifactReference,
    ListedArtifact,
    PackedArtifact,
    PackOptions,
    artifact_annotations,
    created_timestamp,
    list_artifacts,
    pack_artifact,
    parse_artifact_reference,
    parse_repository,
    push_artifact,
    tag_artifact,
)
from lockstep.sources.registry_client import OciUrl, RegistryOptions, plain_http_allowed

push_app = typer.Typer(help="Push artifacts to OCI registries.", no_args_is_help=True)
pull_app = typer.Typer(help="Pull artifacts from OCI registries.", no_args_is_help=True)
tag_app = typer.Typer(help="Tag artifacts in OCI registries.", no_args_is_help=True)
list_app = typer.Typer(help="List artifacts in OCI registries.", no_args_is_help=True)

ArtifactArgument = Annotated[
    str, typer.Argument(metavar="oci://REPOSITORY:TAG", help="The artifact, by tag or @digest.")
]
CredsOption = Annotated[
    str | None,
    typer.Option("--creds", help="Registry credentials as user:password; anonymous without."),
]
InsecureOption = Annotated[
    bool,
    typer.Option(
        "--insecure",
        "--insecure-registry",
        help="Accept any TLS certificate and fall back to plain HTTP. Loopback and private "
        "addresses fall back to HTTP without it.",
    ),
]


@push_app.command("artifact")
def push_artifact_command(
    url: Annotated[
        str, typer.Argument(metavar="oci://REPOSITORY:TAG", help="Where to push the artifact.")
    ],
    path: Annotated[
        Path | None,
        typer.Option("--path", "-p", help="The folder, or single file, to push. Required."),
    ] = None,
    source: Annotated[
        str | None, typer.Option(help="Where the content comes from, e.g. the Git URL. Required.")
    ] = None,
    revision: Annotated[
        str | None,
        typer.Option(help="The source revision, e.g. main@sha1:<commit>. Required."),
    ] = None,
    annotations: Annotated[
        list[str] | None,
        typer.Option("--annotations", "-a", help="Extra manifest annotation key=value; repeat."),
    ] = None,
    ignore_paths: Annotated[
        list[str] | None,
        typer.Option(
            "--ignore-paths",
            help=f"Paths to leave out, .gitignore syntax; replaces the defaults "
            f"{','.join(FLUX_PUSH_EXCLUSIONS)}.",
        ),
    ] = None,
    reproducible: Annotated[
        bool,
        typer.Option(
            "--reproducible", help="Fixed creation time: the same content gives the same digest."
        ),
    ] = False,
    creds: CredsOption = None,
    insecure: InsecureOption = False,
    sign: Annotated[
        bool, typer.Option("--sign", help="Sign the artifact as cosign sign --key does.")
    ] = False,
    key: Annotated[
        Path | None,
        typer.Option(help="cosign private key file for --sign; password in COSIGN_PASSWORD."),
    ] = None,
    output: Annotated[
        OutputFormat,
        typer.Option(
            "--output",
            "-o",
            help="table prints the digest URL; json or yaml for scripts.",
            case_sensitive=False,
        ),
    ] = OutputFormat.TABLE,
) -> None:
    """Pack a folder (or one file) and push it as a Flux artifact; print its digest URL.

    Examples:

      lockstep push artifact oci://ghcr.io/acme/app:v1 --path ./deploy --source https://github.com/acme/app --revision main@sha1:0a1b2c3

      lockstep push artifact oci://ghcr.io/acme/app:v1 --path ./deploy --source https://github.com/acme/app --revision main@sha1:0a1b2c3 --sign --key cosign.key
    """
    reference = _reference(url, digest_allowed=False)
    if reference.tag is None:
        raise UserError(f"{url} names no tag to push to", hint=f"write {url}:TAG")
    if path is None or not source or not revision:
        given = (("--path", path), ("--source", source), ("--revision", revision))
        missing = [flag for flag, value in given if not value]
        raise UserError(
            f"push artifact {url} needs {', '.join(missing)}",
            hint="lockstep push artifact --help shows an example",
        )
    if not path.exists():
        raise UserError(f"--path {path} does not exist", hint="give the folder or the file to push")
    extra = parse_annotations(annotations or [])
    signing_key = _signing_key(sign, key)
    options = _registry_options(creds, insecure)
    packed = _pack(path, PackOptions(ignore_paths=_ignore_patterns(ignore_paths)))
    for warning in packed.warnings:
        error_console.print(f"[yellow]warning:[/] {escape(f'{path}: {warning}')}")
    metadata = artifact_annotations(source, revision, created_timestamp(reproducible), extra)
    location = reference.location
    with _registry_errors(str(reference), location, options):
        digest = push_artifact(reference, packed, metadata, options)
    if signing_key is not None:
        subject = f"the signature of {location.url}@{digest}"
        with _registry_errors(subject, location, options):
            sign_artifact(location.registry, location.repository, digest, signing_key, options)
        error_console.print(f"[green]✓[/] signed with {key}: tag {signature_tag(digest)}")
    _print_pushed(reference, digest, output)


@pull_app.command("artifact")
def pull_artifact_command(
    url: ArtifactArgument,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="An empty or new folder to extract the content into. Required."
        ),
    ] = None,
    creds: CredsOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Download an artifact and extract its content into a new or empty folder.

    Example:

      lockstep pull artifact oci://ghcr.io/acme/manifests:v1.0.0 --output ./manifests
    """
    reference = _reference(url)
    if output is None:
        raise UserError(
            f"pull artifact {url} needs --output", hint="name a new or empty folder to extract into"
        )
    _check_empty_folder(output)
    options = _registry_options(creds, insecure)
    with _registry_errors(str(reference), reference.location, options):
        ref = OciRef(tag=reference.tag, digest=reference.digest)
        resolved = resolve_oci(reference.location.url, ref, options)
        pulled = _extract(resolved, output, options)
    revision = pulled.metadata.get(REVISION_ANNOTATION)
    about = f" (revision {revision})" if revision else ""
    console.print(f"[green]✓[/] {resolved.url}@{resolved.digest}{about} extracted to {output}")


@tag_app.command("artifact")
def tag_artifact_command(
    url: ArtifactArgument,
    tags: Annotated[
        list[str] | None, typer.Option("--tag", help="The new tag; repeat for several. Required.")
    ] = None,
    creds: CredsOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Give an artifact more tags: the same manifest, digest and signatures under each.

    Example:

      lockstep tag artifact oci://ghcr.io/acme/manifests:v1.0.0 --tag latest
    """
    reference = _reference(url)
    if not tags:
        raise UserError(f"tag artifact {url} needs --tag", hint="e.g. --tag latest")
    options = _registry_options(creds, insecure)
    with _registry_errors(str(reference), reference.location, options):
        digest = tag_artifact(reference, tags, options)
    for tag in tags:
        console.print(f"[green]✓[/] {reference.location.url}:{tag} → {digest}")


@list_app.command("artifacts")
def list_artifacts_command(
    url: Annotated[str, typer.Argument(metavar="oci://REPOSITORY", help="The repository.")],
    creds: CredsOption = None,
    insecure: InsecureOption = False,
    output: Annotated[
        OutputFormat,
        typer.Option(
            "--output",
            "-o",
            help="table for people; json or yaml for scripts.",
            case_sensitive=False,
        ),
    ] = OutputFormat.TABLE,
) -> None:
    """List the artifacts of a repository: tag, digest, source, revision, creation time.

    Example:

      lockstep list artifacts oci://ghcr.io/acme/manifests -o json
    """
    location = _repository(url)
    options = _registry_options(creds, insecure)
    with _registry_errors(location.url, location, options):
        listed = list_artifacts(location, options)
    if output != OutputFormat.TABLE:
        typer.echo(data_text([asdict(artifact) for artifact in listed], output), nl=False)
    elif listed:
        print_table(_artifact_table(listed))
    else:
        error_console.print(f"no artifacts in {location.url}")


def parse_annotations(values: list[str]) -> dict[str, str]:
    """``key=value`` pairs as given to ``--annotations``."""
    parsed = {}
    for value in values:
        name, equals, content = value.partition("=")
        if not equals or not name.strip():
            raise UserError(
                f"--annotations {value!r} is not key=value",
                hint="e.g. --annotations org.opencontainers.image.description=web",
            )
        parsed[name.strip()] = content
    return parsed


def parse_creds(creds: str) -> BasicAuth:
    """``user:password`` as given to ``--creds``."""
    username, colon, password = creds.partition(":")
    if not colon or not username:
        raise UserError("--creds must be user:password", hint="e.g. --creds ci-bot:$REGISTRY_TOKEN")
    return BasicAuth(username, password)


def _ignore_patterns(values: list[str] | None) -> tuple[str, ...]:
    """Flux's defaults, or the patterns given, each value possibly comma-separated as Flux takes them."""
    if values is None:
        return FLUX_PUSH_EXCLUSIONS
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


def _registry_options(creds: str | None, insecure: bool) -> RegistryOptions:
    """As ``flux push artifact --insecure-registry``: HTTP allowed, TLS not verified."""
    return RegistryOptions(
        auth=parse_creds(creds) if creds else None, insecure=insecure, skip_tls_verify=insecure
    )


def _reference(url: str, *, digest_allowed: bool = True) -> ArtifactReference:
    try:
        return parse_artifact_reference(url, digest_allowed=digest_allowed)
    except SourceError as error:
        raise UserError(str(error)) from error


def _repository(url: str) -> OciUrl:
    try:
        return parse_repository(url)
    except SourceError as error:
        raise UserError(str(error)) from error


def _signing_key(sign: bool, key: Path | None) -> SigningKey | None:
    """The private key to sign with, read and decrypted before anything is pushed."""
    if not sign:
        if key is not None:
            raise UserError("--key is used only to sign", hint="add --sign, or leave out --key")
        return None
    if key is None:
        raise UserError(
            "--sign needs --key, a cosign private key file",
            hint="create one with: lockstep generate key-pair",
        )
    try:
        pem = key.read_bytes()
    except OSError as error:
        raise UserError(
            f"cannot read the signing key {key}: {error.strerror}", hint="check --key"
        ) from error
    try:
        return load_private_key(pem, cosign_password(confirm=False))
    except InvalidSecret as error:
        raise UserError(f"signing key {key}: {error}") from error


def _pack(path: Path, options: PackOptions) -> PackedArtifact:
    try:
        return pack_artifact(path, options)
    except TooLarge as error:
        raise UserError(
            f"{path} holds more than {options.max_content_bytes} bytes of files, "
            "more than an OCIRepository accepts",
            hint="leave large files out with --ignore-paths",
        ) from error
    except OSError as error:
        raise UserError(
            f"cannot read {error.filename or path}: {error.strerror}",
            hint="check the permissions under --path",
        ) from error


def _print_pushed(reference: ArtifactReference, digest: str, output: OutputFormat) -> None:
    """The digest URL alone on stdout, for scripts to pin or sign; or all of it as data."""
    location = reference.location
    if output == OutputFormat.TABLE:
        typer.echo(f"{location.url}@{digest}")
        return
    pushed = {
        "url": f"{location.url}@{digest}",
        "repository": f"{location.registry}/{location.repository}",
        "tag": reference.tag,
        "digest": digest,
    }
    typer.echo(data_text(pushed, output), nl=False)


def _check_empty_folder(output: Path) -> None:
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise UserError(
            f"--output {output} exists and is not an empty folder; pull extracts only into "
            "an empty or new folder",
            hint="remove it or choose another --output",
        )


def _extract(resolved: ResolvedArtifact, output: Path, options: RegistryOptions) -> PulledArtifact:
    """Extract into a hidden folder inside `output`, then move the content up.

    A failed pull leaves `output` as it was (a folder it created is removed again), never
    a partial tree; the moves are renames within one file system.
    """
    created = not output.exists()
    staging = output / f".lockstep-pull-{secrets.token_hex(4)}"
    extracted = False
    try:
        output.mkdir(parents=True, exist_ok=True)
        pulled = pull_oci(resolved, staging, options=options)
        for entry in staging.iterdir():
            entry.rename(output / entry.name)
        extracted = True
    except OSError as error:
        raise UserError(
            f"cannot write {output}: {error.strerror}", hint="choose a writable --output"
        ) from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created and not extracted:
            shutil.rmtree(output, ignore_errors=True)
    return pulled


@contextmanager
def _registry_errors(subject: str, location: OciUrl, options: RegistryOptions) -> Iterator[None]:
    """Turn the sources' failures into one line about `subject`, with the flag that helps.

    The sources' own messages speak of the OCIRepository fields to fix; here the fix is
    a flag, so the common failures get their own words.
    """
    registry = location.registry
    try:
        yield
    except AuthenticationFailed as error:
        hint = (
            "check the user and password of --creds"
            if options.auth
            else "pass --creds user:password"
        )
        raise UserError(
            f"the registry {registry} refused access to {subject}", hint=hint
        ) from error
    except Unreachable as error:
        hint = "check the address and that the registry is up"
        if not options.insecure and not plain_http_allowed(location.registry):
            hint += "; for a plain-HTTP registry add --insecure"
        raise UserError(f"cannot reach the registry {registry} for {subject}", hint=hint) from error
    except RepositoryNotFound as error:
        raise UserError(
            f"{location.url} does not exist on the registry",
            hint=f"push an artifact first: lockstep push artifact {location.url}:TAG ...",
        ) from error
    except RefNotFound as error:
        raise UserError(
            f"{subject} is not in the registry",
            hint=f"list the tags with: lockstep list artifacts {location.url}",
        ) from error
    except FetchTimeout as error:
        raise UserError(
            f"the registry {registry} did not answer within {options.timeout:g}s for {subject}",
            hint="check the registry and try again",
        ) from error
    except ServerUnavailable as error:
        raise UserError(
            f"the registry {registry} is busy or failing for {subject}",
            hint="try again later; --verbose shows its answer",
        ) from error
    except SourceError as error:
        raise UserError(str(error)) from error


def _artifact_table(listed: list[ListedArtifact]) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("TAG", "DIGEST", "SOURCE", "REVISION", "CREATED"):
        table.add_column(column, no_wrap=True)
    for artifact in listed:
        # Text, not str: tags and revisions are data, never Rich markup.
        table.add_row(*(Text(value) for value in astuple(artifact)))
    return table
