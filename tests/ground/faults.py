"""Fault injectors for the test ground: the engine killed, the Git server and the API
server stopped and started again where their clients expect them.

- :func:`kill_engine` is ``kill -9`` of ``lockstep run``; :func:`restart_engine` starts
  it again on the same artifact folder and storage address, so that the artifact URLs
  the sources recorded stay valid, as behind a Deployment's Service (the killed
  engine's log kept beside the new one's).
- :func:`wait_until_written` returns as soon as a given number of objects are written
  (ConfigMaps of an apply, a Helm release's Secrets), watched rather than polled, so
  that a fault injected next lands in the apply.
- :class:`GitDaemon` serves the repositories of the session's Git server on a port of
  its own, and can be stopped and started again on that port.
- :class:`ApiServerOutage` stops the kube-apiserver of a local cluster and starts it
  again with the same command line, leaving etcd and the other components running.

Used by the fault-injection suite (tests/faults/).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ground.engine import Engine, start_engine
from lockstep.dev.cluster import LocalCluster
from lockstep.dev.loopback import LOOPBACK, LoopbackProcess, free_port, port_answers
from lockstep.kube import KubeClient, KubeError, KubeObject, Labels

STOP_GRACE_SECONDS = 10.0
"""How long the API server may take to shut down after SIGTERM before it is killed."""
API_SERVER = "kube-apiserver"


def kill_engine(engine: Engine) -> None:
    """``kill -9``: no handler runs, nothing is flushed or written."""
    engine.process.kill()
    engine.process.wait(timeout=10)


def restart_engine(kubeconfig: Path, killed: Engine) -> Engine:
    """``lockstep run`` again on the folder and the storage address of ``killed``; the
    log of ``killed`` is kept beside, named after its pid, to tell what it was doing."""
    folder = killed.storage_path.parent
    if killed.log.is_file():
        killed.log.rename(killed.log.with_suffix(f".{killed.process.pid}.log"))
    running = start_engine(kubeconfig, folder, *killed.extra, "--storage-addr", killed.storage_addr)
    return replace(running, storage_addr=killed.storage_addr)


async def wait_until_written(
    kube: KubeClient,
    labels: Labels,
    count: int,
    *,
    written: Callable[[KubeObject], bool] = lambda _obj: True,
    kind: str = "ConfigMap",
    namespace: str | None = None,
    within: float = 120.0,
) -> int:
    """Return as soon as ``count`` objects of the core ``kind`` carrying ``labels`` (in
    ``namespace``, or any) are ``written`` (exist, by default), watched rather than
    polled so that a fault injected next lands in the apply; how many there are then."""
    items, version = await kube.list_with_version("v1", kind, namespace=namespace, labels=labels)
    names = {item["metadata"]["name"] for item in items if written(item)}
    deadline = time.monotonic() + within
    while len(names) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{count} {kind}s not written within {within:.0f}s")
        events = kube.watch(
            "v1",
            kind,
            resource_version=version,
            namespace=namespace,
            labels=labels,
            timeout_seconds=5,
        )
        async for event in events:
            metadata = event.object["metadata"]
            version = metadata.get("resourceVersion", version)
            if event.type in ("ADDED", "MODIFIED") and written(event.object):
                names.add(metadata["name"])
            if len(names) >= count:
                break
    return len(names)


class GitDaemon:
    """``git daemon`` over ``repos`` on one port of 127.0.0.1, stopped and started at will."""

    def __init__(self, repos: Path, log: Path) -> None:
        self.port = free_port()
        self._process = LoopbackProcess(
            "git daemon",
            [
                "git",
                "daemon",
                "--reuseaddr",
                f"--listen={LOOPBACK}",
                f"--port={self.port}",
                f"--base-path={repos}",
                "--export-all",
                "--informative-errors",
            ],
            log,
        )

    def url(self, name: str) -> str:
        return f"git://{LOOPBACK}:{self.port}/{name}"

    def start(self) -> None:
        self._process.start(lambda: port_answers(self.port))

    def stop(self) -> None:
        """Stop serving: connections to the port are refused from now on."""
        self._process.stop()


class ApiServerOutage:
    """The kube-apiserver of ``cluster``, stopped and started again as it was started."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self._argv: list[str] | None = None
        self._environment: dict[str, str] | None = None
        self._cwd = "/"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def _pid_file(self) -> Path:
        return self.cluster.logs.parent / "pids" / f"{API_SERVER}.pid"

    def stop(self) -> bool:
        """SIGTERM, as a node shutting the API server down does; SIGKILL when it is still
        running after :data:`STOP_GRACE_SECONDS`. Whether it exited by itself."""
        pid = self.cluster.component_pids()[API_SERVER]
        proc = Path("/proc") / str(pid)
        self._argv = (proc / "cmdline").read_bytes().rstrip(b"\0").decode().split("\0")
        self._environment = dict(
            entry.split("=", 1)
            for entry in (proc / "environ").read_bytes().decode().split("\0")
            if "=" in entry
        )
        self._cwd = os.readlink(proc / "cwd")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        by_itself = True
        while _state(proc) not in ("", "Z"):
            if by_itself and time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                by_itself = False
            time.sleep(0.05)
        return by_itself

    def start(self) -> None:
        """Start it with the command line it had, and record its pid where the cluster
        keeps it, so that deleting the cluster stops it."""
        assert self._argv is not None, "start() follows stop()"
        log = self.cluster.logs / f"{API_SERVER}.log"
        with log.open("ab") as output:
            self._process = subprocess.Popen(
                self._argv,
                cwd=self._cwd,
                env=self._environment,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._pid_file.write_text(f"{self._process.pid}\n")

    async def answering(
        self, kube: KubeClient, *kinds: tuple[str, str], within: float = 60.0
    ) -> None:
        """Return once the API server started again serves Namespaces and ``kinds``
        (apiVersion, kind): the paths of custom kinds are installed last."""
        deadline = time.monotonic() + within
        while True:
            try:
                for api_version, kind in (("v1", "Namespace"), *kinds):
                    await kube.list(api_version, kind)
                return
            except KubeError as error:
                exited = self._process is not None and self._process.poll() is not None
                if exited or time.monotonic() > deadline:
                    raise AssertionError(f"{API_SERVER} did not come back: {error}") from error
            await asyncio.sleep(0.2)


def _state(proc: Path) -> str:
    """The process state letter (``Z`` for a zombie), or "" once it is gone."""
    try:
        return (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""
