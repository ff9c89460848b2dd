"""Build and run Flux's own source-controller, kustomize-controller and helm-controller,
the reference that lockstep's Flux compatibility is measured against.

The Go module in ``gomod/flux`` pins the source- and kustomize-controller as ``tool``
dependencies, the one in ``gomod/fluxhelm`` the helm-controller (a module of its own,
so that Helm's many dependencies never move the pins of the other two, and a change of
either module rebuilds only its own controllers). Each ``go.sum`` fixes every byte
that is built. The controllers' own ``replace`` directives do not apply when they are
dependencies, so the modules repeat the ones that change what is built (and pin a
patch release of a Flux library whose named patch is not served by the module proxy).
Each module's binaries are cached under the user's cache directory in a folder named
after its controllers' versions and a digest of its files, built like the control
plane (see :mod:`lockstep.dev.toolchain`): into a temporary folder renamed into place.

:class:`FluxControllers` runs the source- and kustomize-controller against a
cluster's kubeconfig, and :class:`FluxHelmController` the helm-controller beside
them (it reads its charts from the source-controller's artifact server): every
listener on 127.0.0.1, leader election off, each with its own log.

:func:`crd_files` gives Flux's own CRDs from the same pinned modules.

Called by the real-Flux tests (``make flux-oracle``, tests/oracle/) and by
``python -m lockstep.dev.flux``, which builds the binaries and prints where.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from lockstep.dev.loopback import LOOPBACK, LoopbackProcess, free_port
from lockstep.dev.toolchain import (
    GO_MODULES,
    ToolchainError,
    build_module_into,
    cache_root,
    go_command,
    go_environment,
)

FLUX_MODULE = GO_MODULES / "flux"
FLUX_HELM_MODULE = GO_MODULES / "fluxhelm"
SOURCE_CONTROLLER = "source-controller"
KUSTOMIZE_CONTROLLER = "kustomize-controller"
HELM_CONTROLLER = "helm-controller"
CONTROLLERS = (SOURCE_CONTROLLER, KUSTOMIZE_CONTROLLER)
"""The controllers :class:`FluxControllers` runs."""
START_TIMEOUT_SECONDS = 60.0
WHAT = "Flux's controllers"
COMMON_FLAGS = ("--enable-leader-election=false", "--log-level=debug", "--log-encoding=json")


@dataclass(frozen=True)
class FluxBinaries:
    """Where the built controllers are, and which versions they are."""

    directory: Path
    versions: Mapping[str, str]

    def path(self, controller: str) -> Path:
        return self.directory / controller


@dataclass(frozen=True)
class PinnedModule:
    """A Go module beside this file that pins Flux controllers as ``tool`` dependencies."""

    folder: Path
    controllers: tuple[str, ...]

    def versions(self) -> dict[str, str]:
        """The pinned version of each controller, e.g. ``{"source-controller": "v1.9.6"}``."""
        go_mod = (self.folder / "go.mod").read_text()
        versions: dict[str, str] = {}
        for controller in self.controllers:
            module = f"github.com/fluxcd/{controller}"
            match = re.search(rf"^\s*{re.escape(module)} (v\S+)", go_mod, re.MULTILINE)
            if match is None:
                raise ToolchainError(f"{self.folder / 'go.mod'} does not pin {module}")
            versions[controller] = match.group(1)
        return versions

    def binaries_directory(self) -> Path:
        """The cache folder for the current pins."""
        digest = hashlib.sha256()
        for name in ("go.mod", "go.sum"):
            digest.update((self.folder / name).read_bytes())
        versions = self.versions()
        label = "-".join(
            f"{controller.removesuffix('-controller')}-{versions[controller]}"
            for controller in self.controllers
        )
        return cache_root() / "flux" / f"{label}-{digest.hexdigest()[:12]}"

    def cached_binaries(self) -> FluxBinaries | None:
        """The controllers for the current pins if all are built, else ``None``."""
        directory = self.binaries_directory()
        if all((directory / name).is_file() for name in self.controllers):
            return FluxBinaries(directory, self.versions())
        return None

    def ensure_binaries(self, progress: Callable[[str, int, int], None]) -> FluxBinaries:
        """The cached controllers, built first if needed (``progress`` as
        :func:`lockstep.dev.toolchain.build_tools` reports it)."""
        found = self.cached_binaries()
        if found is not None:
            return found
        target = self.binaries_directory()
        build_module_into(target, self.folder, "-s -w", progress, WHAT)
        return FluxBinaries(target, self.versions())


FLUX = PinnedModule(FLUX_MODULE, CONTROLLERS)
FLUX_HELM = PinnedModule(FLUX_HELM_MODULE, (HELM_CONTROLLER,))


def flux_versions() -> dict[str, str]:
    """The pinned version of the source- and kustomize-controller."""
    return FLUX.versions()


def binaries_directory() -> Path:
    """The cache folder of the source- and kustomize-controller for the current pins."""
    return FLUX.binaries_directory()


def cached_binaries() -> FluxBinaries | None:
    """The source- and kustomize-controller for the current pins if both are built."""
    return FLUX.cached_binaries()


def ensure_binaries(progress: Callable[[str, int, int], None]) -> FluxBinaries:
    """Return the cached source- and kustomize-controller, building them first if needed.

    ``progress(package, done, total)`` is called for every Go package compiled.
    """
    return FLUX.ensure_binaries(progress)


def ensure_helm_binaries(progress: Callable[[str, int, int], None]) -> FluxBinaries:
    """Return the cached helm-controller, building it first if needed (``progress`` as
    for :func:`ensure_binaries`)."""
    return FLUX_HELM.ensure_binaries(progress)


def crd_files() -> list[Path]:
    """The CustomResourceDefinitions that ship with the pinned controllers, as Flux installs
    them (source-controller's six kinds, kustomize-controller's Kustomization,
    helm-controller's HelmRelease).

    They are read from the Go module cache, where the module download puts them
    (verified against ``go.sum``); nothing is built.
    """
    go = go_command(WHAT)
    files: list[Path] = []
    pins = [
        (pinned.folder, controller, version)
        for pinned in (FLUX, FLUX_HELM)
        for controller, version in pinned.versions().items()
    ]
    for folder, controller, version in pins:
        module = f"github.com/fluxcd/{controller}@{version}"
        download = subprocess.run(
            [go, "mod", "download", "-json", module],
            cwd=folder,
            env=go_environment(),
            capture_output=True,
            text=True,
        )
        described = json.loads(download.stdout or "{}")
        if download.returncode != 0 or "Dir" not in described:
            detail = described.get("Error") or download.stderr.strip() or "no output"
            raise ToolchainError(f"downloading {module} failed: {detail}")
        bases = Path(described["Dir"]) / "config" / "crd" / "bases"
        found = sorted(bases.glob("*.yaml"))
        if not found:
            raise ToolchainError(f"{module} has no CRDs under {bases}")
        files += found
    return files


def _start_controller(
    binary: Path, flags: Sequence[str], log: Path, kubeconfig: Path, health: str
) -> LoopbackProcess:
    """Start one controller with ``flags`` after :data:`COMMON_FLAGS` (so that they win);
    return once it answers its readiness probe on ``health``."""
    process = LoopbackProcess(
        binary.name,
        [str(binary), *COMMON_FLAGS, *flags],
        log,
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
    )
    process.start(_answers(f"http://{health}/readyz"), timeout=START_TIMEOUT_SECONDS)
    return process


def _answers(url: str) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return int(response.status) == 200
        except OSError:
            return False

    return ready


@dataclass(frozen=True)
class FluxAddresses:
    """The loopback addresses one run of the controllers listens on."""

    storage: str
    source_metrics: str
    source_health: str
    kustomize_metrics: str
    kustomize_health: str

    @classmethod
    def free(cls) -> FluxAddresses:
        return cls(*(f"{LOOPBACK}:{free_port()}" for _ in range(5)))


class FluxControllers:
    """Flux's source-controller and kustomize-controller running against one cluster.

    The source-controller keeps its artifacts under ``folder/artifacts`` and serves
    them on a loopback port that it also advertises, so the kustomize-controller
    (and lockstep, after a migration) fetch them there. Both logs are under
    ``folder``. ``extra_flags`` are more command-line flags per controller, given after
    the ones set here so that they win (``--concurrent=20``, ``--log-level=info``).
    ``controllers`` names the ones to run: the source-controller alone serves a
    :class:`FluxHelmController` without an idle kustomize-controller beside it. A
    context manager: started on enter, stopped (SIGTERM) on exit.
    """

    def __init__(
        self,
        binaries: FluxBinaries,
        kubeconfig: Path,
        folder: Path,
        extra_flags: Mapping[str, Sequence[str]] | None = None,
        controllers: Sequence[str] = CONTROLLERS,
    ) -> None:
        self.binaries = binaries
        self.kubeconfig = kubeconfig
        self.folder = folder
        self.controllers = tuple(controllers)
        self.extra_flags = {name: list(flags) for name, flags in (extra_flags or {}).items()}
        unknown = sorted((set(self.extra_flags) | set(self.controllers)) - set(CONTROLLERS))
        if unknown:
            raise ValueError(f"no Flux controller named {', '.join(unknown)}; use {CONTROLLERS}")
        self.addresses = FluxAddresses.free()
        self._processes: list[LoopbackProcess] = []

    def log(self, controller: str) -> Path:
        return self.folder / f"{controller}.log"

    def start(self) -> None:
        """Start the controllers; return once each answers its readiness probe."""
        # The source-controller refuses a storage path that does not exist.
        (self.folder / "artifacts").mkdir(parents=True, exist_ok=True)
        addresses = self.addresses
        commands = {
            SOURCE_CONTROLLER: [
                f"--storage-path={self.folder / 'artifacts'}",
                f"--storage-addr={addresses.storage}",
                f"--storage-adv-addr={addresses.storage}",
                f"--metrics-addr={addresses.source_metrics}",
                f"--health-addr={addresses.source_health}",
            ],
            KUSTOMIZE_CONTROLLER: [
                f"--metrics-addr={addresses.kustomize_metrics}",
                f"--health-addr={addresses.kustomize_health}",
            ],
        }
        health = {
            SOURCE_CONTROLLER: addresses.source_health,
            KUSTOMIZE_CONTROLLER: addresses.kustomize_health,
        }
        try:
            for controller in self.controllers:
                self._processes.append(
                    _start_controller(
                        self.binaries.path(controller),
                        [*commands[controller], *self.extra_flags.get(controller, [])],
                        self.log(controller),
                        self.kubeconfig,
                        health[controller],
                    )
                )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the controllers (SIGTERM, then SIGKILL after a grace period)."""
        while self._processes:
            self._processes.pop().stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class FluxHelmController:
    """Flux's helm-controller running against one cluster, beside a running
    :class:`FluxControllers` whose source-controller serves the charts it installs.

    Its log is ``folder/helm-controller.log``; ``extra_flags`` are given after the ones
    set here so that they win. A context manager: started on enter, stopped (SIGTERM)
    on exit.
    """

    def __init__(
        self,
        binaries: FluxBinaries,
        kubeconfig: Path,
        folder: Path,
        extra_flags: Sequence[str] = (),
    ) -> None:
        self.binaries = binaries
        self.kubeconfig = kubeconfig
        self.folder = folder
        self.extra_flags = list(extra_flags)
        self.metrics_address = f"{LOOPBACK}:{free_port()}"
        self.health_address = f"{LOOPBACK}:{free_port()}"
        self._process: LoopbackProcess | None = None

    def log(self) -> Path:
        return self.folder / f"{HELM_CONTROLLER}.log"

    def start(self) -> None:
        """Start the controller; return once it answers its readiness probe."""
        flags = [
            f"--metrics-addr={self.metrics_address}",
            f"--health-addr={self.health_address}",
            *self.extra_flags,
        ]
        self._process = _start_controller(
            self.binaries.path(HELM_CONTROLLER),
            flags,
            self.log(),
            self.kubeconfig,
            self.health_address,
        )

    def stop(self) -> None:
        """Stop the controller (SIGTERM, then SIGKILL after a grace period)."""
        if self._process is not None:
            self._process.stop()
            self._process = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def main() -> int:
    """Build the controllers if they are not cached yet; print their folders."""

    def report(package: str, done: int, total: int) -> None:
        if done % 100 == 0 or done == total:
            print(f"building {WHAT}: {done}/{total} packages", file=sys.stderr, flush=True)

    try:
        built = [ensure_binaries(report), ensure_helm_binaries(report)]
    except ToolchainError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for binaries in built:
        versions = ", ".join(f"{name} {version}" for name, version in binaries.versions.items())
        print(f"{binaries.directory} ({versions})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
