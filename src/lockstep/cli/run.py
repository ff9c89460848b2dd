"""``lockstep run``: run every controller against the current kubeconfig context.

Sets up logging (human-readable, or one JSON object per line with ``--log-json``),
turns SIGTERM and SIGINT into a graceful stop, sets the limits of every build's
processes, builds the Kustomize build service when it is not built yet, serves the
artifact store, the metrics and health endpoints and the Receiver webhooks, and runs
the controller manager.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from lockstep.cli.context import UserError, state
from lockstep.controllers.manager import ControllerManager, ManagerOptions
from lockstep.dev.cluster import state_root
from lockstep.gobuild import GoBuildError, program_path
from lockstep.kube import KubeClient
from lockstep.render.kustomizer import PROGRAM_MODULE, kustomizer_program
from lockstep.render.process import (
    DEFAULT_CPU_SECONDS,
    DEFAULT_MEMORY_MIB,
    MIB,
    BuildLimits,
    set_build_limits,
)
from lockstep.runtime.leader import LeaderElector, LeadershipLost
from lockstep.runtime.logcontext import LoggedObject, ObjectLogFilter
from lockstep.web import receiver, server

LEASE_NAME = "lockstep-leader-election"


class JsonFormatter(logging.Formatter):
    """One JSON object per log record: time, level, logger, message, and the object being
    reconciled as Flux's controllers name it (``controllerKind``, ``name``, ``namespace``)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        about = getattr(record, "object_ref", None)
        if isinstance(about, LoggedObject):
            entry.update(controllerKind=about.kind, name=about.name, namespace=about.namespace)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class TextFormatter(logging.Formatter):
    """One line per record; the object being reconciled, when there is one, in brackets."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        about = getattr(record, "object_ref", None)
        return f"{line} [{about}]" if isinstance(about, LoggedObject) else line


def configure_logging(json_lines: bool, verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ObjectLogFilter())
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, handlers=[handler], force=True
    )
    for noisy in ("httpx", "httpx2", "httpcore", "httpcore2", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run(
    ctx: typer.Context,
    watch_namespace: Annotated[
        str | None, typer.Option(help="Watch objects in this namespace only (default: all).")
    ] = None,
    concurrent: Annotated[
        int, typer.Option(min=1, help="Reconciles in parallel per controller.")
    ] = 4,
    metrics_addr: Annotated[
        str, typer.Option(help="Address of /metrics, /healthz and /readyz.")
    ] = "127.0.0.1:8080",
    storage_path: Annotated[
        Path | None,
        typer.Option(help="Folder of the artifact store (default: under the state directory)."),
    ] = None,
    storage_addr: Annotated[
        str, typer.Option(help="Address of the artifact server.")
    ] = "127.0.0.1:9090",
    receiver_addr: Annotated[
        str, typer.Option(help="Address of the Receiver webhooks (POST /hook/<digest>).")
    ] = "127.0.0.1:9292",
    max_artifact_size: Annotated[
        int, typer.Option(min=1, help="Largest source content in MiB packed into an artifact.")
    ] = 512,
    leader_elect: Annotated[
        bool,
        typer.Option(
            "--leader-elect",
            help="Run the controllers only while holding the leader Lease (for several replicas).",
        ),
    ] = False,
    leader_election_namespace: Annotated[
        str, typer.Option(envvar="POD_NAMESPACE", help="Namespace of the leader Lease.")
    ] = "default",
    log_json: Annotated[
        bool, typer.Option("--log-json", help="Log one JSON object per line.")
    ] = False,
    no_cross_namespace_refs: Annotated[
        bool,
        typer.Option(
            "--no-cross-namespace-refs",
            help="Refuse Kustomizations whose source or dependencies are in another namespace.",
        ),
    ] = False,
    default_service_account: Annotated[
        str,
        typer.Option(
            "--default-service-account",
            help="Apply Kustomizations without spec.serviceAccountName as this service "
            "account of their namespace, never with the engine's own rights.",
        ),
    ] = "",
    lenient_substitution: Annotated[
        bool,
        typer.Option(
            "--lenient-substitution",
            help="Substitute undefined postBuild variables with empty strings instead of "
            "failing the build (Flux's StrictPostBuildSubstitutions=false).",
        ),
    ] = False,
    build_memory_limit: Annotated[
        int,
        typer.Option(
            min=256,
            help="Memory in MiB each process of a build (Kustomize, sops) may map writable; "
            "a build past it fails naming its folder.",
        ),
    ] = DEFAULT_MEMORY_MIB,
    build_cpu_limit: Annotated[
        int,
        typer.Option(
            min=1, help="CPU seconds one build may use in each of its processes (Kustomize, sops)."
        ),
    ] = DEFAULT_CPU_SECONDS,
) -> None:
    """Run the lockstep controllers until stopped (SIGTERM or Ctrl-C stop gracefully).

    Builds read what tenants commit, so their processes are bounded: a YAML alias bomb
    would otherwise grow Kustomize to the machine's memory. The default memory limit,
    1 GiB, is five times what a build of a thousand Deployments maps (190 MiB) and
    leaves the machine room for the at most four build processes at once; the default
    CPU limit, a minute per build, is far beyond the seconds a large build takes and
    ends a runaway first.

    Example:

      lockstep run --watch-namespace flux-system --metrics-addr 127.0.0.1:8080
    """
    cli = state(ctx)
    configure_logging(log_json, cli.verbose)
    set_build_limits(BuildLimits(build_memory_limit * MIB, build_cpu_limit))
    _ensure_build_service()
    options = ManagerOptions(
        storage_path=storage_path or state_root() / "artifacts",
        watch_namespace=watch_namespace,
        concurrent=concurrent,
        storage_addr=storage_addr,
        max_artifact_bytes=max_artifact_size * 1024 * 1024,
        no_cross_namespace_refs=no_cross_namespace_refs,
        strict_substitution=not lenient_substitution,
        default_service_account=default_service_account,
    )
    election = Election(leader_election_namespace) if leader_elect else None
    addresses = Addresses(metrics=metrics_addr, receiver=receiver_addr)
    asyncio.run(_run(cli.engine_client(), options, addresses, election))


def _ensure_build_service() -> None:
    """Build the Kustomize build service now if it is not yet, rather than in a
    Kustomization's first build, whose time limit it would eat."""
    if not program_path(PROGRAM_MODULE, "kustomizer").is_file():
        logging.getLogger("lockstep").info("building the Kustomize build service (once)")
    try:
        kustomizer_program()
    except GoBuildError as error:
        raise UserError(str(error), hint="run make install, which builds it") from error


@dataclass(frozen=True)
class Addresses:
    """Where the servers of ``lockstep run`` listen, besides the artifact server."""

    metrics: str
    receiver: str


@dataclass(frozen=True)
class Election:
    """Where the replicas of ``lockstep run --leader-elect`` meet."""

    namespace: str
    lease: str = LEASE_NAME


async def _run(
    kube_client: KubeClient,
    options: ManagerOptions,
    addresses: Addresses,
    election: Election | None,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with kube_client as kube:
        manager = ControllerManager(kube, options)
        options.storage_path.mkdir(parents=True, exist_ok=True)
        runners = [
            await server.start(server.artifact_app(options.storage_path), options.storage_addr),
            await server.start(
                server.metrics_app(manager.metrics, manager.health), addresses.metrics
            ),
            await server.start(receiver.receiver_app(manager.webhooks), addresses.receiver),
        ]
        try:
            if election is None:
                manager.metrics.leader.set(1)
                await manager.run(stop)
            else:
                await _run_as_leader(kube, election, manager, stop)
        finally:
            for runner in runners:
                await runner.cleanup()


async def _run_as_leader(
    kube: KubeClient, election: Election, manager: ControllerManager, stop: asyncio.Event
) -> None:
    """Run the controllers while this process holds the Lease; stand by until then."""
    identity = f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"
    elector = LeaderElector(kube, election.namespace, election.lease, identity)

    async def lead() -> None:
        manager.metrics.leader.set(1)
        try:
            await manager.run(stop)
        finally:
            manager.metrics.leader.set(0)

    campaign = asyncio.create_task(elector.run(lead))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({campaign, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not campaign.done() and not elector.is_leader:
        campaign.cancel()
    try:
        await campaign
    except asyncio.CancelledError:
        pass
    except LeadershipLost as error:
        raise UserError(
            str(error), hint="another replica leads now; restart this one to stand by"
        ) from error
