"""The local Kubernetes control plane: ``lockstep dev cluster up | down | status | kubeconfig``.

Real components, built from the official sources by :mod:`lockstep.dev.toolchain`:
etcd, kube-apiserver, kube-controller-manager and kube-scheduler, plus the kwok
controller, which plays the kubelet of simulated nodes so that Pods are scheduled
and become Ready without a container runtime. kwokctl's ``binary`` runtime starts
and stops the processes; everything listens on 127.0.0.1 only.

Two settings differ from the components' defaults, so that the sandbox holds what
a real cluster holds and is paced by the machine, not by a client-side limit:

- Services get their addresses from ``SERVICE_CLUSTER_IP_RANGE`` (65534 of them)
  instead of the API server's default ``10.0.0.0/24``, whose 254 addresses would
  refuse the 255th Service;
- each controller of the controller manager may send up to
  ``CONTROLLER_MANAGER_QPS`` requests a second instead of 20 (burst 30). A
  Deployment is healthy only once the deployment controller has written its
  status, after creating its ReplicaSet; with a thousand applied at once, a
  client-side limit of 20 a second, rather than the machine, would decide when
  the last one is ready. Production clusters raise it for the same reason.

State lives under the user's state directory (``$LOCKSTEP_STATE_DIR`` overrides
it): kwokctl's working folder, its configuration, and the kubeconfig that ``up``
writes (:meth:`LocalCluster.portable_kubeconfig` gives it with the certificates
inline, for a kubeconfig Secret). ``up`` is idempotent; ``down`` deletes the
cluster with its data and leaves no process and no listening port behind.
Several clusters of different names run side by side, each on its own port.

Called by the ``lockstep dev`` commands, the test fixtures and ``make demo``.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import platformdirs
import yaml

from lockstep.dev.loopback import free_ports
from lockstep.dev.toolchain import ControlPlaneBinaries, ensure_binaries
from lockstep.kube import KubeClient, KubeError, ObjectRef

DEFAULT_NAME = "lockstep"
DEFAULT_PORT = 46443
NODE_NAME = "kwok-node-0"
READY_TIMEOUT_SECONDS = 60.0
SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/16"
CONTROLLER_MANAGER_QPS = 500
CONTROLLER_MANAGER_BURST = 1000

_CLUSTER_FILES = {"certificate-authority": "certificate-authority-data"}
_USER_FILES = {"client-certificate": "client-certificate-data", "client-key": "client-key-data"}


class ClusterError(Exception):
    """The local control plane could not be started, stopped or reached."""


@dataclass(frozen=True)
class ClusterStatus:
    """What ``status`` reports."""

    name: str
    exists: bool
    api_server: str = ""
    kubernetes_version: str = ""
    ready_nodes: int = 0
    problem: str = ""

    @property
    def running(self) -> bool:
        return self.exists and not self.problem and bool(self.kubernetes_version)


def state_root() -> Path:
    """lockstep's state directory (``$LOCKSTEP_STATE_DIR`` overrides the platform default)."""
    override = os.environ.get("LOCKSTEP_STATE_DIR")
    return Path(override) if override else Path(platformdirs.user_state_dir("lockstep"))


class LocalCluster:
    """One named local control plane."""

    def __init__(
        self, name: str = DEFAULT_NAME, *, port: int = DEFAULT_PORT, state: Path | None = None
    ) -> None:
        """``port`` is the API server's port on 127.0.0.1; 0 lets kwokctl pick a free one.

        ``state`` is the folder holding the cluster's data (default: :func:`state_root`).
        """
        self.name = name
        self.port = port
        self.directory = (state or state_root()) / "clusters" / name

    @property
    def kubeconfig(self) -> Path:
        """Where ``up`` writes the kubeconfig of this cluster."""
        return self.directory / "kubeconfig"

    def portable_kubeconfig(self) -> str:
        """The kubeconfig with the certificate files it names written inline, so that it
        works without this machine's files: what a kubeconfig Secret holds when a
        Kustomization on another cluster applies to this one."""
        try:
            document = yaml.safe_load(self.kubeconfig.read_text())
        except OSError as error:
            raise ClusterError(
                f"cluster {self.name} has no kubeconfig ({error}); run lockstep dev cluster up"
            ) from error
        for section, fields in (("clusters", _CLUSTER_FILES), ("users", _USER_FILES)):
            for entry in document.get(section) or []:
                settings = entry.get(section[:-1]) or {}
                for field, inline in fields.items():
                    path = settings.pop(field, None)
                    if path:
                        settings[inline] = base64.b64encode(Path(path).read_bytes()).decode()
        return str(yaml.safe_dump(document, sort_keys=False))

    @property
    def logs(self) -> Path:
        return self._kwok_workdir / "clusters" / self.name / "logs"

    @property
    def _kwok_workdir(self) -> Path:
        return self.directory / "kwok"

    def exists(self) -> bool:
        return (self._kwok_workdir / "clusters" / self.name).is_dir()

    def up(
        self, progress: Callable[[str], None], build_progress: Callable[[str, int, int], None]
    ) -> ClusterStatus:
        """Start the control plane (building it first if needed) and wait for a Ready node."""
        binaries = ensure_binaries(build_progress)
        current = asyncio.run(self._probe())
        if current.running and current.ready_nodes:
            return current
        if self.exists():
            progress("removing a stopped cluster left from before")
            self._kwokctl(binaries, "delete", "cluster")
        progress(
            f"starting etcd, kube-apiserver, controller-manager, scheduler, kwok ({binaries.kubernetes_version})"
        )
        self._write_config(binaries)
        self._kwokctl(
            binaries, "--config", str(self._config_path), "create", "cluster", "--wait", "2m"
        )
        progress(f"waiting for node {NODE_NAME} to be Ready")
        return asyncio.run(self._add_node_and_wait())

    def down(self) -> bool:
        """Delete the cluster and its data; ``False`` when there was none."""
        if not self.exists():
            return False
        binaries = ensure_binaries(lambda *_: None)
        self._kwokctl(binaries, "delete", "cluster")
        self._wait_for_processes_to_exit()
        shutil.rmtree(self._kwok_workdir, ignore_errors=True)
        self.kubeconfig.unlink(missing_ok=True)
        return True

    def status(self) -> ClusterStatus:
        return asyncio.run(self._probe())

    @property
    def _config_path(self) -> Path:
        return self.directory / "kwokctl.yaml"

    def _write_config(self, binaries: ControlPlaneBinaries) -> None:
        kubectl = shutil.which("kubectl")
        # Ports the system hands out, not kwokctl's own picks: those count down from the
        # same number in every kwokctl run, so clusters created at the same time (test
        # sessions side by side) would be given the same ports.
        api_server, etcd, etcd_peer, kwok = free_ports(4)
        options = {
            "runtime": "binary",
            "kubeVersion": binaries.kubernetes_version,
            "bindAddress": "127.0.0.1",
            "kubeApiserverPort": self.port or api_server,
            "etcdPort": etcd,
            "etcdPeerPort": etcd_peer,
            "kwokControllerPort": kwok,
            "kubeApiserverBinary": str(binaries.path("kube-apiserver")),
            "kubeControllerManagerBinary": str(binaries.path("kube-controller-manager")),
            "kubeSchedulerBinary": str(binaries.path("kube-scheduler")),
            "kwokControllerBinary": str(binaries.path("kwok")),
            "etcdBinary": str(binaries.path("etcd")),
            **({"kubectlBinary": kubectl} if kubectl else {}),
        }
        document = {
            "kind": "KwokctlConfiguration",
            "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
            "options": options,
            "componentsPatches": [
                {
                    "name": "kube-apiserver",
                    "extraArgs": [
                        {"key": "service-cluster-ip-range", "value": SERVICE_CLUSTER_IP_RANGE}
                    ],
                },
                {
                    "name": "kube-controller-manager",
                    "extraArgs": [
                        {"key": "kube-api-qps", "value": str(CONTROLLER_MANAGER_QPS)},
                        {"key": "kube-api-burst", "value": str(CONTROLLER_MANAGER_BURST)},
                    ],
                },
            ],
        }
        self.directory.mkdir(parents=True, exist_ok=True)
        self._config_path.write_text(yaml.safe_dump(document, sort_keys=True))

    def _kwokctl(self, binaries: ControlPlaneBinaries, *args: str) -> None:
        command = [
            str(binaries.path("kwokctl")),
            *args,
            "--name",
            self.name,
            "--kubeconfig",
            str(self.kubeconfig),
        ]
        environment = {**os.environ, "KWOK_WORKDIR": str(self._kwok_workdir)}
        result = subprocess.run(command, env=environment, capture_output=True, text=True)
        if result.returncode != 0:
            detail = _kwokctl_error(result.stderr + result.stdout)
            raise ClusterError(
                f"kwokctl {' '.join(args[-2:])} for cluster {self.name} failed: {detail} (logs: {self.logs})"
            )

    async def _probe(self) -> ClusterStatus:
        if not self.exists() or not self.kubeconfig.is_file():
            return ClusterStatus(self.name, exists=self.exists())
        try:
            async with KubeClient.from_kubeconfig(self.kubeconfig) as kube:
                version = await kube.server_version()
                nodes = await kube.list("v1", "Node")
                return ClusterStatus(
                    self.name,
                    exists=True,
                    api_server=kube.server,
                    kubernetes_version=version,
                    ready_nodes=sum(1 for node in nodes if _is_ready(node)),
                )
        except KubeError as error:
            return ClusterStatus(self.name, exists=True, problem=str(error))

    async def _add_node_and_wait(self) -> ClusterStatus:
        async with KubeClient.from_kubeconfig(self.kubeconfig) as kube:
            await kube.apply(_fake_node(NODE_NAME))
            deadline = time.monotonic() + READY_TIMEOUT_SECONDS
            while True:
                try:
                    node = await kube.get(ObjectRef("v1", "Node", NODE_NAME))
                    if _is_ready(node):
                        break
                except KubeError:
                    pass
                if time.monotonic() > deadline:
                    raise ClusterError(
                        f"node {NODE_NAME} of cluster {self.name} did not become Ready "
                        f"within {READY_TIMEOUT_SECONDS:.0f}s; see the kwok controller log in {self.logs}"
                    )
                await asyncio.sleep(0.25)
        return await self._probe()

    def component_pids(self) -> dict[str, int]:
        """The process id of each component (``kube-apiserver``, ``etcd``...) as kwokctl
        recorded it when it started them; empty when the cluster is not running."""
        pids_dir = self._kwok_workdir / "clusters" / self.name / "pids"
        found = {}
        for path in pids_dir.glob("*.pid"):
            text = path.read_text().strip()
            if text.isdigit():
                found[path.stem] = int(text)
        return found

    def _wait_for_processes_to_exit(self) -> None:
        pids = list(self.component_pids().values())
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in pids):
            if time.monotonic() > deadline:
                alive = [pid for pid in pids if _alive(pid)]
                raise ClusterError(
                    f"processes {alive} of cluster {self.name} did not exit after delete"
                )
            time.sleep(0.1)


def _fake_node(name: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            # kwok manages nodes carrying this annotation and plays their kubelet.
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "spec": {},
    }


def _is_ready(node: dict[str, object]) -> bool:
    status = node.get("status")
    conditions = status.get("conditions", []) if isinstance(status, dict) else []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _kwokctl_error(output: str) -> str:
    """kwokctl logs JSON lines; pick the last error message out of them."""
    for line in reversed(output.strip().splitlines()):
        try:
            record = yaml.safe_load(line)
        except yaml.YAMLError:
            continue
        if isinstance(record, dict) and record.get("level") == "ERROR":
            message = str(record.get("msg", ""))
            error = record.get("err")
            return f"{message}: {error}" if error else message
    lines = output.strip().splitlines()
    return lines[-1] if lines else "no output"
