"""``lockstep app`` and ``lockstep proj`` as a user runs them, against the real engine: an
Application created from flags (exported, then applied), listed and shown, synced by hand
with and without pruning (the results printed per object), waited for, changed, its
history read, and deleted with its objects; a sync that fails, and the one-line errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from lightkube import KubeConfig

from ground.argo import (
    ARGO_API,
    ARGOCD,
    IN_CLUSTER,
    application,
    engine_resyncing_every,
    get_app,
    project,
    until,
)
from ground.engine import Engine, lockstep, succeeded
from ground.gitops import Scenario, config_map, deployment
from ground.wait import eventually
from lockstep.kube import NotFound, ObjectRef

pytestmark = pytest.mark.integration

INVALID = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: Not_A_Valid_Name
data:
  colour: blue
"""


@pytest.fixture(scope="module")
def engine(crds_installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The engine, comparing Applications every 5 s, so that a new commit is seen at once."""
    yield from engine_resyncing_every(crds_installed, tmp_path_factory, "5s")


def _table(output: str) -> list[list[str]]:
    return [line.split() for line in output.splitlines()]


def _user(kubeconfig: Path) -> str:
    config = KubeConfig.from_file(kubeconfig).get()
    return config.context.user or "lockstep"


async def _config_map_gone(scenario: Scenario, name: str) -> bool:
    return await scenario.gone(ObjectRef("v1", "ConfigMap", name, scenario.namespace))


async def test_create_sync_wait_and_delete_an_application(
    engine: Engine, scenario: Scenario, kubeconfig: Path
) -> None:
    ns = scenario.namespace
    await project(scenario.kube, ns)
    scenario.commit(
        {
            "app/settings.yaml": config_map("settings", colour="blue"),
            "app/old.yaml": config_map("old", colour="red"),
        }
    )
    flags = ["--repo", scenario.repo.git_url, "--path", "app", "--revision", "main",
             "--dest-namespace", ns, "--project", ns, "-n", ns]  # fmt: skip

    exported = succeeded(await lockstep(kubeconfig, "app", "create", "manual", *flags, "--export"))
    manifest = yaml.safe_load(exported)
    assert manifest["metadata"] == {"name": "manual", "namespace": ns}
    assert manifest["spec"]["destination"] == {"server": IN_CLUSTER, "namespace": ns}
    assert "syncPolicy" not in manifest["spec"]
    with pytest.raises(NotFound):
        await get_app(scenario, "manual")

    created = succeeded(await lockstep(kubeconfig, "app", "create", "manual", *flags))
    assert f"Application {ns}/manual created" in created
    await until(scenario, "manual", "OutOfSync")
    assert await _config_map_gone(scenario, "settings"), "a manual Application waits to be asked"

    # Reading it.
    listed = _table(succeeded(await lockstep(kubeconfig, "app", "list", "-n", ns)))
    assert listed[0] == ["NAME", "SYNC", "STATUS", "HEALTH", "STATUS", "REVISION", "PROJECT"]
    assert listed[1][:2] == ["manual", "OutOfSync"]
    assert listed[1][-1] == ns
    as_json = json.loads(succeeded(await lockstep(kubeconfig, "app", "list", "-A", "-o", "json")))
    mine = next(row for row in as_json if row["namespace"] == ns)
    assert (mine["name"], mine["sync"], mine["project"]) == ("manual", "OutOfSync", ns)
    assert len(mine["revision"]) == 40
    shown = succeeded(await lockstep(kubeconfig, "app", "get", "manual", "-n", ns))
    assert f"Name:            {ns}/manual" in shown
    assert f"- Repo:          {scenario.repo.git_url}" in shown
    assert "Sync Policy:     Manual" in shown
    assert "Sync Status:     OutOfSync at " in shown
    objects = [row for row in _table(shown) if row and row[0] == "ConfigMap"]
    assert [row[:3] for row in objects] == [
        ["ConfigMap", f"{ns}/old", "OutOfSync"],
        ["ConfigMap", f"{ns}/settings", "OutOfSync"],
    ]

    # A sync, asked for and waited for; the engine says what it did.
    synced = succeeded(
        await lockstep(kubeconfig, "app", "sync", "manual", "-n", ns, "--timeout", "2m")
    )
    assert f"Application {ns}/manual: sync Succeeded at " in synced
    results = [row for row in _table(synced) if row and row[0] == "ConfigMap"]
    assert results == [
        ["ConfigMap", f"{ns}/old", "Synced", "synced"],
        ["ConfigMap", f"{ns}/settings", "Synced", "synced"],
    ]
    assert not await _config_map_gone(scenario, "settings")
    waited = await lockstep(kubeconfig, "app", "wait", "manual", "-n", ns, "--timeout", "1m")
    assert f"Application {ns}/manual is Synced and Healthy" in succeeded(waited)

    # A file removed from Git: only a sync with --prune deletes its object.
    scenario.commit({}, "drop old", remove=("app/old.yaml",))
    await until(scenario, "manual", "OutOfSync", within=60)
    pruned = succeeded(
        await lockstep(kubeconfig, "app", "sync", "manual", "-n", ns, "--prune", "--timeout", "2m")
    )
    assert ["ConfigMap", f"{ns}/old", "Pruned", "pruned"] in _table(pruned)
    assert await _config_map_gone(scenario, "old")
    history = _table(succeeded(await lockstep(kubeconfig, "app", "history", "manual", "-n", ns)))
    user = _user(kubeconfig)
    assert history[0] == ["ID", "DATE", "REVISION", "INITIATED", "BY"]
    assert [(row[0], row[-1]) for row in history[1:]] == [("0", user), ("1", user)]
    recorded = (await get_app(scenario, "manual"))["status"]["history"]
    assert [entry["initiatedBy"] for entry in recorded] == [{"username": user}] * 2

    # A change of one field leaves the rest as it was.
    changed = await lockstep(
        kubeconfig, "app", "set", "manual", "-n", ns, "--sync-option", "PruneLast=true"
    )
    assert f"Application {ns}/manual updated" in succeeded(changed)
    spec = (await get_app(scenario, "manual"))["spec"]
    assert spec["syncPolicy"] == {"syncOptions": ["PruneLast=true"]}
    assert spec["source"]["path"] == "app"
    again = await lockstep(
        kubeconfig, "app", "set", "manual", "-n", ns, "--sync-option", "PruneLast=true"
    )
    assert f"Application {ns}/manual unchanged" in succeeded(again)

    # A rollback to the first entry brings back what the first sync deployed.
    rolled = await lockstep(kubeconfig, "app", "rollback", "manual", "0", "-n", ns)
    assert f"Application {ns}/manual: sync Succeeded at " in succeeded(rolled)
    assert not await _config_map_gone(scenario, "old")
    recorded = (await get_app(scenario, "manual"))["status"]["history"]
    assert [entry["id"] for entry in recorded] == [0, 1, 2]
    assert recorded[2]["revision"] == recorded[0]["revision"]
    missing = await lockstep(kubeconfig, "app", "rollback", "manual", "9", "-n", ns)
    assert missing.returncode != 0
    assert f"Application {ns}/manual has no history entry 9 (it has 0, 1, 2)" in missing.stderr

    # Deleting it deletes what it deployed.
    deleted = succeeded(await lockstep(kubeconfig, "app", "delete", "manual", "-n", ns, "--yes"))
    assert f"Application {ns}/manual deleted" in deleted
    assert await _config_map_gone(scenario, "settings")
    with pytest.raises(NotFound):
        await get_app(scenario, "manual")


async def test_a_failed_sync_projects_and_one_line_errors(
    engine: Engine, scenario: Scenario, kubeconfig: Path
) -> None:
    ns = scenario.namespace
    await project(scenario.kube, ns)
    scenario.commit({"bad/settings.yaml": INVALID})
    created = await lockstep(
        kubeconfig, "app", "create", "failing", "-n", ns, "--repo", scenario.repo.git_url,
        "--path", "bad", "--revision", "main", "--dest-namespace", ns, "--project", ns,
    )  # fmt: skip
    succeeded(created)
    await eventually(
        lambda: get_app(scenario, "failing"),
        lambda o: bool((o.get("status") or {}).get("sync")),
        within=60,
        what="failing compared",
    )

    failed = await lockstep(kubeconfig, "app", "sync", "failing", "-n", ns, "--timeout", "2m")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert f"Application {ns}/failing: sync Failed: " in failed.stderr
    assert "Not_A_Valid_Name" in failed.stdout + failed.stderr
    assert "Traceback" not in failed.stderr

    waited = await lockstep(kubeconfig, "app", "wait", "failing", "-n", ns, "--timeout", "2s")
    assert waited.returncode == 1
    assert (
        f"Application {ns}/failing is not Synced and Healthy after 2s; last seen: " in waited.stderr
    )

    missing = await lockstep(kubeconfig, "app", "get", "missing", "-n", ns)
    assert missing.returncode == 2
    assert f"error: Application {ns}/missing not found; " in missing.stderr
    assert "Traceback" not in missing.stderr

    projects = _table(succeeded(await lockstep(kubeconfig, "proj", "list")))
    assert projects[0] == ["NAME", "DESCRIPTION", "DESTINATIONS", "SOURCES"]
    assert [ns, "1", "1"] in projects
    shown = succeeded(await lockstep(kubeconfig, "proj", "get", ns))
    assert f"Name:                 {ARGOCD}/{ns}" in shown
    assert f"Destinations:         {IN_CLUSTER} {ns}" in shown
    assert f"Source Namespaces:    {ns}" in shown

    kept = await lockstep(kubeconfig, "app", "delete", "failing", "-n", ns, "--no-cascade", "-y")
    assert f"Application {ns}/failing deleted" in succeeded(kept)
    ref = ObjectRef(ARGO_API, "Application", "failing", ns)
    assert await scenario.gone(ref)


CREDENTIALS = """\
apiVersion: v1
kind: Secret
metadata:
  name: credentials
stringData:
  password: hunter2
"""


async def test_app_diff_prints_what_the_next_sync_would_write(
    engine: Engine, scenario: Scenario, kubeconfig: Path
) -> None:
    ns = scenario.namespace
    await project(scenario.kube, ns)
    scenario.commit(
        {"web/web.yaml": deployment("web", replicas=1), "web/credentials.yaml": CREDENTIALS}
    )
    first = scenario.work.head()
    await scenario.kube.apply(application(scenario, "web", "web"))
    await until(scenario, "web", "OutOfSync")

    before = await lockstep(kubeconfig, "app", "diff", "web", "-n", ns)
    assert before.returncode == 1, before.stdout + before.stderr
    assert f"Deployment/{ns}/web created" in before.stdout
    succeeded(await lockstep(kubeconfig, "app", "sync", "web", "-n", ns))
    synced = await lockstep(kubeconfig, "app", "diff", "web", "-n", ns)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert synced.stdout == ""

    web = ObjectRef("apps/v1", "Deployment", "web", ns)
    await scenario.kube.json_patch(web, [{"op": "replace", "path": "/spec/replicas", "value": 3}])
    secret = ObjectRef("v1", "Secret", "credentials", ns)
    await scenario.kube.json_patch(
        secret, [{"op": "replace", "path": "/data/password", "value": "b3RoZXI="}]
    )
    drifted = await lockstep(kubeconfig, "app", "diff", "web", "-n", ns)
    assert drifted.returncode == 1, drifted.stdout + drifted.stderr
    lines = drifted.stdout.splitlines()
    assert f"► Deployment/{ns}/web drifted" in lines
    assert "-  replicas: 3" in lines
    assert "+  replicas: 1" in lines
    assert f"► Secret/{ns}/credentials drifted" in lines
    assert "+  password: '*** (changed)'" in lines
    for secret_value in ("hunter2", "aHVudGVyMg==", "b3RoZXI="):
        assert secret_value not in drifted.stdout

    await scenario.kube.json_patch(
        secret, [{"op": "replace", "path": "/data/password", "value": "aHVudGVyMg=="}]
    )
    ignoring = application(
        scenario,
        "web",
        "web",
        ignoreDifferences=[
            {"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}
        ],
    )
    await scenario.kube.apply(ignoring)
    ignored = await lockstep(kubeconfig, "app", "diff", "web", "-n", ns)
    assert ignored.returncode == 0, ignored.stdout + ignored.stderr
    assert "replicas" not in ignored.stdout

    scenario.commit({"web/web.yaml": deployment("web", tag="1.28", replicas=1)})
    local = await lockstep(
        kubeconfig, "app", "diff", "web", "-n", ns, "--local", str(scenario.work.path / "web")
    )
    assert local.returncode == 1, local.stdout + local.stderr
    assert "+      - image: nginx:1.28" in local.stdout.splitlines()
    at_first = await lockstep(kubeconfig, "app", "diff", "web", "-n", ns, "--revision", first)
    assert at_first.returncode == 0, at_first.stdout + at_first.stderr

    missing = await lockstep(kubeconfig, "app", "diff", "missing", "-n", ns)
    assert missing.returncode == 2
    assert f"Application {ns}/missing not found" in missing.stderr
