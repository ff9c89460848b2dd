"""Run lockstep's benchmarks and write their results (``make bench``; ``--quick`` for a smoke run).

Each workload returns plain data; this runner adds the machine's facts and writes
``benchmarks/results/<name>.json`` and a Markdown table. A quick run writes under
``benchmarks/results/quick/`` (not committed) so smoke runs never overwrite figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import git_source

RESULTS = Path(__file__).parent / "results"


def machine_facts() -> dict[str, Any]:
    memory_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def git_table(result: dict[str, Any]) -> str:
    lines = [
        f"Git source, repository of {result['files']} files (ms; p50 / p95 over the runs)",
        "",
        "| transport | no-op poll p50 | no-op poll p95 | full fetch p50 | full fetch p95 |",
        "|---|---|---|---|---|",
    ]
    for transport in ("git", "http"):
        poll, fetch = result[transport]["noop_poll"], result[transport]["full_fetch"]
        lines.append(
            f"| {transport} | {poll['p50_ms']} | {poll['p95_ms']} | {fetch['p50_ms']} | {fetch['p95_ms']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="a small smoke run; results are not kept"
    )
    args = parser.parse_args()
    folder = RESULTS / "quick" if args.quick else RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    result = {
        "workload": "git_source",
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine_facts(),
        "result": git_source.run(args.quick),
    }
    (folder / "git_source.json").write_text(json.dumps(result, indent=2) + "\n")
    table = git_table(result["result"])
    (folder / "git_source.md").write_text(table)
    sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
