"""Build the real ``helm`` command, the reference that lockstep's Helm support is
measured against.

The Go module in ``gomod/helm`` pins ``helm.sh/helm/v4``'s command as a ``tool``
dependency; its ``go.sum`` fixes every byte that is built. The release is stamped
into the binary as Helm's own release build does, so ``helm version`` and the
User-Agent it sends name the pinned release. The binary is cached under the user's
cache directory in a folder named after the version and a digest of the module
files, built like Flux's controllers (see :mod:`lockstep.dev.toolchain`): into a
temporary folder renamed into place.

Called by the test ground's Helm fixtures (tests/ground/charts.py, ``make helm``)
and by ``python -m lockstep.dev.helm``, which builds the binary and prints where.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Callable
from pathlib import Path

from lockstep.dev.toolchain import GO_MODULES, ToolchainError, build_module_into, cache_root

HELM_MODULE = GO_MODULES / "helm"
HELM_GO_MODULE = "helm.sh/helm/v4"
WHAT = "the helm command"


def helm_version() -> str:
    """The pinned Helm release, e.g. ``v4.3.2``."""
    go_mod = (HELM_MODULE / "go.mod").read_text()
    match = re.search(rf"^\s*{re.escape(HELM_GO_MODULE)} (v\S+)", go_mod, re.MULTILINE)
    if match is None:
        raise ToolchainError(f"{HELM_MODULE / 'go.mod'} does not pin {HELM_GO_MODULE}")
    return match.group(1)


def binaries_directory() -> Path:
    """The cache folder for the current pins."""
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum"):
        digest.update((HELM_MODULE / name).read_bytes())
    return cache_root() / "helm" / f"{helm_version()}-{digest.hexdigest()[:12]}"


def cached_helm() -> Path | None:
    """The helm binary for the current pins if it is built, else ``None``."""
    binary = binaries_directory() / "helm"
    return binary if binary.is_file() else None


def ensure_helm(progress: Callable[[str, int, int], None]) -> Path:
    """Return the cached helm binary, building it first if needed.

    ``progress(package, done, total)`` is called for every Go package compiled.
    """
    found = cached_helm()
    if found is not None:
        return found
    target = binaries_directory()
    build_module_into(target, HELM_MODULE, _version_ldflags(helm_version()), progress, WHAT)
    return target / "helm"


def _version_ldflags(version: str) -> str:
    return f"-s -w -X {HELM_GO_MODULE}/internal/version.version={version}"


def main() -> int:
    """Build helm if it is not cached yet; print its path."""

    def report(package: str, done: int, total: int) -> None:
        if done % 100 == 0 or done == total:
            print(f"building {WHAT}: {done}/{total} packages", file=sys.stderr, flush=True)

    try:
        helm = ensure_helm(report)
    except ToolchainError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{helm} ({helm_version()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
