"""``lockstep build`` and ``lockstep diff`` against the cluster: the controller's rendering
of a local folder, and a server-side dry-run comparison with exit codes for CI."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
import yaml

from ground.engine import Engine, lockstep_command
from ground.gitops import Scenario, config_map
from lockstep.kube import ObjectRef

pytestmark = pytest.mark.integration

SECRET = (
    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: {password}\n"
)


async def _lockstep(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        lockstep_command(kubeconfig, *args),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_build_and_diff_a_local_folder(engine: Engine, scenario: Scenario) -> None:
    files = {
        "apps/settings.yaml": config_map("settings", colour="blue"),
        "apps/old.yaml": config_map("old", colour="grey"),
        "apps/db.yaml": SECRET.format(password="first-password"),
    }
    scenario.commit(files)
    await scenario.source()
    await scenario.kustomization("apps", "./apps", postBuild={"substitute": {"tier": "gold"}})
    await scenario.ready("apps")
    folder = scenario.work.path / "apps"
    common = ["apps", "-n", scenario.namespace, "--path", str(folder)]

    unchanged = await _lockstep(scenario.kubeconfig, "diff", "kustomization", *common)
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr
    assert unchanged.stdout == ""

    scenario.work.write("apps/settings.yaml", config_map("settings", colour="${tier}"))
    scenario.work.write("apps/new.yaml", config_map("new", colour="green"))
    scenario.work.write("apps/db.yaml", SECRET.format(password="second-password"))
    scenario.work.remove("apps/old.yaml")

    built = await _lockstep(scenario.kubeconfig, "build", "kustomization", *common)
    assert built.returncode == 0, built.stderr
    objects = {obj["metadata"]["name"]: obj for obj in yaml.safe_load_all(built.stdout)}
    assert objects["settings"]["data"] == {"colour": "gold"}
    assert objects["settings"]["metadata"]["namespace"] == scenario.namespace
    assert objects["settings"]["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "apps"
    assert "second-password" not in built.stdout

    changed = await _lockstep(scenario.kubeconfig, "diff", "kustomization", *common)
    assert changed.returncode == 1, changed.stdout + changed.stderr
    namespace = scenario.namespace
    assert f"ConfigMap/{namespace}/settings drifted" in changed.stdout
    assert "+  colour: gold" in changed.stdout
    assert f"ConfigMap/{namespace}/new created" in changed.stdout
    assert f"ConfigMap/{namespace}/old deleted" in changed.stdout
    assert f"Secret/{namespace}/db drifted" in changed.stdout
    assert "first-password" not in changed.stdout
    assert "second-password" not in changed.stdout
    settings = await scenario.kube.get(ObjectRef("v1", "ConfigMap", "settings", namespace))
    assert settings["data"] == {"colour": "blue"}, "diff writes nothing"
    assert not await scenario.gone(ObjectRef("v1", "ConfigMap", "old", namespace))

    missing = await _lockstep(
        scenario.kubeconfig, "diff", "kustomization", "nope", "-n", namespace, "--path", str(folder)
    )
    assert missing.returncode == 2
    assert f"Kustomization nope not found in namespace {namespace}" in missing.stderr
