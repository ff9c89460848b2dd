"""What the side-by-side comparisons with Flux share (:mod:`benchmarks.compare` on W1's
fleet shapes, :mod:`benchmarks.compare_helm` on W6): the results written after every
run, the heading of their Markdown (when, at which commit, on what machine, which
engines), the table of figures with a row per engine and a row of ratios Flux / lockstep
per Flux engine, and the checks of their command lines.

Each comparison keeps what is its own: which figures it compares, how a run's outcome
reads, and its other tables.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LOCKSTEP = "lockstep"
"""The engine the ratios are taken against."""
Figures = dict[str, float | None]
Run = dict[str, Any]
DEFAULT_CELL = "{:.1f}"


def write_results(
    folder: Path,
    name: str,
    document: dict[str, Any],
    machine: dict[str, Any],
    markdown: Callable[[dict[str, Any]], str],
) -> None:
    """``document`` as ``name.json`` and, as ``markdown`` renders it, ``name.md`` in
    ``folder``, stamped with the time and the machine's load; rewritten after each run."""
    document["when"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    document["machine"] = {**machine, "load_average": [round(x, 2) for x in os.getloadavg()]}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(document, indent=2) + "\n")
    (folder / f"{name}.md").write_text(markdown(document))


def heading(title: str, document: dict[str, Any]) -> list[str]:
    """The lines that open a comparison: its title, :func:`where`, and the engines with
    their command and where their settings come from."""
    return [
        f"# {title}",
        "",
        where(document),
        "",
        "Engines:",
        "",
        *(
            f"- `{key}`: {engine['command']} ({engine['origin']})"
            for key, engine in document["engines"].items()
        ),
        "",
    ]


def where(document: dict[str, Any]) -> str:
    """When, which commit and versions, on what machine."""
    machine = document["machine"]
    flux = ", ".join(f"{name} {version}" for name, version in document["flux_versions"].items())
    return (
        f"{document['when']}, lockstep {machine.get('lockstep', '?')} at "
        f"{machine.get('revision', '?')}; Flux {flux or '-'}; {machine['cores']} cores, "
        f"{machine['memory_gib']} GiB, {machine.get('cpu', '')}; Kubernetes "
        f"{machine.get('kubernetes', '-')}; load average at the end "
        f"{machine.get('load_average', '-')}"
    )


def ready_table(
    title: str,
    runs: Mapping[str, Run],
    columns: Sequence[tuple[str, str]],
    figures_of: Callable[[Run], Figures],
    outcome_of: Callable[[Run], str],
    cells: Mapping[str, str],
    timings_of: Callable[[Run], Run] = lambda run: run,
) -> list[str]:
    """A table of runs until all Ready (``runs`` by engine): the outcome and the p50 / p95
    time to Ready (of ``timings_of(run)``), then the figures of ``columns`` after the
    first, each written as ``cells`` says; then the ratios Flux / lockstep, the first
    figure's under the outcome."""
    first, rest = columns[0][0], columns[1:]
    lines = [
        f"## {title}",
        "",
        "| engine | all Ready | p50 / p95 | " + " | ".join(name for _key, name in rest) + " |",
        "|---|---|---|" + "---|" * len(rest),
    ]
    for key, run in runs.items():
        values = figures_of(run)
        lines.append(
            f"| {key} | {outcome_of(run)} | {percentiles_cell(timings_of(run))} | "
            + " | ".join(cell(values[name], cells.get(name)) for name, _title in rest)
            + " |"
        )
    for key, shares in shares_of(runs, figures_of):
        lines.append(
            f"| {key} / lockstep | {ratio_cell(shares[first])} | | "
            + " | ".join(ratio_cell(shares[name]) for name, _title in rest)
            + " |"
        )
    return [*lines, ""]


def shares_of(
    runs: Mapping[str, Run], figures_of: Callable[[Run], Figures]
) -> list[tuple[str, Figures]]:
    """The ratios of each Flux run's figures to lockstep's, when lockstep ran."""
    lockstep = runs.get(LOCKSTEP)
    if lockstep is None:
        return []
    ours = figures_of(lockstep)
    return [(key, ratios(figures_of(run), ours)) for key, run in runs.items() if key != LOCKSTEP]


def ratios(flux: Figures, lockstep: Figures) -> Figures:
    """Each of Flux's figures divided by lockstep's; ``None`` where one is missing or 0."""
    return {key: ratio(value, lockstep[key]) for key, value in flux.items()}


def ratio(theirs: float | None, ours: float | None) -> float | None:
    if theirs is None or not ours:
        return None
    return round(theirs / ours, 2)


def cell(value: float | None, form: str | None = None) -> str:
    """A figure as ``form`` writes it (one decimal by default); ``-`` for none."""
    return "-" if value is None else (form or DEFAULT_CELL).format(value)


def percentiles_cell(run: Run) -> str:
    ready = run.get("time_to_ready") or {}
    if "p50_ms" not in ready:
        return "-"
    return f"{ready['p50_ms'] / 1000:.1f} s / {ready['p95_ms'] / 1000:.1f} s"


def ratio_cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def first_line(error: Exception) -> str:
    return f"{type(error).__name__}: {(str(error).splitlines() or [''])[0]}"


def choices(
    parser: argparse.ArgumentParser, text: str, allowed: Sequence[str], what: str
) -> list[str]:
    chosen = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in chosen if item not in allowed]
    if unknown or not chosen:
        parser.error(
            f"unknown {what} {', '.join(unknown) or '(none)'}; choose among {', '.join(allowed)}"
        )
    return chosen


def counts(parser: argparse.ArgumentParser, text: str, what: str) -> list[int]:
    """The Ns of ``--sizes``: whole numbers of ``what``, at least 1, separated by commas."""
    try:
        sizes = [int(size) for size in text.split(",") if size.strip()]
    except ValueError:
        parser.error(f"--sizes takes whole numbers separated by commas, not {text!r}")
    if not sizes or any(size < 1 for size in sizes):
        parser.error(f"--sizes takes numbers of {what}, at least 1")
    return sizes


def report_build(_package: str, done: int, total: int) -> None:
    """Progress of a build of Flux's controllers, every hundred packages."""
    if done % 100 == 0 or done == total:
        sys.stderr.write(f"building Flux's controllers: {done}/{total} packages\n")
