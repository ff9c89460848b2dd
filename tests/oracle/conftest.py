"""Fixtures of the real-Flux oracle: Flux's source-controller and kustomize-controller,
and its helm-controller, built from their pinned Go modules (:mod:`lockstep.dev.flux`),
to be run against the test ground's control plane (see :mod:`ground.flux`).

The build takes many minutes on first use and is cached afterwards; if it cannot
be done, every test here fails with the reason (nothing is skipped).
"""

from __future__ import annotations

import pytest

from lockstep.dev.flux import FluxBinaries, ensure_binaries, ensure_helm_binaries


@pytest.fixture(scope="session")
def flux_binaries() -> FluxBinaries:
    return ensure_binaries(lambda *_progress: None)


@pytest.fixture(scope="session")
def flux_helm_binaries() -> FluxBinaries:
    return ensure_helm_binaries(lambda *_progress: None)
