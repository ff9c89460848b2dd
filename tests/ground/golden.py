"""The Go programs of ``tests/golden/``: each built once per version of its sources.

A golden test compares lockstep with the Go implementation it re-creates (text/template,
Masterminds semver, Flux's envsubst): it runs a small Go program on the same inputs.
:func:`golden_program` builds ``tests/golden/<name>`` from its pinned ``go.mod`` and
``go.sum`` and caches the binary under ``~/.cache/lockstep``, named by a digest of its
sources; a build writes to a temporary file and renames it into place. Go is a
prerequisite of ``make install``: without it the test fails, naming what it compares.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
SOURCES = ("go.mod", "go.sum", "main.go")


def golden_program(name: str, compares: str) -> Path:
    """The built program of ``tests/golden/<name>``; ``compares`` says what it is for."""
    folder = GOLDEN / name
    go = shutil.which("go")
    if go is None:
        pytest.fail(f"go is not on PATH: install Go (a prerequisite of make install) to {compares}")
    digest = hashlib.sha256(b"".join((folder / source).read_bytes() for source in SOURCES))
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lockstep"
    program = cache / f"{name}-{digest.hexdigest()[:16]}"
    if program.exists():
        return program
    cache.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=cache, prefix=program.name + ".")
    os.close(handle)
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=readonly"}
    built = subprocess.run(
        [go, "build", "-o", partial, "."],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if built.returncode != 0:
        Path(partial).unlink(missing_ok=True)
        pytest.fail(f"building {folder} failed:\n{built.stderr}")
    os.replace(partial, program)
    return program
