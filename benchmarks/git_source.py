"""Benchmark: the cost of a Git source poll and of a full fetch, over git:// and HTTP.

- no-op poll: one ``resolve_ref`` (the remote's ref advertisement), which is all a
  GitRepository reconcile does when the branch has not moved;
- full fetch: ``resolve_ref`` + shallow ``checkout`` + packing into the artifact
  store, of a repository with 1000 manifest files.

Servers are the test ground's real git daemon and git http-backend on 127.0.0.1.
Run by ``benchmarks/run.py`` (``make bench``).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lockstep.dev.gitserver import GitServer
from lockstep.sources.git import checkout, resolve_ref
from lockstep.sources.ignore import IgnoreRules
from lockstep.sources.refs import GitRef
from lockstep.sources.store import ArtifactStore

NAME = "git_source"

MANIFEST = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: config-{index}
  namespace: bench
data:
  index: "{index}"
  payload: "{payload}"
"""


def _timed(action: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 2),
        "mean_ms": round(statistics.fmean(ordered), 2),
        "runs": len(ordered),
    }


def run(quick: bool) -> dict[str, Any]:
    files = 50 if quick else 1000
    polls, fetches = (5, 2) if quick else (50, 10)
    with (
        tempfile.TemporaryDirectory(prefix="lockstep-bench-") as scratch,
        GitServer(Path(scratch) / "git") as server,
    ):
        repo = server.create_repo("bench.git")
        work = repo.working_copy(Path(scratch) / "work")
        for index in range(files):
            work.write(
                f"apps/app-{index // 100}/config-{index}.yaml",
                MANIFEST.format(index=index, payload="x" * 200),
            )
        work.commit("manifests")
        work.push()
        store = ArtifactStore(Path(scratch) / "store", "http://127.0.0.1:0")
        ref = GitRef(branch="main")
        results: dict[str, Any] = {"files": files}
        for transport, url in (("git", repo.git_url), ("http", repo.http_url)):
            resolved = resolve_ref(url, ref)

            def fetch(url: str = url, transport: str = transport) -> None:
                target = resolve_ref(url, ref)
                with tempfile.TemporaryDirectory(dir=scratch) as tree:
                    checkout(url, target, Path(tree) / "t")
                    store.store(
                        "GitRepository",
                        "bench",
                        transport,
                        target.revision,
                        Path(tree) / "t",
                        ignore=IgnoreRules.for_tree(Path(tree) / "t"),
                    )

            results[transport] = {
                "noop_poll": _summary(_timed(lambda url=url: resolve_ref(url, ref), polls)),
                "full_fetch": _summary(_timed(fetch, fetches)),
                "revision": resolved.revision,
            }
        return results
