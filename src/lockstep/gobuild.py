"""Go programs built from pinned modules and cached, for the parts of lockstep that are Go.

lockstep runs Go code where only Go's own libraries do the job exactly: the resident
Kustomize build service (:mod:`lockstep.render.kustomizer`), the resident Helm
rendering service (:mod:`lockstep.render.helm`), the local control plane
and Flux's controllers for the sandbox and the tests (:mod:`lockstep.dev.toolchain`,
:mod:`lockstep.dev.flux`), and the small Go programs the golden tests compare with.
Each is built from a folder holding its ``go.mod``, ``go.sum`` and sources, whose
``go.sum`` fixes every byte that is built; the go command never fetches another
toolchain and never changes the module files.

:func:`built_program` builds a folder's main package once per content of its files,
into the user's cache directory (``$LOCKSTEP_CACHE_DIR`` overrides it), writing a
temporary file renamed into place so an interrupted build never leaves a half-built
program behind. A pure shared library: it imports nothing of lockstep.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import platformdirs

MINIMUM_GO = (1, 26)
BUILD_TIMEOUT_SECONDS = 900.0


class GoBuildError(Exception):
    """A Go program cannot be built; the message says what to install or fix."""


def cache_root() -> Path:
    """lockstep's cache directory (``$LOCKSTEP_CACHE_DIR`` overrides the platform default)."""
    override = os.environ.get("LOCKSTEP_CACHE_DIR")
    return Path(override) if override else Path(platformdirs.user_cache_dir("lockstep"))


def go_command(what: str) -> str:
    """The ``go`` command, checked to be new enough to build ``what``."""
    go = shutil.which("go")
    if go is None:
        raise GoBuildError(
            f"Go is not installed; install Go 1.26 or newer (make install does) to build {what}"
        )
    version = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True).stdout
    match = re.match(r"go(\d+)\.(\d+)", version.strip())
    if match is None or (int(match.group(1)), int(match.group(2))) < MINIMUM_GO:
        wanted = ".".join(map(str, MINIMUM_GO))
        raise GoBuildError(
            f"Go {wanted} or newer is needed to build {what}, found {version.strip()}"
        )
    return go


def go_environment() -> dict[str, str]:
    """The environment of every go command: the local toolchain, the pinned go.sum only."""
    # Never let the go command fetch another toolchain: the pinned modules build
    # with the local one, and a download would leave this machine's registries.
    return {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=readonly"}


def program_path(folder: Path, name: str) -> Path:
    """Where the program of ``folder`` is cached: named after ``name`` and a digest of
    the folder's files."""
    digest = hashlib.sha256()
    for source in sorted(path for path in folder.iterdir() if path.is_file()):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return cache_root() / f"{name}-{digest.hexdigest()[:16]}"


def built_program(folder: Path, name: str, what: str) -> Path:
    """The program of the main package in ``folder``, built first when not cached;
    ``what`` names it in errors (:class:`GoBuildError`)."""
    program = program_path(folder, name)
    if program.is_file():
        return program
    go = go_command(what)
    program.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=program.parent, prefix=f".{program.name}.")
    os.close(handle)
    try:
        built = subprocess.run(
            [go, "build", "-trimpath", "-ldflags", "-s -w", "-o", partial, "."],
            cwd=folder,
            env=go_environment(),
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_SECONDS,
            check=False,
        )
        if built.returncode != 0:
            raise GoBuildError(f"building {what} in {folder} failed: {_last_line(built.stderr)}")
        os.replace(partial, program)
    finally:
        Path(partial).unlink(missing_ok=True)
    return program


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
