"""The Go programs of ``tests/golden/``: each built once per version of its sources.

A golden test compares lockstep with the Go implementation it re-creates (text/template,
Masterminds semver, Flux's envsubst, Kustomize's printing of a build): it runs a small
Go program on the same inputs. :func:`golden_program` builds ``tests/golden/<name>``
from its pinned ``go.mod`` and ``go.sum`` with :func:`lockstep.gobuild.built_program`,
cached under lockstep's cache directory by a digest of its sources. Go is a
prerequisite of ``make install``: without it the test fails, naming what it compares.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lockstep.gobuild import GoBuildError, built_program

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def golden_program(name: str, compares: str) -> Path:
    """The built program of ``tests/golden/<name>``; ``compares`` says what it is for."""
    try:
        return built_program(GOLDEN / name, name, f"the Go program to {compares}")
    except GoBuildError as error:
        pytest.fail(str(error))
