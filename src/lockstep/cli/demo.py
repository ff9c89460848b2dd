"""``lockstep dev demo`` (what ``make demo`` runs): the GitOps loop on the local sandbox.

Starts the local control plane, installs the CRDs, serves a Git repository made
from ``examples/`` on a loopback git daemon, declares a GitRepository and three
Kustomizations (infrastructure with a CRD and namespaces, then apps for staging
and production that depend on it), and runs the engine in this process, showing
the Kustomizations until all are Ready. Then it says what to try and keeps the
loop running until Ctrl-C; the cluster stays up for ``lockstep dev cluster down``.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
from pathlib import Path
from typing import Any

from rich.live import Live
from rich.table import Table

import lockstep
from lockstep.api import kinds
from lockstep.api.crds import crd_manifests
from lockstep.cli.context import UserError, console
from lockstep.cli.install import apply_crds
from lockstep.controllers.manager import ControllerManager, ManagerOptions
from lockstep.dev.cluster import LocalCluster, state_root
from lockstep.dev.gitserver import GitServer, WorkingCopy, run_git
from lockstep.dev.loopback import free_port
from lockstep.kube import KubeClient, KubeObject
from lockstep.web import server

DEMO_NAMESPACE = "lockstep-demo"
KUSTOMIZATIONS: tuple[tuple[str, str, list[dict[str, str]]], ...] = (
    ("infrastructure", "./infrastructure", []),
    ("apps-staging", "./apps/staging", [{"name": "infrastructure"}]),
    ("apps-production", "./apps/production", [{"name": "infrastructure"}]),
)
INTERVAL = "10m"
DEMO_GIT_CONFIG = (
    ("user.name", "lockstep demo"),
    ("user.email", "demo@lockstep.invalid"),
    ("branch.main.remote", "origin"),
    ("branch.main.merge", "refs/heads/main"),
)


def examples_folder() -> Path:
    """``examples/`` of the source checkout lockstep runs from."""
    folder = Path(lockstep.__file__).resolve().parents[2] / "examples"
    if not folder.is_dir():
        raise UserError(
            "the demo needs the examples/ folder of a lockstep source checkout",
            hint="run make demo from a clone of the lockstep repository",
        )
    return folder


def run_demo(cluster: LocalCluster, *, exit_when_ready: bool) -> None:
    """Run the demo on ``cluster`` (started already)."""
    folder = state_root() / "demo"
    shutil.rmtree(folder, ignore_errors=True)
    with GitServer(folder / "git") as git:
        repository = git.create_repo("demo.git")
        work = repository.working_copy(folder / "work")
        _commit_examples(work, examples_folder())
        asyncio.run(_run(cluster, repository.git_url, work, folder, exit_when_ready))


def _commit_examples(work: WorkingCopy, examples: Path) -> None:
    for path in sorted(examples.rglob("*")):
        if path.is_file():
            work.write(path.relative_to(examples).as_posix(), path.read_bytes())
    work.commit("lockstep demo: infrastructure and apps")
    work.push()
    # The tour's plain `git commit` and `git push` need an author and an upstream.
    for key, value in DEMO_GIT_CONFIG:
        run_git(["config", key, value], work.path)


def tour(cluster: LocalCluster, work: WorkingCopy) -> list[tuple[str, str]]:
    """The steps suggested once everything is Ready: (what it shows, the shell command)."""
    return [
        ("", f"export KUBECONFIG={cluster.kubeconfig}"),
        ("", "kubectl get deploy,svc,greetings -n demo-production"),
        ("", f"cd {work.path}"),
        (
            "change the image tag, then commit and push: applied within seconds",
            "sed -i 's/nginx:1.27/nginx:1.28/' apps/base/deployment.yaml"
            " && git commit -qam 'new image' && git push -q",
        ),
        (
            "drift is reverted within about a second, without waiting for the interval",
            "kubectl -n demo-production scale deploy/web --replicas=5",
        ),
        (
            "a file removed from Git (and from its kustomization.yaml) is pruned",
            "git rm -q apps/base/greeting.yaml && sed -i '/greeting.yaml/d' apps/base/kustomization.yaml"
            " && git commit -qam 'no greeting' && git push -q",
        ),
    ]


def _declarations(url: str) -> list[KubeObject]:
    namespace: KubeObject = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": DEMO_NAMESPACE},
    }
    source: KubeObject = {
        "apiVersion": kinds.GIT_REPOSITORY.api_version,
        "kind": "GitRepository",
        "metadata": {"name": "demo", "namespace": DEMO_NAMESPACE},
        "spec": {"url": url, "interval": "5s", "ref": {"branch": "main"}},
    }
    kustomizations: list[KubeObject] = [
        {
            "apiVersion": kinds.KUSTOMIZATION.api_version,
            "kind": "Kustomization",
            "metadata": {"name": name, "namespace": DEMO_NAMESPACE},
            "spec": {
                "interval": INTERVAL,
                "sourceRef": {"kind": "GitRepository", "name": "demo"},
                "path": path,
                "prune": True,
                "wait": True,
                "timeout": "2m",
                "dependsOn": depends_on,
            },
        }
        for name, path, depends_on in KUSTOMIZATIONS
    ]
    return [namespace, source, *kustomizations]


async def _run(
    cluster: LocalCluster, url: str, work: WorkingCopy, folder: Path, exit_when_ready: bool
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with KubeClient.from_kubeconfig(cluster.kubeconfig) as kube:
        await apply_crds(kube, crd_manifests())
        for declaration in _declarations(url):
            await kube.apply(declaration)
        options = ManagerOptions(
            storage_path=folder / "artifacts", storage_addr=f"127.0.0.1:{free_port()}"
        )
        manager = ControllerManager(kube, options)
        options.storage_path.mkdir(parents=True, exist_ok=True)
        runner = await server.start(server.artifact_app(options.storage_path), options.storage_addr)
        engine = asyncio.create_task(manager.run(stop))
        try:
            await _show_until_ready(kube, stop)
            if not stop.is_set():
                _print_what_to_try(cluster, work)
                if not exit_when_ready:
                    await stop.wait()
        finally:
            stop.set()
            await engine
            await runner.cleanup()


async def _show_until_ready(kube: KubeClient, stop: asyncio.Event) -> None:
    with Live(console=console, refresh_per_second=4, transient=False) as live:
        while not stop.is_set():
            items = await kube.list(
                kinds.KUSTOMIZATION.api_version, "Kustomization", namespace=DEMO_NAMESPACE
            )
            live.update(_table(items))
            if items and all(_ready(item)[0] == "True" for item in items):
                return
            await asyncio.sleep(0.5)


def _table(items: list[KubeObject]) -> Table:
    table = Table(title="Kustomizations in namespace lockstep-demo")
    for column in ("NAME", "READY", "REVISION", "STATUS"):
        table.add_column(column)
    for item in sorted(items, key=lambda i: str(i["metadata"]["name"])):
        ready, message = _ready(item)
        colour = {"True": "green", "False": "yellow"}.get(ready, "dim")
        revision = str((item.get("status") or {}).get("lastAppliedRevision", ""))
        table.add_row(
            str(item["metadata"]["name"]),
            f"[{colour}]{ready or '…'}[/]",
            revision[:24],
            message[:80],
        )
    return table


def _ready(item: dict[str, Any]) -> tuple[str, str]:
    for condition in (item.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return str(condition.get("status")), str(condition.get("message"))
    return "", "waiting for the first reconciliation"


def _print_what_to_try(cluster: LocalCluster, work: WorkingCopy) -> None:
    console.print("\n[green]✓[/] every Kustomization is Ready. Try, in another terminal:\n")
    for explanation, command in tour(cluster, work):
        if explanation:
            console.print(f"  # {explanation}", markup=False, highlight=False, soft_wrap=True)
        console.print(f"  {command}", markup=False, highlight=False, soft_wrap=True)
    console.print("\nCtrl-C stops the engine; lockstep dev cluster down removes the cluster.")
