"""W3, drift repair: how long a manual edit of a field lockstep applied stays live.

One Kustomization (interval one hour, so only drift detection can repair in time)
applies a ConfigMap. Each sample edits the ConfigMap's ``data.colour`` as
``kubectl edit`` does — a JSON patch under another field manager, which takes the
field from lockstep's — and measures from sending the edit until the API server
sends the watch event of the ConfigMap back at its Git value.

Run by ``benchmarks/run.py``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from benchmarks.fluxapp import git_repository
from benchmarks.ground import KUSTOMIZATION_API, Ground
from benchmarks.measure import percentiles
from benchmarks.observe import Objects, Watched, is_ready
from benchmarks.w2_commit_to_applied import kustomization
from lockstep.dev.gitserver import WorkingCopy
from lockstep.kube import KubeClient, KubeObject, ObjectRef

NAME = "w3_drift_repair"
SAMPLES, QUICK_SAMPLES = 20, 3
EDITOR = "kubectl-edit"
SOURCE = "drifting"
SETTINGS = f"""\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {SOURCE}-settings
data:
  colour: blue
"""


def push(work: WorkingCopy) -> None:
    work.write("app/settings.yaml", SETTINGS)
    work.commit("settings")
    work.push()


class ColourHistory:
    """Every colour the ConfigMap was seen with, and when, in the watch's order."""

    def __init__(self) -> None:
        self.seen: list[tuple[str | None, float]] = []
        self._edit = ""
        self._from = 0

    def note(self, obj: KubeObject, at: float) -> None:
        if obj["metadata"]["name"] == f"{SOURCE}-settings":
            self.seen.append(((obj.get("data") or {}).get("colour"), at))

    def expect(self, edit: str) -> None:
        """The next edit sets ``edit``: look for its revert from now on."""
        self._edit, self._from = edit, len(self.seen)

    def reverted_at(self) -> float | None:
        """When the colour came back to blue after the expected edit was seen."""
        seen_edit = False
        for value, at in self.seen[self._from :]:
            seen_edit = seen_edit or value == self._edit
            if seen_edit and value == "blue":
                return at
        return None

    def reverted(self, _: Objects) -> bool:
        return self.reverted_at() is not None


async def run(ground: Ground, quick: bool) -> dict[str, Any]:
    samples = QUICK_SAMPLES if quick else SAMPLES
    async with ground.namespace("bench-w3") as namespace:
        repo, work = ground.repository("w3")
        await asyncio.to_thread(push, work)
        await ground.kube.apply(git_repository(SOURCE, namespace, repo.git_url))
        await ground.kube.apply(kustomization(SOURCE, namespace))
        settings = ObjectRef("v1", "ConfigMap", f"{SOURCE}-settings", namespace)
        history = ColourHistory()
        async with (
            ground.engine("w3"),
            Watched(ground.kube, KUSTOMIZATION_API, "Kustomization", namespace) as ks,
            Watched(ground.kube, "v1", "ConfigMap", namespace, changed=history.note) as config_maps,
            KubeClient.from_kubeconfig(ground.cluster.kubeconfig, field_manager=EDITOR) as editor,
        ):
            await ks.until(
                lambda objs: is_ready(objs.get(SOURCE, {})),
                within=60,
                what=f"Kustomization {SOURCE} Ready",
            )
            latencies: list[float] = []
            for sample in range(samples):
                history.expect(f"edit-{sample}")
                edit = [{"op": "replace", "path": "/data/colour", "value": f"edit-{sample}"}]
                edited = time.monotonic()
                await editor.json_patch(settings, edit)
                await config_maps.until(history.reverted, within=30, what=f"edit {sample} reverted")
                latencies.append((history.reverted_at() or 0.0) - edited)
                await asyncio.sleep(0.5)
    return {"repair": percentiles(latencies)}


def table(result: dict[str, Any]) -> str:
    row = result["repair"]
    return (
        "W3 drift repair: from a `kubectl edit`-like change of a managed field until it is\n"
        "reverted (Kustomization interval 1 h: only drift detection repairs in time).\n"
        "\n"
        "| samples | p50 | p95 | max |\n"
        "|---|---|---|---|\n"
        f"| {row['samples']} | {row['p50_ms']:.0f} ms | {row['p95_ms']:.0f} ms"
        f" | {row['max_ms']:.0f} ms |\n"
    )
