"""Scenario F: the remote cluster of two Kustomizations unreachable, beside local
Kustomizations that keep working.

The remote cluster is a second real control plane; its kubeconfig Secret points at a
:class:`TcpOutageRelay` in front of its API server, so that "down" is a port where
nothing listens (connections refused, those open cut) and "up" is the same port
relaying again. First the remote is down from the start (never connected); then, in
each round, it goes down after the engine has connected to it. While it is down, a
commit changes every Kustomization's ConfigMaps: the local ones apply it within
seconds, without any request; only the remote ones go Ready=False, with a one-line
message naming the server. Once it is up again, they apply the commit without help.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterable
from pathlib import Path

import pytest
import yaml

from faults.checks import applied, cluster_problems, own_namespace
from faults.report import FaultReport, ScenarioResult, seconds
from ground.engine import start_engine, stop_engine
from ground.fault_relays import TcpOutageRelay
from ground.gitops import Scenario, config_map
from ground.wait import eventually
from lockstep.dev.cluster import LocalCluster
from lockstep.kube import KubeClient, KubeError, KubeObject, ObjectRef

pytestmark = pytest.mark.faults

LOCAL = ("local-0", "local-1", "local-2", "local-3")
REMOTE = ("remote-0", "remote-1")
MAPS = 5
"""ConfigMaps of each Kustomization."""
SECRET = "remote-kubeconfig"
SOURCE_INTERVAL = "2s"
RETRY_INTERVAL = "5s"
"""The remote Kustomizations' spec.retryInterval: their backoff stops growing there."""
LOCAL_WITHIN_SECONDS = 20.0


def _declared(revision: str) -> dict[str, dict[str, dict[str, str]]]:
    """Kustomization → its ConfigMaps (name → data) at ``revision``."""
    return {
        name: {f"{name}-map-{index}": {"revision": revision} for index in range(MAPS)}
        for name in (*LOCAL, *REMOTE)
    }


def _commit(scenario: Scenario, revision: str) -> str:
    files = {
        f"{name}/{map_name}.yaml": config_map(map_name, **data)
        for name, maps in _declared(revision).items()
        for map_name, data in maps.items()
    }
    scenario.commit(files, f"revision {revision}")
    return scenario.work.head()


def _relayed_kubeconfig(cluster: LocalCluster, address: str) -> str:
    """The cluster's kubeconfig, certificates inline, with its server at ``address``."""
    document = yaml.safe_load(cluster.portable_kubeconfig())
    for entry in document["clusters"]:
        entry["cluster"]["server"] = f"https://{address}"
    return yaml.safe_dump(document)


def _upstream(cluster: LocalCluster) -> str:
    document = yaml.safe_load(cluster.portable_kubeconfig())
    server: str = document["clusters"][0]["cluster"]["server"]
    return server.removeprefix("https://")


def _ready(obj: KubeObject) -> dict[str, str]:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "Ready"), {})


async def _all_applied(scenario: Scenario, names: Iterable[str], commit: str) -> None:
    for name in names:
        await applied(scenario, name, commit, within=60)


async def _remote_problems(remote: KubeClient, scenario: Scenario, revision: str) -> list[str]:
    """Whether the remote cluster holds the remote Kustomizations' ConfigMaps at
    ``revision``, and the local one none of them."""
    problems = []
    declared = _declared(revision)
    live = {
        obj["metadata"]["name"]: obj.get("data")
        for obj in await remote.list("v1", "ConfigMap", namespace=scenario.namespace)
    }
    local = {
        obj["metadata"]["name"]
        for obj in await scenario.kube.list("v1", "ConfigMap", namespace=scenario.namespace)
    }
    for name in REMOTE:
        for map_name, data in declared[name].items():
            if live.get(map_name) != data:
                problems.append(f"remote ConfigMap {map_name} holds {live.get(map_name)}")
            if map_name in local:
                problems.append(f"ConfigMap {map_name} of {name} was applied to the local cluster")
    return problems


async def test_an_unreachable_remote_cluster_fails_only_its_kustomizations(
    crds_installed: Path,
    scenario: Scenario,
    remote_cluster: LocalCluster,
    remote_kube: KubeClient,
    tmp_path: Path,
    rounds: int,
    fault_report: FaultReport,
) -> None:
    kube, namespace = scenario.kube, scenario.namespace
    result = ScenarioResult(
        f"F. Remote cluster unreachable (rounds: {rounds})",
        f"{len(LOCAL)} local Kustomizations and {len(REMOTE)} on a second control plane "
        f"(spec.kubeConfig.secretRef, retryInterval {RETRY_INTERVAL}), {MAPS} ConfigMaps "
        f"each, from one GitRepository (interval {SOURCE_INTERVAL}). The remote API "
        "server is reached through a relay: first down from the start, then in each "
        "round taken down after the engine has connected; while it is down a commit "
        "changes every ConfigMap, then the relay listens again. A failure is a local "
        f"Kustomization that did not apply the commit within {LOCAL_WITHIN_SECONDS:.0f} s, "
        "a remote one that did not go Ready=False with a one-line message naming the "
        "server, or that did not apply the commit without help once the server was back.",
        (
            "outages",
            "failures",
            "commit → local applied p50",
            "max",
            "commit → remote failure told p50",
            "server back → remote applied p50",
            "max",
        ),
    )
    fault_report.scenarios.append(result)
    relay = TcpOutageRelay(_upstream(remote_cluster))
    relay.reserve()
    await remote_kube.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    )
    kubeconfig = _relayed_kubeconfig(remote_cluster, relay.address)
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": SECRET, "namespace": namespace},
            "data": {"value": base64.b64encode(kubeconfig.encode()).decode()},
        }
    )
    engine = start_engine(crds_installed, tmp_path / "engine", *own_namespace(scenario))
    local_applied: list[float] = []
    remote_told: list[float] = []
    remote_back: list[float] = []
    failures: list[str] = []
    said: list[str] = []
    outages = 0
    revision = 0
    try:
        _commit(scenario, str(revision))
        await scenario.source(interval=SOURCE_INTERVAL)
        for name in LOCAL:
            await scenario.kustomization(name, f"./{name}")
        for name in REMOTE:
            await scenario.kustomization(
                name,
                f"./{name}",
                kubeConfig={"secretRef": {"name": SECRET}},
                retryInterval=RETRY_INTERVAL,
            )
        await _all_applied(scenario, LOCAL, scenario.work.head())
        for outage in range(rounds + 1):
            outages = outage + 1
            if outage > 0:
                relay.stop()
            revision += 1
            try:
                told, local, back, message = await _outage(scenario, relay, str(revision))
            except (AssertionError, KubeError) as error:
                failures.append(f"outage {outages}: {str(error).splitlines()[0][:300]}")
                raise
            local_applied.append(local)
            remote_told.append(told)
            remote_back.append(back)
            said.append(message)
            failures += [
                f"outage {outages}: {problem}"
                for problem in await _remote_problems(remote_kube, scenario, str(revision))
            ]
        for name in LOCAL:
            failures += await cluster_problems(scenario, name, _declared(str(revision))[name])
    finally:
        stop_engine(engine)
        relay.stop()
        await remote_kube.delete(ObjectRef("v1", "Namespace", namespace))
        result.rows.append(
            (
                str(outages),
                str(len(failures)),
                seconds(local_applied)[0],
                seconds(local_applied)[2],
                seconds(remote_told)[0],
                seconds(remote_back)[0],
                seconds(remote_back)[2],
            )
        )
        result.notes = [
            *(
                f"Remote Kustomization Ready=False while {when}: {message}"
                for when, message in zip(
                    ("never connected", "connection lost"), said[:2], strict=False
                )
            ),
            *(f"- {failure}" for failure in failures),
        ]
    assert failures == []


async def _outage(
    scenario: Scenario, relay: TcpOutageRelay, revision: str
) -> tuple[float, float, float, str]:
    """The remote down (as the relay now is), a commit pushed; the seconds from the push
    until the remote Kustomizations told the failure and until the local ones applied it,
    from the server's return until the remote ones applied it, and what they told."""
    start = time.monotonic()
    commit = _commit(scenario, revision)

    async def local_applied() -> float:
        await _all_applied(scenario, LOCAL, commit)
        return time.monotonic() - start

    async def remote_failed() -> tuple[float, list[str]]:
        messages = []
        for name in REMOTE:
            failed = await eventually(
                lambda name=name: scenario.kube.get(scenario.ref(name)),
                lambda obj: _ready(obj).get("status") == "False",
                within=60,
                what=f"Kustomization {name} Ready=False",
            )
            messages.append(_ready(failed).get("message", ""))
        return time.monotonic() - start, messages

    local, (told, messages) = await asyncio.gather(local_applied(), remote_failed())
    assert local < LOCAL_WITHIN_SECONDS, f"the local Kustomizations took {local:.1f}s"
    for name, message in zip(REMOTE, messages, strict=True):
        assert relay.address in message, f"the message does not name the server: {message}"
        assert "\n" not in message, f"the message is more than one line: {message!r}"
        objects = message.count(f"{name}-map-")
        assert objects <= 1, f"the message tells the outage once per object ({objects}): {message}"
    relay.start()
    back = time.monotonic()
    await _all_applied(scenario, REMOTE, commit)
    return told, local, time.monotonic() - back, messages[0]
