"""Reconciles where nothing changed: no API request beyond a couple, no status write,
and still drift repaired, substitution variables followed, and a requested
reconcile applied in full. And a first apply whose objects are healthy as written
reads none of them back to judge their health.

The tests count the engine's requests, so each lets the engine finish its deleted
namespace before the next one starts.
"""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from ground.engine import Engine, wait_for_deletions
from ground.gitops import Scenario, config_map
from ground.wait import eventually
from lockstep.kube import ObjectRef

pytestmark = pytest.mark.integration

OBJECTS = 20
INTERVAL_SECONDS = 2
WINDOW_SECONDS = 10
RECONCILES = (
    'lockstep_reconcile_duration_seconds_count{controller="kustomization",result="success"}'
)


@pytest.fixture(autouse=True)
def _deletions_finished(engine: Engine, kubeconfig: Path) -> Iterator[None]:
    """After the test's namespace is deleted, wait until the engine has released it."""
    yield
    wait_for_deletions(kubeconfig, engine)


def _sample_sum(engine: Engine, prefix: str, *labels: str) -> float:
    """The sum of the samples of ``/metrics`` starting with ``prefix`` that carry ``labels``."""
    with urllib.request.urlopen(f"http://{engine.metrics_addr}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(prefix) and all(label in line for label in labels)
    )


def _requests(engine: Engine, *labels: str) -> float:
    return _sample_sum(engine, "lockstep_kube_requests_total{", *labels)


def _reconciles(engine: Engine) -> float:
    return _sample_sum(engine, RECONCILES)


async def _reconciled(engine: Engine, more: int) -> None:
    """Wait until ``more`` Kustomization reconciles have finished from now."""

    async def count() -> float:
        return _reconciles(engine)

    target = _reconciles(engine) + more
    await eventually(
        count,
        lambda seen: seen >= target,
        within=more * INTERVAL_SECONDS + 30,
        what=f"{more} more reconciles",
    )


async def _twenty_config_maps(engine: Engine, scenario: Scenario, **spec: object) -> None:
    scenario.commit(
        {
            f"apps/cm-{index}.yaml": config_map(f"cm-{index}", index=str(index))
            for index in range(OBJECTS)
        }
    )
    await scenario.source(interval="1h")
    await scenario.kustomization("apps", "./apps", interval=f"{INTERVAL_SECONDS}s", **spec)
    await scenario.ready("apps")
    # The first apply starts the watches of its kinds; the second is the one they vouch for.
    await _reconciled(engine, 2)


async def test_objects_healthy_as_written_are_not_read_again(
    engine: Engine, scenario: Scenario
) -> None:
    reads = _requests(engine, 'verb="GET"')
    scenario.commit(
        {
            f"apps/cm-{index}.yaml": config_map(f"cm-{index}", index=str(index))
            for index in range(OBJECTS)
        }
    )
    await scenario.source(interval="1h")
    await scenario.kustomization("apps", "./apps", wait=True)
    await scenario.ready("apps")
    assert _requests(engine, 'verb="GET"') - reads < OBJECTS, (
        "the health wait judged the objects as the apply returned them"
    )


async def test_noop_reconciles_send_at_most_two_requests_and_write_nothing(
    engine: Engine, scenario: Scenario
) -> None:
    await _twenty_config_maps(engine, scenario, wait=True)
    before = await scenario.kube.get(scenario.ref("apps"))
    requests, reconciles = _requests(engine), _reconciles(engine)
    dry_runs = _requests(engine, 'dry_run="true"')

    await asyncio.sleep(WINDOW_SECONDS)

    reconciled = _reconciles(engine) - reconciles
    sent = _requests(engine) - requests
    assert reconciled >= WINDOW_SECONDS // INTERVAL_SECONDS - 1, "the interval drives reconciles"
    assert sent <= 2 * reconciled, f"{sent} requests for {reconciled} no-op reconciles"
    after = await scenario.kube.get(scenario.ref("apps"))
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"], (
        "a no-op reconcile writes no status"
    )
    assert _requests(engine, 'dry_run="true"') == dry_runs

    await scenario.kubectl(
        "annotate", "kustomization/apps", "--overwrite", "reconcile.fluxcd.io/requestedAt=now"
    )
    await eventually(
        lambda: scenario.kube.get(scenario.ref("apps")),
        lambda o: o["status"].get("lastHandledReconcileAt") == "now",
        what="the requested reconcile",
    )
    assert _requests(engine, 'dry_run="true"') >= dry_runs + OBJECTS, (
        "a requested reconcile dry-runs every object"
    )
    history = (await scenario.kube.get(scenario.ref("apps")))["status"]["history"]
    assert history[0]["totalReconciliations"] == (
        before["status"]["history"][0]["totalReconciliations"] + 1
    ), "the history counts the requested apply, not the no-op checks"


async def test_drift_is_still_reverted(engine: Engine, scenario: Scenario) -> None:
    await _twenty_config_maps(engine, scenario)
    changed = ObjectRef("v1", "ConfigMap", "cm-3", scenario.namespace)
    deleted = ObjectRef("v1", "ConfigMap", "cm-4", scenario.namespace)

    await scenario.kubectl(
        "patch", "configmap/cm-3", "--type=merge", "-p", '{"data":{"index":"x"}}'
    )
    await eventually(
        lambda: scenario.kube.get(changed),
        lambda c: c["data"]["index"] == "3",
        within=10,
        what="cm-3 reverted",
    )
    await scenario.kubectl("delete", "configmap/cm-4")
    await eventually(
        lambda: scenario.get(deleted),
        lambda c: c is not None and c["data"]["index"] == "4",
        within=10,
        what="cm-4 recreated",
    )
    # And again once the reconciles after the repairs are no-ops again.
    await _reconciled(engine, 2)
    await scenario.kubectl(
        "patch", "configmap/cm-3", "--type=merge", "-p", '{"data":{"index":"y"}}'
    )
    await eventually(
        lambda: scenario.kube.get(changed),
        lambda c: c["data"]["index"] == "3",
        within=10,
        what="cm-3 reverted again",
    )


async def test_a_changed_substitution_variable_is_applied_at_the_next_interval(
    engine: Engine, scenario: Scenario
) -> None:
    variables = ObjectRef("v1", "ConfigMap", "vars", scenario.namespace)
    await scenario.kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": variables.name, "namespace": scenario.namespace},
            "data": {"colour": "blue"},
        }
    )
    scenario.commit({"apps/settings.yaml": config_map("settings", colour="${colour}")})
    await scenario.source(interval="1h")
    await scenario.kustomization(
        "apps",
        "./apps",
        interval=f"{INTERVAL_SECONDS}s",
        postBuild={"substituteFrom": [{"kind": "ConfigMap", "name": variables.name}]},
    )
    ready = await scenario.ready("apps")
    settings = ObjectRef("v1", "ConfigMap", "settings", scenario.namespace)
    assert (await scenario.kube.get(settings))["data"]["colour"] == "blue"
    await _reconciled(engine, 2)

    await scenario.kubectl(
        "patch", "configmap/vars", "--type=merge", "-p", '{"data":{"colour":"green"}}'
    )
    await eventually(
        lambda: scenario.kube.get(settings),
        lambda c: c["data"]["colour"] == "green",
        within=3 * INTERVAL_SECONDS + 10,
        what="the new variable applied",
    )
    now = await scenario.kube.get(scenario.ref("apps"))
    assert now["metadata"]["generation"] == ready["metadata"]["generation"]
