"""W2, commit → applied: how long a pushed commit takes to be live in the cluster.

One engine, one namespace, two pipelines side by side, each a Git repository, a
GitRepository and a Kustomization applying one ConfigMap whose ``revision`` is the
commit's number:

- **Receiver**: GitRepository and Kustomization poll every hour; a ``generic``
  Receiver is called right after each push, as a Git host's webhook would be;
- **polling**: the GitRepository polls every ``POLL_INTERVAL``; each commit is
  pushed at a random moment of the polling period, so the latency includes on
  average half an interval of waiting.

Latency runs from the end of ``git push`` until the API server sends the watch
event of the ConfigMap with the new revision. Run by ``benchmarks/run.py``.
"""

from __future__ import annotations

import asyncio
import base64
import random
import time
from typing import Any

import aiohttp

from benchmarks.fluxapp import git_repository
from benchmarks.ground import KUSTOMIZATION_API, Ground
from benchmarks.measure import percentiles
from benchmarks.observe import Objects, Watched, is_ready
from lockstep.dev.gitserver import WorkingCopy
from lockstep.kube import KubeObject

NAME = "w2_commit_to_applied"
SAMPLES, QUICK_SAMPLES = 20, 3
POLL_INTERVAL, QUICK_POLL_INTERVAL = 10, 2
"""Seconds between polls of the polled GitRepository."""
RECEIVER_API = "notification.toolkit.fluxcd.io/v1"
TOKEN = "bench-webhook-token"


def settings(name: str, revision: int) -> str:
    return (
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"
        f'data:\n  revision: "{revision}"\n'
    )


def kustomization(name: str, namespace: str) -> KubeObject:
    return {
        "apiVersion": KUSTOMIZATION_API,
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "sourceRef": {"kind": "GitRepository", "name": name},
            "path": "./app",
            "interval": "1h",
            "prune": True,
            "targetNamespace": namespace,
        },
    }


def receiver(namespace: str, source: str) -> list[KubeObject]:
    token = base64.b64encode(TOKEN.encode()).decode()
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "webhook-token", "namespace": namespace},
            "data": {"token": token},
        },
        {
            "apiVersion": RECEIVER_API,
            "kind": "Receiver",
            "metadata": {"name": "push", "namespace": namespace},
            "spec": {
                "type": "generic",
                "secretRef": {"name": "webhook-token"},
                "resources": [{"kind": "GitRepository", "name": source}],
            },
        },
    ]


def push(work: WorkingCopy, name: str, revision: int) -> None:
    work.write("app/settings.yaml", settings(name, revision))
    work.commit(f"revision {revision}")
    work.push()


async def run(ground: Ground, quick: bool) -> dict[str, Any]:
    samples = QUICK_SAMPLES if quick else SAMPLES
    interval = QUICK_POLL_INTERVAL if quick else POLL_INTERVAL
    async with ground.namespace("bench-w2") as namespace:
        works = {}
        for name, poll in (("hooked", "1h"), ("polled", f"{interval}s")):
            repo, works[name] = ground.repository(f"w2-{name}")
            await asyncio.to_thread(push, works[name], f"{name}-settings", 0)
            await ground.kube.apply(git_repository(name, namespace, repo.git_url, poll))
            await ground.kube.apply(kustomization(name, namespace))
        for obj in receiver(namespace, "hooked"):
            await ground.kube.apply(obj)
        async with (
            ground.engine("w2") as engine,
            Watched(ground.kube, KUSTOMIZATION_API, "Kustomization", namespace) as ks,
            Watched(ground.kube, RECEIVER_API, "Receiver", namespace) as receivers,
            Watched(ground.kube, "v1", "ConfigMap", namespace) as config_maps,
        ):
            await ks.until(
                lambda objs: all(is_ready(objs.get(n, {})) for n in works),
                within=60,
                what="both Kustomizations Ready",
            )
            await receivers.until(
                lambda objs: bool(_webhook_path(objs)), within=60, what="Receiver push Ready"
            )
            url = f"http://{engine.receiver_addr}{_webhook_path(receivers.objects)}"

            async def live(name: str, revision: int) -> float:
                return await config_maps.until(
                    lambda objs: _revision(objs, f"{name}-settings") == str(revision),
                    within=3 * interval + 30,
                    what=f"revision {revision} of {name}-settings live",
                )

            with_receiver: list[float] = []
            async with aiohttp.ClientSession() as session:
                for revision in range(1, samples + 1):
                    await asyncio.to_thread(push, works["hooked"], "hooked-settings", revision)
                    pushed = time.monotonic()
                    async with session.post(url, json={"revision": revision}) as answer:
                        answer.raise_for_status()
                    with_receiver.append(await live("hooked", revision) - pushed)
                    await asyncio.sleep(0.5)
            by_polling: list[float] = []
            for revision in range(1, samples + 1):
                await asyncio.sleep(random.uniform(0, interval))
                await asyncio.to_thread(push, works["polled"], "polled-settings", revision)
                pushed = time.monotonic()
                by_polling.append(await live("polled", revision) - pushed)
    return {
        "receiver": percentiles(with_receiver),
        "polling": {**percentiles(by_polling), "interval_seconds": interval},
    }


def _webhook_path(receivers: Objects) -> str:
    obj = receivers.get("push") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (obj.get("status") or {}).get("conditions") or []
    )
    return str((obj.get("status") or {}).get("webhookPath") or "") if ready else ""


def _revision(config_maps: Objects, name: str) -> str | None:
    data = (config_maps.get(name) or {}).get("data") or {}
    return data.get("revision")


def table(result: dict[str, Any]) -> str:
    polling = result["polling"]
    lines = [
        "W2 commit → applied: from the end of `git push` until the changed ConfigMap is live.",
        "",
        "| trigger | samples | p50 | p95 | max |",
        "|---|---|---|---|---|",
    ]
    for label, row in (
        ("Receiver (generic webhook right after the push)", result["receiver"]),
        (f"polling, GitRepository interval {polling['interval_seconds']} s", polling),
    ):
        lines.append(
            f"| {label} | {row['samples']} | {row['p50_ms']:.0f} ms | {row['p95_ms']:.0f} ms"
            f" | {row['max_ms']:.0f} ms |"
        )
    return "\n".join(lines) + "\n"
