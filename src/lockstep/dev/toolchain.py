"""Build the local control plane's binaries from the official Go modules, once per version.

The Go modules beside this file pin Kubernetes (kube-apiserver,
kube-controller-manager, kube-scheduler, and the etcd server Kubernetes itself
depends on) and kwok (the kwok controller that simulates nodes, and kwokctl
that runs the components). Their ``go.sum`` files fix every byte that is built.
Binaries are cached under the user's cache directory in a folder named after
the Kubernetes version and a digest of the module files, so only the first run
builds and a change of pins builds anew. A build writes to a temporary folder
and renames it into place, so an interrupted build never leaves a half-filled
cache behind.

Called by :mod:`lockstep.dev.cluster` (``lockstep dev cluster up``) and by
``make controlplane``; :mod:`lockstep.dev.flux` (Flux's controllers) and
:mod:`lockstep.dev.helm` (the helm command) build theirs with
:func:`build_module_into`.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lockstep.gobuild import GoBuildError
from lockstep.gobuild import cache_root as cache_root
from lockstep.gobuild import go_command as _go_command
from lockstep.gobuild import go_environment as go_environment

GO_MODULES = Path(__file__).parent / "gomod"
KWOK_MODULE = GO_MODULES / "kwok"
KUBERNETES_MODULE = "k8s.io/kubernetes"
BINARIES = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "etcd",
    "kwok",
    "kwokctl",
)
ToolchainError = GoBuildError
"""The control plane binaries cannot be built."""


@dataclass(frozen=True)
class ControlPlaneBinaries:
    """Where the built binaries are, and which Kubernetes version they are."""

    directory: Path
    kubernetes_version: str

    def path(self, name: str) -> Path:
        return self.directory / name


def kubernetes_version() -> str:
    """The Kubernetes release pinned in the Go module, e.g. ``v1.36.3``."""
    go_mod = (GO_MODULES / "go.mod").read_text()
    match = re.search(rf"^\s*{re.escape(KUBERNETES_MODULE)} (v\S+)", go_mod, re.MULTILINE)
    if match is None:
        raise ToolchainError(f"{GO_MODULES / 'go.mod'} does not pin {KUBERNETES_MODULE}")
    return match.group(1)


def binaries_directory() -> Path:
    """The cache folder for the current pins."""
    digest = hashlib.sha256()
    for module in (GO_MODULES, KWOK_MODULE):
        for name in ("go.mod", "go.sum"):
            digest.update((module / name).read_bytes())
    return cache_root() / "controlplane" / f"{kubernetes_version()}-{digest.hexdigest()[:12]}"


def cached_binaries() -> ControlPlaneBinaries | None:
    """The binaries for the current pins if they are all built, else ``None``."""
    directory = binaries_directory()
    if all((directory / name).is_file() for name in BINARIES):
        return ControlPlaneBinaries(directory, kubernetes_version())
    return None


def ensure_binaries(progress: Callable[[str, int, int], None]) -> ControlPlaneBinaries:
    """Return the cached binaries, building them first if needed.

    ``progress(package, done, total)`` is called for every Go package compiled.
    """
    found = cached_binaries()
    if found is not None:
        return found
    go = go_command()
    target = binaries_directory()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as scratch:
        output = Path(scratch) / "bin"
        output.mkdir()
        builds = [(GO_MODULES, _version_ldflags(kubernetes_version())), (KWOK_MODULE, "-s -w")]
        total = sum(count_packages(go, module) for module, _ in builds)
        done = 0
        for module, ldflags in builds:
            done = build_tools(go, module, ldflags, output, done, total, progress)
        # The etcd server's main package is the module go.etcd.io/etcd/server/v3,
        # which Go names after its last path element.
        (output / "server").rename(output / "etcd")
        shutil.rmtree(target, ignore_errors=True)
        output.rename(target)
    return ControlPlaneBinaries(target, kubernetes_version())


def go_command(what: str = "the control plane") -> str:
    """The ``go`` command, checked to be new enough to build ``what``."""
    return _go_command(what)


def count_packages(go: str, module: Path) -> int:
    """How many packages building the ``tool`` packages of ``module`` compiles."""
    listing = subprocess.run(
        [go, "list", "-deps", "tool"],
        cwd=module,
        env=go_environment(),
        capture_output=True,
        text=True,
    )
    if listing.returncode != 0:
        raise ToolchainError(f"go list in {module} failed: {_last_line(listing.stderr)}")
    return len(listing.stdout.split())


def build_tools(
    go: str,
    module: Path,
    ldflags: str,
    output: Path,
    done: int,
    total: int,
    progress: Callable[[str, int, int], None],
    what: str = "the control plane",
) -> int:
    """Build the ``tool`` packages of ``module`` into ``output``; the packages compiled so far.

    ``done`` and ``total`` carry the count across several modules for ``progress``.
    """
    command = [go, "build", "-v", "-trimpath", "-ldflags", ldflags, "-o", f"{output}/", "tool"]
    with subprocess.Popen(
        command,
        cwd=module,
        env=go_environment(),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    ) as build:
        assert build.stderr is not None
        errors: list[str] = []
        for line in build.stderr:
            package = line.strip()
            if not package:
                continue
            if " " in package or ":" in package:
                errors.append(package)
                continue
            done += 1
            progress(package, min(done, total), total)
    if build.returncode != 0:
        detail = errors[-1] if errors else f"exit code {build.returncode}"
        raise ToolchainError(f"building {what} in {module} failed: {detail}")
    return done


def build_module_into(
    target: Path,
    module: Path,
    ldflags: str,
    progress: Callable[[str, int, int], None],
    what: str,
) -> None:
    """Build the ``tool`` packages of one ``module`` into the folder ``target``, through a
    temporary folder beside it renamed into place (:func:`build_tools` reports ``progress``)."""
    go = go_command(what)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as scratch:
        output = Path(scratch) / "bin"
        output.mkdir()
        total = count_packages(go, module)
        build_tools(go, module, ldflags, output, 0, total, progress, what=what)
        shutil.rmtree(target, ignore_errors=True)
        output.rename(target)


def _version_ldflags(version: str) -> str:
    major, minor = version.lstrip("v").split(".")[:2]
    flags = ["-s", "-w"]
    # Stamp the release into the binaries the way the Kubernetes release build does,
    # so the API server reports its real version to clients.
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion={version}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
        ]
    return " ".join(flags)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
