"""The flux-style commands as a user runs them, against the real engine: reading state
(get, tree, trace, events), acting (reconcile, suspend, resume) and managing objects
(create, delete), with the exit codes a pipeline relies on."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from ground.engine import Engine, lockstep, lockstep_command, succeeded
from ground.gitops import Scenario, config_map
from lockstep.kube import ObjectRef

pytestmark = pytest.mark.integration

NESTED = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
spec:
  interval: 1h
  sourceRef: {{kind: GitRepository, name: repo}}
  path: ./apps
  prune: true
  targetNamespace: {namespace}
"""


async def _next_row(
    stream: asyncio.StreamReader, accept: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The next JSON line of a ``--watch -o json`` that ``accept`` takes."""
    while line := await stream.readline():
        row: dict[str, Any] = json.loads(line)
        if accept(row):
            return row
    raise AssertionError("the watch ended without the expected change")


async def test_reading_state(engine: Engine, scenario: Scenario) -> None:
    ns, kubeconfig = scenario.namespace, scenario.kubeconfig
    scenario.commit(
        {
            "clusters/apps.yaml": NESTED.format(namespace=ns),
            "apps/settings.yaml": config_map("settings", colour="blue"),
        }
    )
    revision = f"main@sha1:{scenario.work.head()}"
    await scenario.source()
    await scenario.kustomization("root", "./clusters")
    await scenario.ready("root")
    await scenario.ready("apps")

    rows = json.loads(succeeded(await lockstep(kubeconfig, "get", "ks", "-n", ns, "-o", "json")))
    assert [(r["name"], r["revision"], r["ready"], r["suspended"]) for r in rows] == [
        ("apps", revision, "True", False),
        ("root", revision, "True", False),
    ]
    table = succeeded(await lockstep(kubeconfig, "get", "kustomizations", "-n", ns)).splitlines()
    assert table[0].split() == ["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE", "AGE"]
    assert table[1].split()[:5] == ["apps", revision, "False", "True", "Applied"]
    everywhere = yaml.safe_load(
        succeeded(await lockstep(kubeconfig, "get", "ks", "-A", "-o", "yaml"))
    )
    assert {(r["namespace"], r["name"]) for r in everywhere} >= {(ns, "apps"), (ns, "root")}
    every_kind = succeeded(await lockstep(kubeconfig, "get", "all", "-n", ns))
    assert "gitrepository/repo" in every_kind
    assert "kustomization/root" in every_kind
    source = succeeded(await lockstep(kubeconfig, "get", "sources", "git", "repo", "-n", ns))
    assert revision in source

    missing = await lockstep(kubeconfig, "get", "ks", "nope", "-n", ns)
    assert missing.returncode == 2
    assert missing.stderr.splitlines() == [
        f"error: kustomization nope not found in namespace {ns}",
        "hint: pick the namespace with -n, or list them all: lockstep get ks -A",
    ]

    tree = succeeded(await lockstep(kubeconfig, "tree", "ks", "root", "-n", ns)).splitlines()
    assert tree == [
        f"Kustomization/{ns}/root ✓ Ready",
        f"└── Kustomization/{ns}/apps ✓ Ready",
        f"    └── ConfigMap/{ns}/settings",
    ]

    trace = succeeded(await lockstep(kubeconfig, "trace", "configmap", "settings", "-n", ns))
    chain = [line.split(maxsplit=1) for line in trace.splitlines()]
    assert ["Kustomization", f"Kustomization/{ns}/apps"] in chain
    assert ["Source", f"GitRepository/{ns}/repo"] in chain
    assert ["Revision", revision] in chain
    assert ["URL", scenario.repo.git_url] in chain
    await scenario.kube.apply(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "by-hand", "namespace": ns}}
    )
    unmanaged = await lockstep(kubeconfig, "trace", "v1/ConfigMap", "by-hand", "-n", ns)
    assert unmanaged.returncode == 1
    assert (
        f"error: ConfigMap by-hand in namespace {ns} is not managed by lockstep" in unmanaged.stderr
    )

    events = succeeded(
        await lockstep(kubeconfig, "events", "--for", "Kustomization/apps", "-n", ns)
    ).splitlines()
    assert events[0].split()[:5] == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT"]
    assert any(
        "ReconciliationSucceeded" in line and f"ConfigMap/{ns}/settings created" in line
        for line in events
    )
    assert all("Kustomization/apps" in line for line in events[1:])


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


async def test_reconcile_suspend_and_resume(engine: Engine, scenario: Scenario) -> None:
    ns, kubeconfig = scenario.namespace, scenario.kubeconfig
    scenario.commit({"apps/a.yaml": config_map("a", colour="blue")})
    # A source that polls rarely: only the reconcile request brings the next commit in.
    await scenario.source(interval="1h")
    await scenario.kustomization("apps", "./apps")
    await scenario.kustomization("broken", "./nope")
    await scenario.ready("apps")

    scenario.commit({"apps/b.yaml": config_map("b", colour="green")}, "add b")
    revision = f"main@sha1:{scenario.work.head()}"
    reconciled = succeeded(
        await lockstep(kubeconfig, "reconcile", "ks", "apps", "-n", ns, "--with-source")
    )
    assert f"gitrepository repo reconciled: fetched revision {revision}" in reconciled
    assert f"kustomization apps reconciled: applied revision {revision}" in reconciled
    assert f"ConfigMap/{ns}/b created" in reconciled

    failed = await lockstep(kubeconfig, "reconcile", "kustomization", "broken", "-n", ns)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert f"error: kustomization broken in namespace {ns} failed:" in failed.stderr
    assert "spec.path './nope' is not a folder of the source artifact" in failed.stderr

    watcher = await asyncio.create_subprocess_exec(
        *lockstep_command(kubeconfig, "get", "ks", "apps", "-n", ns, "--watch", "-o", "json"),
        stdout=subprocess.PIPE,
        # Ctrl-C as at a terminal, even when the tests themselves run with SIGINT
        # ignored (started in the background by a shell, or under nohup).
        preexec_fn=_interruptible,
    )
    assert watcher.stdout is not None
    try:
        first = await asyncio.wait_for(_next_row(watcher.stdout, lambda row: True), 60)
        assert (first["event"], first["name"], first["suspended"]) == ("ADDED", "apps", False)
        suspended = await lockstep(kubeconfig, "suspend", "ks", "apps", "-n", ns)
        assert f"kustomization apps in namespace {ns} suspended" in succeeded(suspended)
        change = await asyncio.wait_for(
            _next_row(watcher.stdout, lambda row: bool(row["suspended"])), 30
        )
        assert change["event"] == "MODIFIED"
    finally:
        watcher.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(watcher.wait(), 30) == 0, "Ctrl-C ends a watch cleanly"

    refused = await lockstep(kubeconfig, "reconcile", "ks", "apps", "-n", ns)
    assert refused.returncode == 1
    assert f"hint: resume it: lockstep resume kustomization apps -n {ns}" in refused.stderr

    resumed = succeeded(await lockstep(kubeconfig, "resume", "ks", "apps", "-n", ns))
    assert f"kustomization apps resumed: applied revision {revision}" in resumed
    live = await scenario.kube.get(scenario.ref("apps"))
    assert live["spec"]["suspend"] is False


async def test_create_get_and_delete(engine: Engine, scenario: Scenario) -> None:
    ns, kubeconfig = scenario.namespace, scenario.kubeconfig
    scenario.commit({"apps/a.yaml": config_map("a", colour="blue")})
    revision = f"main@sha1:{scenario.work.head()}"
    source_flags = ["--url", scenario.repo.git_url, "--branch", "main", "--interval", "1h"]
    ks_flags = ["--source", "GitRepository/repo", "--path", "./apps", "--prune=true"]

    exported = succeeded(
        await lockstep(
            kubeconfig, "create", "source", "git", "repo", *source_flags, "-n", ns, "--export"
        )
    )
    assert yaml.safe_load(exported)["spec"]["ref"] == {"branch": "main"}
    assert (
        await scenario.get(ObjectRef("source.toolkit.fluxcd.io/v1", "GitRepository", "repo", ns))
        is None
    )

    created = succeeded(
        await lockstep(kubeconfig, "create", "source", "git", "repo", *source_flags, "-n", ns)
    )
    assert f"gitrepository repo in namespace {ns} created" in created
    assert f"fetched revision {revision}" in created
    created = succeeded(
        await lockstep(
            kubeconfig, "create", "ks", "apps", *ks_flags, "--target-namespace", ns, "-n", ns
        )
    )
    assert f"applied revision {revision}" in created
    rows = json.loads(
        succeeded(await lockstep(kubeconfig, "get", "ks", "apps", "-n", ns, "-o", "json"))
    )
    assert [(row["name"], row["ready"]) for row in rows] == [("apps", "True")]
    applied = ObjectRef("v1", "ConfigMap", "a", ns)
    assert await scenario.get(applied) is not None

    updated = succeeded(
        await lockstep(
            kubeconfig, "create", "ks", "apps", *ks_flags, "--target-namespace", ns, "-n", ns
        )
    )
    assert f"kustomization apps in namespace {ns} updated" in updated

    deleted = succeeded(await lockstep(kubeconfig, "delete", "ks", "apps", "-n", ns))
    assert f"kustomization apps in namespace {ns} deleted" in deleted
    assert await scenario.gone(applied), "the Kustomization's objects were pruned before it went"
    succeeded(await lockstep(kubeconfig, "delete", "source", "git", "repo", "-n", ns))
    again = await lockstep(kubeconfig, "delete", "source", "git", "repo", "-n", ns)
    assert again.returncode == 2
    assert f"gitrepository repo not found in namespace {ns}" in again.stderr
