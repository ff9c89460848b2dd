"""``lockstep run``: run every controller against the current kubeconfig context.

Sets up logging (human-readable, or one JSON object per line with ``--log-json``),
turns SIGTERM and SIGINT into a graceful stop, sets the limits of every build's
processes, builds the Kustomize build service when it is not built yet, serves the
artifact store, the metrics and health endpoints and the Receiver webhooks, and runs
the controller manager.

Every engine holds the Lease ``lockstep-leader-election`` of
``--leader-election-namespace`` while its controllers run. With ``--leader-elect``
replicas stand by until they hold it; without, an engine refuses to start while
another renews it, and stops if another takes it: two engines on one cluster would
rewrite each other's statuses (each source's artifact URL names its own store) for
ever. The identity of an engine without ``--leader-elect`` is its host and artifact
folder, so that the same engine restarted after a crash takes its Lease back at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import socket
import sys
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from lockstep.api.meta import duration_seconds
from lockstep.cli.context import UserError, state
from lockstep.controllers.argo import CONTROL_PLANE_NAMESPACE
from lockstep.controllers.manager import ControllerManager, ManagerOptions
from lockstep.dev.cluster import state_root
from lockstep.egress import Egress
from lockstep.gobuild import GoBuildError, program_path
from lockstep.kube import Forbidden, KubeClient
from lockstep.render import helm, kustomizer
from lockstep.render.process import (
    DEFAULT_CPU_SECONDS,
    DEFAULT_MEMORY_MIB,
    MIB,
    BuildLimits,
    set_build_limits,
)
from lockstep.runtime.leader import LeaderElector, LeadershipLost, LeaseHeld
from lockstep.runtime.logcontext import LoggedObject, ObjectLogFilter
from lockstep.runtime.served import CRDS_COMPONENT, CRDS_NOT_LISTED
from lockstep.web import receiver, server

LEASE_NAME = "lockstep-leader-election"

ALONE_LEASE_SECONDS = 30.0
ALONE_RENEW_SECONDS = 10.0
"""The Lease of an engine without ``--leader-elect``: renewed every 10 s (a GET and a
PUT, 720 requests an hour), it is found held within 10 to 20 s by a second engine,
and taken over 30 s after an engine died elsewhere. A replica of ``--leader-elect``
renews every 2 s instead, as Kubernetes' controllers do: there a standby waits for it."""


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
    argocd_namespace: Annotated[
        str,
        typer.Option(
            "--argocd-namespace",
            help="Argo CD's control-plane namespace: where AppProjects live, and "
            "Applications are named in tracking ids without their namespace.",
        ),
    ] = CONTROL_PLANE_NAMESPACE,
    argocd_resync_interval: Annotated[
        str,
        typer.Option(
            "--argocd-resync-interval",
            help="How often Argo CD Applications are compared again and their sources "
            "checked, as Argo CD's timeout.reconciliation (a duration: 3m, 90s).",
        ),
    ] = "3m",
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
    block_internal_addresses: Annotated[
        bool,
        typer.Option(
            "--block-internal-addresses",
            help="Refuse sources, registries and remote clusters on loopback, private, "
            "link-local (cloud metadata) and other non-global addresses.",
        ),
    ] = False,
    allow_address: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-address",
            help="With --block-internal-addresses, allow this network (10.0.0.0/8), "
            "address or host name (git.internal, *.corp.example); repeatable.",
        ),
    ] = None,
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
    try:
        egress = Egress.of(block_internal_addresses, allow_address or ())
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    configure_logging(log_json, cli.verbose)
    set_build_limits(BuildLimits(build_memory_limit * MIB, build_cpu_limit))
    _ensure_render_services()
    options = ManagerOptions(
        storage_path=storage_path or state_root() / "artifacts",
        watch_namespace=watch_namespace,
        concurrent=concurrent,
        storage_addr=storage_addr,
        max_artifact_bytes=max_artifact_size * 1024 * 1024,
        no_cross_namespace_refs=no_cross_namespace_refs,
        strict_substitution=not lenient_substitution,
        default_service_account=default_service_account,
        egress=egress,
        argocd_namespace=argocd_namespace,
        argocd_resync_seconds=_resync_seconds(argocd_resync_interval),
    )
    election = Election(leader_election_namespace, standby=leader_elect)
    addresses = Addresses(metrics=metrics_addr, receiver=receiver_addr)
    asyncio.run(_run(cli.engine_client(), options, addresses, election))


def _resync_seconds(interval: str) -> float:
    """``--argocd-resync-interval`` in seconds; at least a second."""
    seconds = duration_seconds(interval) if re.fullmatch(r"([0-9.]+(ms|s|m|h))+", interval) else 0
    if seconds < 1:
        raise UserError(
            f"--argocd-resync-interval {interval!r} is not a duration of at least 1s; "
            "write it as 90s, 3m or 1h"
        )
    return seconds


def _ensure_render_services() -> None:
    """Build the Kustomize build service and the Helm rendering service now if they are
    not yet, rather than in the first build or render, whose time limit they would eat."""
    services = (
        (
            kustomizer.PROGRAM_MODULE,
            kustomizer.PROGRAM_NAME,
            kustomizer.WHAT,
            kustomizer.kustomizer_program,
        ),
        (helm.PROGRAM_MODULE, helm.PROGRAM_NAME, helm.WHAT, helm.helm_render_program),
    )
    for module, name, what, build in services:
        if not program_path(module, name).is_file():
            logging.getLogger("lockstep").info("building %s (once)", what)
        try:
            build()
        except GoBuildError as error:
            raise UserError(str(error), hint="run make install, which builds it") from error


@dataclass(frozen=True)
class Addresses:
    """Where the servers of ``lockstep run`` listen, besides the artifact server."""

    metrics: str
    receiver: str


@dataclass(frozen=True)
class Election:
    """Where engines meet: the Lease every ``lockstep run`` holds while it works;
    ``standby`` (``--leader-elect``) waits for it instead of refusing to start."""

    namespace: str
    standby: bool
    lease: str = LEASE_NAME


async def _run(
    kube_client: KubeClient,
    options: ManagerOptions,
    addresses: Addresses,
    election: Election,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with kube_client as kube:
        manager = ControllerManager(kube, options)
        if not election.standby:
            # The controllers start right after the servers: not ready from the first
            # probe on. A standby is ready while it waits for the Lease.
            manager.health.not_ready(CRDS_COMPONENT, CRDS_NOT_LISTED)
        options.storage_path.mkdir(parents=True, exist_ok=True)
        runners = [
            await server.start(server.artifact_app(options.storage_path), options.storage_addr),
            await server.start(
                server.metrics_app(manager.metrics, manager.health), addresses.metrics
            ),
            await server.start(receiver.receiver_app(manager.webhooks), addresses.receiver),
        ]
        try:
            if election.standby:
                await _run_as_leader(kube, election, manager, stop)
            else:
                identity = f"{socket.gethostname()}:{options.storage_path.resolve()}"
                await _run_alone(kube, election, identity, manager, stop)
        finally:
            for runner in runners:
                await runner.cleanup()


async def _run_alone(
    kube: KubeClient,
    election: Election,
    identity: str,
    manager: ControllerManager,
    stop: asyncio.Event,
) -> None:
    """Run the controllers as the only engine on the cluster: hold the Lease while they
    run, refuse to start while another engine renews it, stop if another takes it."""
    elector = LeaderElector(
        kube,
        election.namespace,
        election.lease,
        identity,
        lease_duration=ALONE_LEASE_SECONDS,
        renew_deadline=ALONE_LEASE_SECONDS - ALONE_RENEW_SECONDS,
        retry_period=ALONE_RENEW_SECONDS,
    )
    hint = "stop the other engine, or run every engine with --leader-elect"
    try:
        if not await _until_stopped(elector.claim(), stop):
            return
    except LeaseHeld as error:
        raise UserError(f"{error}; this engine does not start beside it", hint=hint) from error
    except Forbidden as error:
        raise UserError(
            f"{elector.lease} cannot be held: {error.message}",
            hint=f"allow get, create and update of leases in namespace {election.namespace}",
        ) from error
    manager.metrics.leader.set(1)
    work = asyncio.create_task(manager.run(stop))
    holding = asyncio.create_task(elector.hold())
    try:
        await asyncio.wait({work, holding}, return_when=asyncio.FIRST_COMPLETED)
        if holding.done():
            stop.set()
            await work
            raise UserError(
                f"{elector.lease}: {holding.result()}; this engine stopped so as not to "
                "work beside another",
                hint=hint,
            )
        await work
    finally:
        holding.cancel()
        await asyncio.gather(holding, return_exceptions=True)
        await elector.release()


async def _until_stopped(call: Awaitable[None], stop: asyncio.Event) -> bool:
    """Await ``call`` unless ``stop`` is set first (then cancel it); whether it finished."""
    task = asyncio.ensure_future(call)
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return False
    task.result()
    return True


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
