"""Scenario K: ``kill -9`` of ``lockstep run`` while it installs a Helm release of 150
ConfigMaps, K times in a row, restarting it each time, the values changed to drop one of
the ConfigMaps the killed engines wrote before the last restart (the release never
deployed yet, only the revisions they stored list it); then the same while it upgrades
the release to a new chart version whose values change every ConfigMap and remove one.

Each kill lands at a random point of the action: as soon as a random number of further
objects are written (the new revision's Secret then pending), or for some kills after a
random delay from the engine's start if that comes first (the chart being fetched, the
lock released, the render...), and for the last kill of each phase as soon as the new
revision's Secret says deployed, before the engine has finished recording it. After
every kill, every object carrying the HelmRelease's labels must be listed by the
manifest of a stored revision (else nothing would ever delete it). Once converged: no
revision pending, one deployed and the others superseded or failed, the HelmRelease
Ready at the chart version, every object as rendered with the values, the dropped ones
deleted, and no orphan.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from faults.checks import (
    Declared,
    helm_owned,
    helm_owner_labels,
    helm_release_problems,
    unreleased,
)
from faults.report import FaultReport, ScenarioResult
from ground.artifacts import condition
from ground.charts import Chart, ChartRepository
from ground.engine import Engine, start_engine, stop_engine
from ground.faults import kill_engine, restart_engine, wait_until_written
from ground.wait import eventually
from lockstep.controllers.helm.storage import ReleaseStatus, ReleaseStorage
from lockstep.kube import KubeClient, KubeError, KubeObject, ObjectRef

pytestmark = pytest.mark.faults

OBJECTS = 150
RELEASE = "app"
CHART = "maps"
INSTALLED, UPGRADED = "1.0.0", "1.1.0"
HELM_API = "helm.toolkit.fluxcd.io/v2"
SOURCE_API = "source.toolkit.fluxcd.io/v1"
MAPS = """\
{{- range $index := until (int .Values.count) }}
{{- $name := printf "map-%03d" $index }}
{{- if not (has $name $.Values.removed) }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ $name }}
data:
  index: {{ $index | quote }}
  generation: {{ $.Values.generation | quote }}
{{- end }}
{{- end }}
"""
TIMED_SHARE = 0.3
"""The share of kills after a random delay, unless the random number of objects is
written first."""
LONGEST_DELAY_SECONDS = 3.0
"""The longest of those delays, counted from the engine's readiness: about the time it
takes to fetch the chart, render it and write the first objects."""


@dataclass
class Phase:
    """The kills of one action (install or upgrade) and what they found."""

    action: str
    points: list[str] = field(default_factory=list)
    """Where each kill landed: what was written and the newest revision then."""
    pending: int = 0
    """Kills that left the newest revision pending."""
    failures: list[str] = field(default_factory=list)
    converged: str = "-"
    problems: list[str] = field(default_factory=list)

    def row(self) -> tuple[str, ...]:
        return (
            self.action,
            str(len(self.points)),
            str(self.pending),
            str(len(self.failures)),
            self.converged,
            "; ".join(self.problems) or "none",
        )


def _chart(version: str) -> Chart:
    values = {"count": OBJECTS, "generation": "1", "removed": []}
    return Chart(CHART, version, templates={"maps.yaml": MAPS}, values=values)


def _declared(generation: str, *removed: str) -> Declared:
    """The ConfigMaps the chart renders with these values: name → data."""
    rendered = {
        f"map-{index:03d}": {"index": str(index), "generation": generation}
        for index in range(OBJECTS)
    }
    return {name: data for name, data in rendered.items() if name not in removed}


def _helm_release(namespace: str, version: str, values: dict[str, Any]) -> KubeObject:
    return {
        "apiVersion": HELM_API,
        "kind": "HelmRelease",
        "metadata": {"name": RELEASE, "namespace": namespace},
        "spec": {
            "interval": "1h",
            "chart": {
                "spec": {
                    "chart": CHART,
                    "version": version,
                    "sourceRef": {"kind": "HelmRepository", "name": "charts"},
                }
            },
            "values": values,
        },
    }


def _helm_repository(namespace: str, url: str) -> KubeObject:
    return {
        "apiVersion": SOURCE_API,
        "kind": "HelmRepository",
        "metadata": {"name": "charts", "namespace": namespace},
        "spec": {"url": url, "interval": "1h"},
    }


async def _released(kube: KubeClient, namespace: str, version: str) -> KubeObject:
    """Wait until the HelmRelease is Ready for its generation with chart ``version``."""

    def done(obj: KubeObject) -> bool:
        status = obj.get("status") or {}
        return (
            condition(obj, "Ready").startswith("True")
            and condition(obj, "Ready").endswith(f"with chart {CHART}@{version}")
            and status.get("observedGeneration") == obj["metadata"]["generation"]
        )

    return await eventually(
        lambda: kube.get(ObjectRef(HELM_API, "HelmRelease", RELEASE, namespace)),
        done,
        within=120,
        what=f"HelmRelease {namespace}/{RELEASE} Ready with chart {CHART}@{version}",
    )


def _at_generation(generation: str) -> Callable[[KubeObject], bool]:
    """Whether a ConfigMap is written with the values of ``generation``."""
    return lambda obj: (obj.get("data") or {}).get("generation") == generation


def _revision(secret: KubeObject) -> int:
    return int(secret["metadata"]["labels"]["version"])


@dataclass
class Killer:
    """Kills and restarts the engine at random points of one action of the release."""

    kubeconfig: Path
    kube: KubeClient
    namespace: str
    rng: random.Random
    engine: Engine

    async def kill_during(
        self,
        phase: Phase,
        kills: int,
        written: Callable[[KubeObject], bool],
        total: int,
        before_last: Callable[[], Awaitable[None]] | None = None,
    ) -> float:
        """``kills`` kills while the engine performs the action that writes ``total``
        objects so that they are ``written``, the engine restarted before each but the
        first (``before_last`` done while it is down before the last); when the last one
        was."""
        labels = helm_owner_labels(RELEASE, self.namespace)
        deployed = await ReleaseStorage(self.kube, self.namespace).deployed(RELEASE)
        above = deployed.version if deployed is not None else 0
        killed = time.monotonic()
        for index in range(kills):
            if index == kills - 1 and index and before_last is not None:
                await before_last()
            if index:
                self.engine = restart_engine(self.kubeconfig, self.engine)
            live = await helm_owned(self.kube, self.namespace, RELEASE)
            done = sum(1 for obj in live.values() if written(obj))
            if index == kills - 1 and kills > 1:
                how = "as deployed"
                await wait_until_written(
                    self.kube,
                    {"name": RELEASE, "owner": "helm", "status": "deployed"},
                    1,
                    written=lambda secret: _revision(secret) > above,
                    kind="Secret",
                    namespace=self.namespace,
                )
            else:
                # Room for the kills after this one, and never the whole action.
                room = max(1, (total - 1 - done) // max(1, kills - 1 - index))
                target = done + self.rng.randint(1, room)
                how = f"at {target} written"
                delay = self.rng.uniform(0, LONGEST_DELAY_SECONDS)
                timed = self.rng.random() < TIMED_SHARE
                try:
                    async with asyncio.timeout(delay if timed else None):
                        await wait_until_written(self.kube, labels, target, written=written)
                except TimeoutError:
                    how = f"after {delay:.1f} s"
            if self.engine.process.poll() is not None:
                phase.failures.append(f"kill {index + 1}: the engine had exited by itself")
            kill_engine(self.engine)
            killed = time.monotonic()
            await self._record(phase, index, how, written)
        return killed

    async def _record(
        self, phase: Phase, index: int, how: str, written: Callable[[KubeObject], bool]
    ) -> None:
        live = await helm_owned(self.kube, self.namespace, RELEASE)
        history = await ReleaseStorage(self.kube, self.namespace).history(RELEASE)
        newest = f"v{history[-1].version} {history[-1].status}" if history else "no revision"
        deployed = [f"v{rel.version}" for rel in history if rel.status == ReleaseStatus.DEPLOYED]
        if len(deployed) > 1:
            newest += f" ({', '.join(deployed)} deployed)"
        count = sum(1 for obj in live.values() if written(obj))
        phase.points.append(f"{how}: {count} written, {newest}")
        if history and history[-1].status.is_pending:
            phase.pending += 1
        missing = await unreleased(self.kube, self.namespace, RELEASE)
        if missing:
            phase.failures.append(
                f"{phase.action} kill {index + 1}: {len(missing)} objects no revision lists: "
                f"{missing[:3]}"
            )

    def restart(self) -> None:
        self.engine = restart_engine(self.kubeconfig, self.engine)


async def _kill_and_converge(
    killer: Killer,
    phase: Phase,
    kills: int,
    version: str,
    values: dict[str, Any],
    before_last: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Kill the engine ``kills`` times during the action towards chart ``version`` and
    ``values`` (as ``before_last`` leaves them), start it again, and check what it
    converges to."""
    total = len(_declared(values["generation"], *values["removed"]))
    killed = await killer.kill_during(
        phase, kills, _at_generation(values["generation"]), total, before_last
    )
    killer.restart()
    await _released(killer.kube, killer.namespace, version)
    phase.converged = f"{time.monotonic() - killed:.1f} s"
    declared = _declared(values["generation"], *values["removed"])
    phase.problems += await helm_release_problems(
        killer.kube, killer.namespace, RELEASE, declared, version, values
    )


async def test_kills_during_a_helm_install_and_upgrade_leave_no_lock_nor_orphan(
    crds_installed: Path,
    kube: KubeClient,
    namespace: str,
    chart_repository: ChartRepository,
    tmp_path: Path,
    kills: int,
    fault_report: FaultReport,
) -> None:
    seed = random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    chart_repository.add(_chart(INSTALLED), _chart(UPGRADED))
    result = ScenarioResult(
        f"K. kill -9 during a Helm install and upgrade (K = {kills})",
        f"A HelmRelease of a chart of {OBJECTS} ConfigMaps from a Helm repository; "
        f"`lockstep run` killed with SIGKILL {kills} times in a row while it installs the "
        "release, then started again each time, and before the last restart (the engine "
        "down, no revision deployed yet) its values changed to drop one of the ConfigMaps "
        "the killed engines wrote; once installed, the same while it upgrades it to a new "
        "chart version whose values change every ConfigMap and remove one more. "
        "Each kill lands as soon as a random number of further objects are written (the "
        f"new revision pending) or, for {TIMED_SHARE:.0%} of the kills, after a random delay "
        f"of up to {LONGEST_DELAY_SECONDS:.0f} s from the engine's start if that comes first "
        "(before anything is written, say); the last of each phase as soon as the new "
        "revision is stored deployed (at times before the upgrade has superseded the one "
        "it replaces). A failure is a kill after which an object carrying the "
        "HelmRelease's labels is listed by no stored revision; a problem is one found once "
        "converged (a revision left pending, more or less than one deployed, an object not "
        "as rendered, an orphan).",
        (
            "action",
            "kills",
            "kills leaving a revision pending",
            "kills leaving objects unlisted",
            "last kill → Ready",
            "problems once converged",
        ),
    )
    fault_report.scenarios.append(result)
    # --watch-namespace, as the other scenarios' own_namespace(): earlier scenarios'
    # namespaces being deleted are no work of this engine's.
    engine = start_engine(crds_installed, tmp_path / "engine", "--watch-namespace", namespace)
    killer = Killer(crds_installed, kube, namespace, rng, engine)
    install, upgrade = Phase("install"), Phase("upgrade")
    installing: dict[str, Any] = {"generation": "1", "removed": []}
    upgrade_removes = f"map-{rng.randrange(OBJECTS):03d}"

    async def drop_a_written_map() -> None:
        # The install unfinished and the engine down: values that no longer render one
        # of the ConfigMaps the killed engines wrote, which only a revision they stored
        # lists.
        written = set(await helm_owned(kube, namespace, RELEASE)) - {upgrade_removes}
        candidates = written or set(_declared("1")) - {upgrade_removes}
        installing["removed"] = [rng.choice(sorted(candidates))]
        await kube.apply(_helm_release(namespace, INSTALLED, installing))

    try:
        await kube.apply(_helm_repository(namespace, chart_repository.url))
        await kube.apply(_helm_release(namespace, INSTALLED, installing))
        await _kill_and_converge(
            killer, install, kills, INSTALLED, installing, before_last=drop_a_written_map
        )
        upgrading = {"generation": "2", "removed": [*installing["removed"], upgrade_removes]}
        await kube.apply(_helm_release(namespace, UPGRADED, upgrading))
        await _kill_and_converge(killer, upgrade, kills, UPGRADED, upgrading)
    except (AssertionError, KubeError) as error:
        failed = upgrade if install.converged != "-" else install
        failed.problems.append(str(error).splitlines()[0][:300])
        raise
    finally:
        if killer.engine.process.poll() is None:
            stop_engine(killer.engine)
        result.rows += [install.row(), upgrade.row()]
        result.notes = [
            f"Where each kill landed (random seed {seed}; ConfigMaps no longer rendered: "
            f"{', '.join(installing['removed']) or 'none'} by the install, "
            f"{upgrade_removes} by the upgrade):",
            "",
            *(
                f"- {phase.action}: {'; '.join(phase.points) or '-'}"
                for phase in (install, upgrade)
            ),
            *(f"- {failure}" for failure in install.failures + upgrade.failures),
        ]
    assert install.failures + upgrade.failures == []
    assert install.problems + upgrade.problems == []
