"""Settings and the results file of the fault-injection suite.

``LOCKSTEP_FAULT_KILLS`` (default 20) is K, the kills in a row of the kill scenario;
``LOCKSTEP_FAULT_ROUNDS`` (default 3) the outages of each server scenario;
``LOCKSTEP_FAULT_APPS`` (default 200) N, the applications of 5 MB of the memory scenario;
``LOCKSTEP_FAULT_RESULTS`` the file the results go to (default
``benchmarks/results/faults.md``; the bounded run of ``make test`` writes under
``benchmarks/results/quick/``, which is not kept).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from faults.report import ROOT, FaultReport
from lockstep.kube import KubeClient

DEFAULT_RESULTS = ROOT / "benchmarks" / "results" / "faults.md"


@pytest.fixture(scope="session")
def kills() -> int:
    return int(os.environ.get("LOCKSTEP_FAULT_KILLS", "20"))


@pytest.fixture(scope="session")
def rounds() -> int:
    return int(os.environ.get("LOCKSTEP_FAULT_ROUNDS", "3"))


@pytest.fixture(scope="session")
def apps() -> int:
    return int(os.environ.get("LOCKSTEP_FAULT_APPS", "200"))


@pytest.fixture(scope="session")
async def fault_report(kube: KubeClient, kills: int, rounds: int) -> AsyncIterator[FaultReport]:
    path = Path(os.environ.get("LOCKSTEP_FAULT_RESULTS", str(DEFAULT_RESULTS)))
    report = FaultReport(path, f"K = {kills} kills; rounds of each server outage: {rounds}")
    report.kubernetes = await kube.server_version()
    yield report
    report.write()
