"""``lockstep bootstrap git``: install lockstep and let it manage itself from a Git repository.

Steps, each shown as it runs:

1. clone the branch (an empty repository or a missing branch starts one);
2. write ``<path>/<namespace>/``: ``lockstep-components.yaml`` (what ``lockstep
   install --export`` prints), ``lockstep-sync.yaml`` (a GitRepository for the
   repository and a Kustomization for ``<path>``, both named after the namespace,
   as Flux's ``flux-system``) and a ``kustomization.yaml`` listing them;
3. commit and push, only when something changed (no empty commits);
4. apply the same manifests (with a Secret holding ``--username``/``--password``
   when given), then wait until the Kustomization has applied the pushed commit.

From then on the engine reconciles its own manifests from Git, and anything
committed under ``<path>`` is applied. Re-running is safe: files are rewritten
only when they differ, and applying is server-side apply. The CRDs and the
namespace are annotated ``kustomize.toolkit.fluxcd.io/prune: disabled`` (see
:mod:`lockstep.cli.components`), so removing them from Git never deletes every
custom resource. Git runs as the ``git`` program, with HTTP credentials passed as
a header for the one command, never written to the clone's configuration.

Registered on the ``lockstep`` command by :mod:`lockstep.cli.main`.
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from lockstep import __version__
from lockstep.api import kinds
from lockstep.api.crds import manifests_yaml
from lockstep.cli.components import DEFAULT_IMAGE, DEFAULT_NAMESPACE, all_manifests
from lockstep.cli.context import UserError, console, state
from lockstep.cli.install import apply_manifests
from lockstep.kube import KubeClient, NotFound, ObjectRef

app = typer.Typer(help="Install lockstep and manage it from Git.", no_args_is_help=True)

COMPONENTS_FILE = "lockstep-components.yaml"
SYNC_FILE = "lockstep-sync.yaml"
READY_TIMEOUT_SECONDS = 300.0
GIT_TIMEOUT_SECONDS = 120


@app.command("git")
def bootstrap_git(
    ctx: typer.Context,
    url: Annotated[str, typer.Option(help="Repository URL (https://, ssh:// or git://).")],
    path: Annotated[str, typer.Option(help="Folder of this cluster in the repository.")],
    branch: Annotated[str, typer.Option(help="Branch to commit to and sync.")] = "main",
    namespace: Annotated[
        str, typer.Option("--namespace", "-n", help="Namespace of lockstep.")
    ] = DEFAULT_NAMESPACE,
    image: Annotated[str, typer.Option(help="Container image of the engine.")] = DEFAULT_IMAGE,
    interval: Annotated[str, typer.Option(help="How often to poll the repository.")] = "1m",
    username: Annotated[
        str | None, typer.Option(envvar="GIT_USERNAME", help="HTTP basic auth user.")
    ] = None,
    password: Annotated[
        str | None, typer.Option(envvar="GIT_PASSWORD", help="HTTP basic auth password or token.")
    ] = None,
    author_name: Annotated[str, typer.Option(help="Author of the commit.")] = "lockstep",
    author_email: Annotated[str, typer.Option(help="Author e-mail.")] = "lockstep@localhost",
) -> None:
    """Commit lockstep's manifests to a repository, install them, and sync that path.

    Example:

      lockstep bootstrap git --url https://git.example.com/fleet.git --branch main \\
        --path clusters/staging --username bot --password "$TOKEN"
    """
    folder = path.strip("/")
    if not folder or ".." in Path(folder).parts:
        raise UserError(
            f"--path {path!r} must be a folder inside the repository", hint="e.g. clusters/staging"
        )
    git = _Git(username, password)
    files = _files(url, branch, folder, namespace, image, interval, secret=username is not None)
    with tempfile.TemporaryDirectory(prefix="lockstep-bootstrap-") as scratch:
        work = Path(scratch) / "repository"
        with console.status(f"cloning {url} ({branch})"):
            git.clone(url, branch, work)
        changed = _write(work, files)
        if changed:
            with console.status("committing and pushing"):
                commit = git.commit_and_push(work, branch, author_name, author_email, folder)
            console.print(
                f"[green]✓[/] committed {', '.join(changed)} as {commit[:12]} to {branch}"
            )
        else:
            commit = git.head(work)
            console.print(f"[green]✓[/] {folder}/{namespace} is up to date at {commit[:12]}")
    manifests = all_manifests(namespace, image)
    asyncio.run(
        _apply_and_wait(
            state(ctx).kube_client(), manifests, files, namespace, username, password, commit
        )
    )


def _files(
    url: str, branch: str, folder: str, namespace: str, image: str, interval: str, *, secret: bool
) -> dict[str, str]:
    base = f"{folder}/{namespace}"
    source: dict[str, Any] = {"interval": interval, "url": url, "ref": {"branch": branch}}
    if secret:
        source["secretRef"] = {"name": namespace}
    sync = [
        {
            "apiVersion": kinds.GIT_REPOSITORY.api_version,
            "kind": "GitRepository",
            "metadata": {"name": namespace, "namespace": namespace},
            "spec": source,
        },
        {
            "apiVersion": kinds.KUSTOMIZATION.api_version,
            "kind": "Kustomization",
            "metadata": {"name": namespace, "namespace": namespace},
            "spec": {
                "interval": "10m",
                "path": f"./{folder}",
                "prune": True,
                "sourceRef": {"kind": "GitRepository", "name": namespace},
            },
        },
    ]
    kustomization = (
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources:\n  - {COMPONENTS_FILE}\n  - {SYNC_FILE}\n"
    )
    return {
        f"{base}/{COMPONENTS_FILE}": manifests_yaml(all_manifests(namespace, image)),
        f"{base}/{SYNC_FILE}": manifests_yaml(sync),
        f"{base}/kustomization.yaml": kustomization,
    }


def _write(work: Path, files: dict[str, str]) -> list[str]:
    """Write the files that differ; return their paths."""
    changed = []
    for relative, content in files.items():
        target = work / relative
        if target.is_file() and target.read_text() == content:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        changed.append(relative)
    return changed


async def _apply_and_wait(
    kube: KubeClient,
    manifests: list[dict[str, Any]],
    files: dict[str, str],
    namespace: str,
    username: str | None,
    password: str | None,
    commit: str,
) -> None:
    async with kube:
        await apply_manifests(kube, manifests)
        if username is not None:
            await kube.apply(
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": namespace, "namespace": namespace},
                    "stringData": {"username": username, "password": password or ""},
                }
            )
        sync_file = next(content for name, content in files.items() if name.endswith(SYNC_FILE))
        for manifest in yaml.safe_load_all(sync_file):
            await kube.apply(manifest)
        console.print(
            f"[green]✓[/] sync applied: GitRepository and Kustomization {namespace}/{namespace}"
        )
        with console.status(
            f"waiting for Kustomization {namespace}/{namespace} to apply {commit[:12]}"
        ):
            revision = await _wait_applied(kube, namespace, commit)
    console.print(f"[green]✓[/] lockstep {__version__} manages itself from Git at {revision}")


async def _wait_applied(kube: KubeClient, namespace: str, commit: str) -> str:
    ref = ObjectRef(kinds.KUSTOMIZATION.api_version, "Kustomization", namespace, namespace)
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    message = "no status yet"
    while time.monotonic() < deadline:
        try:
            status = (await kube.get(ref)).get("status") or {}
        except NotFound:
            status = {}
        applied = str(status.get("lastAppliedRevision") or "")
        if applied.endswith(commit):
            return applied
        conditions: list[dict[str, Any]] = status.get("conditions") or []
        ready = next((c for c in conditions if c.get("type") == "Ready"), {})
        message = str(ready.get("message") or message)
        await asyncio.sleep(1.0)
    raise UserError(
        f"Kustomization {namespace}/{namespace} did not apply {commit[:12]} within "
        f"{READY_TIMEOUT_SECONDS:.0f}s: {message}",
        hint=f"is the engine running? kubectl -n {namespace} get deploy/lockstep",
    )


class _Git:
    """The ``git`` program, with HTTP basic credentials as a one-command header."""

    def __init__(self, username: str | None, password: str | None) -> None:
        self._config: list[str] = []
        if username is not None:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self._config = ["-c", f"http.extraHeader=Authorization: Basic {token}"]

    def clone(self, url: str, branch: str, work: Path) -> None:
        done = self._run(
            ["clone", "--quiet", "--branch", branch, "--single-branch", url, str(work)],
            None,
            check=False,
        )
        if done.returncode == 0:
            return
        if "not found in upstream" not in done.stderr and "empty repository" not in done.stderr:
            raise UserError(
                f"cannot clone {url}: {_last_line(done.stderr)}",
                hint="check --url and the credentials",
            )
        # An empty repository, or a branch that does not exist yet: start it.
        self._run(["clone", "--quiet", url, str(work)], None)
        self._run(["checkout", "--quiet", "--orphan", branch], work)
        self._run(["rm", "-r", "-q", "--cached", "--ignore-unmatch", "."], work)

    def commit_and_push(self, work: Path, branch: str, name: str, email: str, folder: str) -> str:
        self._run(["add", "--all", "."], work)
        identity = ["-c", f"user.name={name}", "-c", f"user.email={email}"]
        self._run(
            [*identity, "commit", "--quiet", "-m", f"Add lockstep {__version__} to {folder}"], work
        )
        self._run(["push", "--quiet", "origin", f"HEAD:refs/heads/{branch}"], work)
        return self.head(work)

    def head(self, work: Path) -> str:
        return self._run(["rev-parse", "HEAD"], work).stdout.strip()

    def _run(
        self, args: list[str], cwd: Path | None, *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        environment = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
        done = subprocess.run(
            ["git", *self._config, *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            env=environment,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
        if check and done.returncode != 0:
            raise UserError(f"git {args[0]} failed: {_last_line(done.stderr)}")
        return done


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
