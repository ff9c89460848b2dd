"""A tenant's commit cannot take the engine down through a build: in one repository, a
YAML alias bomb ("billion laughs") and a ConfigMap nested 5,000 levels deep each fail
their Kustomization (Ready=False, BuildFailed) on one line naming the file, the good app
beside them is applied, no traceback reaches the log, the engine's memory stays small,
and the build service runs within the memory limit given to ``lockstep run``.

Runs its own engine, with build limits given on the command line, so that its peak
memory is this module's alone; no other engine runs during this module.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from ground.artifacts import condition
from ground.engine import start_engine, stop_engine
from ground.wait import eventually
from lockstep.dev.gitserver import ServedRepo
from lockstep.kube import KubeClient, ObjectRef

pytestmark = pytest.mark.integration

ENGINE_PEAK_RSS_MIB = 200
"""The engine process's peak resident memory during the module, at most. It peaks at
about 110 MiB here; unbounded, the alias bomb's objects printed once would take tens of
GiB, and the deep ConfigMap raised RecursionError instead of failing its build."""

RETRY_SECONDS = 5

CONFIG_MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"


def alias_bomb() -> str:
    """Nine levels of nine aliases of the level before: 9^9 strings once expanded."""
    lines = [CONFIG_MAP.format(name="laughs").rstrip("\n")]
    lines.append("data0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]")
    for level in range(1, 9):
        lines.append(f"data{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def deep_config_map(levels: int = 5000) -> str:
    return CONFIG_MAP.format(name="deep") + "x: " + "{a: " * levels + "1" + "}" * levels + "\n"


def kustomization(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "interval": "1m",
            "retryInterval": f"{RETRY_SECONDS}s",
            "sourceRef": {"kind": "GitRepository", "name": "tenant"},
            "path": f"./{name}",
            "prune": True,
            "targetNamespace": namespace,
        },
    }


def build_service_data_limits(engine_pid: int) -> set[str]:
    """The ``Max data size`` of each build service process the engine started."""
    limits = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rpartition(")")[2].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
            limit_lines = (stat.parent / "limits").read_text().splitlines()
        except (OSError, ValueError):
            continue
        if parent == engine_pid and b"kustomizer-" in command:
            data = next(line for line in limit_lines if line.startswith("Max data size"))
            limits.add(data.split()[3])
    return limits


def peak_rss_mib(pid: int) -> float:
    """The peak resident memory of process ``pid`` so far (``VmHWM``), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for process {pid}")


async def test_bad_folders_fail_naming_the_file_and_the_good_one_is_applied(
    crds_installed: Path, kube: KubeClient, namespace: str, git_repo: ServedRepo, tmp_path: Path
) -> None:
    work = git_repo.working_copy(tmp_path / "work")
    work.write("bomb/kustomization.yaml", "resources: [laughs.yaml]\n")
    work.write("bomb/laughs.yaml", alias_bomb())
    work.write("deep/settings.yaml", deep_config_map())
    work.write("good/settings.yaml", CONFIG_MAP.format(name="good"))
    work.commit("a tenant's folders: two bad, one good")
    work.push()
    engine = start_engine(
        crds_installed,
        tmp_path / "engine",
        "--build-memory-limit",
        "512",
        "--build-cpu-limit",
        "30",
    )
    try:
        await kube.apply(
            {
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": "GitRepository",
                "metadata": {"name": "tenant", "namespace": namespace},
                "spec": {"url": git_repo.git_url, "interval": "1m", "ref": {"branch": "main"}},
            }
        )
        for name in ("bomb", "deep", "good"):
            await kube.apply(kustomization(namespace, name))

        def ref(name: str) -> ObjectRef:
            return ObjectRef("kustomize.toolkit.fluxcd.io/v1", "Kustomization", name, namespace)

        good = await eventually(
            lambda: kube.get(ref("good")),
            lambda o: condition(o, "Ready").startswith("True"),
            what="the good app Ready",
        )
        failed = {
            name: await eventually(
                lambda name=name: kube.get(ref(name)),
                lambda o: condition(o, "Ready").startswith("False: "),
                what=f"{name} failed",
            )
            for name in ("bomb", "deep")
        }
        # Failures are retried within retryInterval: let the bad ones run a few more times.
        await asyncio.sleep(2 * RETRY_SECONDS)
        peak = peak_rss_mib(engine.process.pid)
        data_limits = build_service_data_limits(engine.process.pid)
        log = engine.log.read_text()
    finally:
        stop_engine(engine)

    assert condition(good, "Ready").startswith("True: Applied revision: main@sha1:")
    live = await kube.get(ObjectRef("v1", "ConfigMap", "good", namespace))
    assert live["metadata"]["name"] == "good"
    expected = {
        "bomb": f"Kustomization {namespace}/bomb: bomb/laughs.yaml: aliases expand to more "
        "than 100000 nodes at line ",
        "deep": f"Kustomization {namespace}/deep: deep/settings.yaml: nesting deeper than 100 "
        "levels at line 5",
    }
    for name, prefix in expected.items():
        ready = next(c for c in failed[name]["status"]["conditions"] if c["type"] == "Ready")
        assert ready["reason"] == "BuildFailed", ready
        assert ready["message"].startswith(prefix), ready["message"]
        assert "\n" not in ready["message"]
    assert "Traceback" not in log
    assert "RecursionError" not in log
    assert peak < ENGINE_PEAK_RSS_MIB, f"the engine peaked at {peak:.0f} MiB"
    assert data_limits == {str(512 * 1024 * 1024)}, "--build-memory-limit bounds the build service"
