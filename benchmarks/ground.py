"""The benchmarks' test ground: a fresh local control plane, a Git server, and clients.

:class:`Ground` starts its own :class:`~lockstep.dev.cluster.LocalCluster` in a
temporary folder (never the user's sandbox), installs lockstep's CRDs, and starts
a :class:`~lockstep.dev.gitserver.GitServer`; everything is removed when it closes.
Each workload asks it for a namespace of its own (:meth:`Ground.namespace`), which
is deleted afterwards, the finalizers of Flux's kinds included; a full run waits until it
is gone, so the next workload starts on a quiet API server.

The harness's own requests go through :attr:`Ground.kube`, whose counts
(:attr:`KubeClient.requests`) tell them apart from the engine's.

Used by every workload that needs a cluster (``benchmarks/w*.py``), through
``benchmarks/run.py``, and by ``benchmarks/compare.py``, which runs Flux's controllers on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Iterable
from pathlib import Path
from typing import Self, TypeVar

import httpx2
from lightkube import KubeConfig
from lightkube.config.client_adapter import AsyncClient as http_client_for
from lightkube.config.client_adapter import ConnectionParams

from benchmarks.engine import Engine, cpu_seconds_of
from benchmarks.prometheus import Samples, parse_samples
from lockstep.dev.cluster import LocalCluster
from lockstep.dev.gitserver import GitServer, ServedRepo, WorkingCopy
from lockstep.kube import KubeClient, NotFound, ObjectRef

HARNESS_FIELD_MANAGER = "lockstep-bench"
NAMESPACE_GONE_TIMEOUT = 600.0
KUSTOMIZATION_API = "kustomize.toolkit.fluxcd.io/v1"
SOURCE_API = "source.toolkit.fluxcd.io/v1"
HELM_API = "helm.toolkit.fluxcd.io/v2"
FINALIZED_KINDS = (
    (KUSTOMIZATION_API, "Kustomization"),
    (HELM_API, "HelmRelease"),
    (SOURCE_API, "GitRepository"),
    (SOURCE_API, "OCIRepository"),
    (SOURCE_API, "HelmRepository"),
    (SOURCE_API, "HelmChart"),
)
"""The kinds whose objects carry finalizers, lockstep's and Flux's (``finalizers.fluxcd.io``),
which a namespace's deletion clears with the engine stopped."""

CONCURRENT = 4
"""Reconciles in parallel per controller (``lockstep run --concurrent``, its default), and
the applications applied in parallel by the engine-less loop of W5."""

T = TypeVar("T")


class GroundError(RuntimeError):
    """The test ground could not be set up or cleaned up; the message says what to look at."""


class Ground:
    """A running control plane and Git server for one benchmark run."""

    def __init__(
        self,
        folder: Path,
        cluster: LocalCluster,
        git: GitServer,
        *,
        settle: bool,
        sizes: tuple[int, ...] = (),
        profile_to: Path | None = None,
    ) -> None:
        self.folder = folder
        self.settle = settle
        """Wait for each namespace to be gone before going on (not in a smoke run)."""
        self.sizes = sizes
        """The Ns of W1, W5 and W6 when the runner was given some (``--sizes``); else their own."""
        self.profile_to = profile_to
        """Where each engine's profile goes (``--profile``); ``None``: engines are not profiled."""
        self.cluster = cluster
        self.git = git
        self.kube = KubeClient.from_kubeconfig(
            cluster.kubeconfig, field_manager=HARNESS_FIELD_MANAGER
        )
        self.kubernetes_version = ""
        # The API server's /metrics is no resource: read it with a plain client of the cluster.
        config = KubeConfig.from_file(cluster.kubeconfig).get()
        assert config is not None, f"{cluster.kubeconfig} has no current context"
        self._raw: httpx2.AsyncClient = http_client_for(config, ConnectionParams())

    @classmethod
    @contextlib.asynccontextmanager
    async def started(
        cls,
        *,
        settle: bool = True,
        sizes: tuple[int, ...] = (),
        profile_to: Path | None = None,
    ) -> AsyncIterator[Self]:
        """A fresh ground, torn down when the block ends.

        With ``settle``, leaving a namespace waits until the control plane has deleted it
        (about five seconds, more with thousands of objects), so that the next measurement
        does not share the API server with that garbage collection.
        """
        with tempfile.TemporaryDirectory(prefix="lockstep-bench-") as scratch:
            folder = Path(scratch)
            cluster = LocalCluster(
                f"lockstep-bench-{secrets.token_hex(3)}", port=0, state=folder / "cluster"
            )
            await asyncio.to_thread(cluster.up, lambda _message: None, lambda *_progress: None)
            try:
                with GitServer(folder / "git") as git:
                    ground = cls(
                        folder, cluster, git, settle=settle, sizes=sizes, profile_to=profile_to
                    )
                    async with ground.kube, ground._raw:
                        ground.kubernetes_version = await ground.kube.server_version()
                        await asyncio.to_thread(ground.install_crds)
                        yield ground
            finally:
                await asyncio.to_thread(cluster.down)

    async def apiserver_metrics(self) -> Samples:
        """The API server's own metrics right now."""
        answer = await self._raw.get("/metrics")
        answer.raise_for_status()
        return parse_samples(answer.text)

    def control_plane_cpu(self) -> dict[str, float]:
        """CPU seconds used so far by each component of the control plane (kube-apiserver,
        etcd, kube-controller-manager, kube-scheduler, kwok-controller)."""
        return {
            name: cpu_seconds_of(pid) for name, pid in sorted(self.cluster.component_pids().items())
        }

    def install_crds(self) -> None:
        done = subprocess.run(
            lockstep_command(self.cluster.kubeconfig, "install", "--crds"),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise GroundError(f"lockstep install --crds failed: {done.stderr.strip()}")

    def repository(self, name: str) -> tuple[ServedRepo, WorkingCopy]:
        """A new repository on the Git server and a working copy to commit to it."""
        repo = self.git.create_repo(f"{name}-{secrets.token_hex(3)}.git")
        return repo, repo.working_copy(self.folder / "work" / repo.name)

    @contextlib.asynccontextmanager
    async def engine(self, name: str, *extra: str) -> AsyncIterator[Engine]:
        """A fresh ``lockstep run`` with its artifacts and log under ``name``, stopped when the
        block ends; when the block fails, the end of its log goes to standard error."""
        engine = await asyncio.to_thread(
            Engine.start,
            self.cluster.kubeconfig,
            self.folder / "engines" / name,
            "--concurrent",
            str(CONCURRENT),
            *extra,
            profile_to=self.profile_to,
        )
        try:
            yield engine
        except BaseException:
            sys.stderr.write(f"end of the log of lockstep run ({name}):\n{engine.log_tail()}\n")
            raise
        finally:
            await asyncio.to_thread(engine.stop)

    @contextlib.asynccontextmanager
    async def namespace(self, prefix: str) -> AsyncIterator[str]:
        """A namespace of one workload; deleted with everything in it when the block ends.

        Stop the engine before the block ends (lockstep or Flux): the finalizers of the
        Kustomizations, HelmReleases and sources are removed here instead of being
        processed, so cleaning up 1000 of them costs no pruning or uninstalling.
        """
        name = f"{prefix}-{secrets.token_hex(3)}"
        await self.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        try:
            yield name
        finally:
            await self._delete_namespace(name)

    async def _delete_namespace(self, name: str) -> None:
        for api_version, kind in FINALIZED_KINDS:
            objects = await self.kube.list(api_version, kind, namespace=name)
            await gather_limited(
                (
                    self.kube.json_patch(
                        ObjectRef(api_version, kind, obj["metadata"]["name"], name),
                        [{"op": "add", "path": "/metadata/finalizers", "value": []}],
                    )
                    for obj in objects
                    if obj["metadata"].get("finalizers")
                ),
                limit=8,
            )
        namespace = ObjectRef("v1", "Namespace", name)
        await self.kube.delete(namespace)
        if not self.settle:
            return
        deadline = time.monotonic() + NAMESPACE_GONE_TIMEOUT
        while time.monotonic() < deadline:
            try:
                await self.kube.get(namespace)
            except NotFound:
                return
            await asyncio.sleep(0.5)
        raise GroundError(
            f"namespace {name} still terminating after {NAMESPACE_GONE_TIMEOUT:.0f}s; "
            f"see the controller-manager log in {self.cluster.logs}"
        )


def lockstep_command(kubeconfig: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "lockstep", "--kubeconfig", str(kubeconfig), *args]


async def gather_limited(calls: Iterable[Awaitable[T]], *, limit: int) -> list[T]:
    """Await ``calls`` with at most ``limit`` of them in flight; their results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(call: Awaitable[T]) -> T:
        async with gate:
            return await call

    return await asyncio.gather(*(one(call) for call in calls))
