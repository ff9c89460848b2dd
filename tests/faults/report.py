"""The results of the fault-injection suite as a Markdown file, one small table per
scenario under one line of machine facts, as the benchmarks write theirs.

The scenarios record what they measured (:class:`ScenarioResult`) in the session's
:class:`FaultReport`, which is written once at the end of the session, failures
included: a scenario that failed is reported with its failures, not left out.
"""

from __future__ import annotations

import os
import platform
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import lockstep

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ScenarioResult:
    """One scenario: a title, what it does, its table, and notes under it."""

    title: str
    description: str
    headers: tuple[str, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"## {self.title}", "", self.description, ""]
        lines.append("| " + " | ".join(self.headers) + " |")
        lines.append("|" + "---|" * len(self.headers))
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.notes:
            lines += ["", *self.notes]
        return "\n".join(lines) + "\n"


@dataclass
class FaultReport:
    """What the scenarios of one session recorded, written to ``path`` at its end."""

    path: Path
    settings: str
    kubernetes: str = "-"
    scenarios: list[ScenarioResult] = field(default_factory=list)

    def write(self) -> None:
        if not self.scenarios:
            return
        parts = [
            machine_facts(self.kubernetes),
            "",
            "# Fault injection",
            "",
            f"`make faults` ({self.settings}): faults injected on the local control plane while "
            "`lockstep run` works, then what the cluster, the statuses and the artifact "
            "folder hold once it has converged.",
            "",
        ]
        parts += [scenario.markdown() for scenario in sorted(self.scenarios, key=_title)]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("\n".join(parts))


def seconds(values: list[float]) -> tuple[str, str, str]:
    """p50, p95 and max of ``values`` in seconds, as the tables show them."""
    if not values:
        return ("-", "-", "-")
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (f"{statistics.median(ordered):.1f} s", f"{p95:.1f} s", f"{ordered[-1]:.1f} s")


def machine_facts(kubernetes: str) -> str:
    """When and where, in the words of the benchmark results."""
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    memory_kib = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal"))
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line), "")
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    load = [round(value, 2) for value in os.getloadavg()]
    return (
        f"{when}, lockstep {lockstep.__version__} at {_commit()}; {os.cpu_count()} cores, "
        f"{round(memory_kib / 1024 / 1024, 1)} GiB, {model}; Kubernetes {kubernetes}; "
        f"Python {platform.python_version()}; load average at the end {load}"
    )


def _commit() -> str:
    """The checked-out commit, read from the repository's files (no Git command runs)."""
    git = ROOT / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head[:12]
        ref = head.removeprefix("ref: ")
        loose = git / ref
        if loose.is_file():
            return loose.read_text().strip()[:12]
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(f" {ref}"):
                return line.split()[0][:12]
    except OSError:
        pass
    return "unknown"


def _title(scenario: ScenarioResult) -> str:
    return scenario.title
