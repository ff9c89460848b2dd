"""``lockstep run`` on a cluster with only some of Flux's CRDs, as many Flux clusters are
(image automation and notifications are optional): the engine becomes ready with the
other kinds reported absent and reconciles what is served; installing the missing
CRDs starts their controllers without a restart, and deleting one again stops only
its controller.

The module removes every Flux CRD but GitRepository's and Kustomization's from the
session's control plane and installs the complete set again when it ends.
"""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ground.artifacts import condition
from ground.engine import Engine, lockstep_command, start_engine, stop_engine
from ground.gitops import KUBECTL, Scenario, config_map
from ground.wait import eventually
from lockstep.kube import KubeObject, ObjectRef

pytestmark = pytest.mark.integration

SUBSET = (
    "gitrepositories.source.toolkit.fluxcd.io",
    "kustomizations.kustomize.toolkit.fluxcd.io",
)
RECEIVER_CRD = "receivers.notification.toolkit.fluxcd.io"


def _kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [str(KUBECTL), "--kubeconfig", str(kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
    return done.stdout


def _exported_crds(kubeconfig: Path) -> list[dict[str, Any]]:
    exported = subprocess.run(
        lockstep_command(kubeconfig, "install", "--crds", "--export"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert exported.returncode == 0, exported.stderr
    return [document for document in yaml.safe_load_all(exported.stdout) if document]


def _apply_crds(kubeconfig: Path, crds: list[dict[str, Any]]) -> None:
    _kubectl(kubeconfig, "apply", "--server-side", "-f", "-", stdin=yaml.safe_dump_all(crds))
    names = [f"crd/{crd['metadata']['name']}" for crd in crds]
    _kubectl(kubeconfig, "wait", "--for=condition=Established", "--timeout=60s", *names)


def _release_objects(kubeconfig: Path, crd: str) -> None:
    """Take the finalizers off every object of ``crd`` that earlier tests left behind
    (no engine runs to process them now), so that deleting the CRD does not wait for
    them."""
    listed = json.loads(_kubectl(kubeconfig, "get", crd, "--all-namespaces", "-o", "json"))
    for item in listed.get("items") or []:
        metadata = item["metadata"]
        if not metadata.get("finalizers"):
            continue
        where = ["--namespace", metadata["namespace"]] if metadata.get("namespace") else []
        _kubectl(
            kubeconfig,
            "patch",
            crd,
            metadata["name"],
            *where,
            "--type=merge",
            "--patch",
            '{"metadata":{"finalizers":null}}',
        )


@pytest.fixture(scope="module")
def only_source_and_kustomize_crds(kubeconfig: Path) -> Iterator[list[dict[str, Any]]]:
    """The cluster serves GitRepository and Kustomization only; yields the other CRDs."""
    crds = _exported_crds(kubeconfig)
    others = [crd for crd in crds if crd["metadata"]["name"] not in SUBSET]
    for crd in others:
        _release_objects(kubeconfig, crd["metadata"]["name"])
    _kubectl(
        kubeconfig,
        "delete",
        "crd",
        "--ignore-not-found",
        "--wait=true",
        *(crd["metadata"]["name"] for crd in others),
    )
    _apply_crds(kubeconfig, [crd for crd in crds if crd["metadata"]["name"] in SUBSET])
    try:
        yield others
    finally:
        restored = subprocess.run(
            lockstep_command(kubeconfig, "install", "--crds"),
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert restored.returncode == 0, restored.stderr


@pytest.fixture(scope="module")
def subset_engine(
    only_source_and_kustomize_crds: list[dict[str, Any]],
    kubeconfig: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Engine]:
    running = start_engine(kubeconfig, tmp_path_factory.mktemp("subset-engine"))
    yield running
    stop_engine(running)


def _readyz(engine: Engine) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{engine.metrics_addr}/readyz", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


async def _readyz_async(engine: Engine) -> tuple[int, str]:
    return _readyz(engine)


def test_the_engine_is_ready_and_names_the_absent_kinds(subset_engine: Engine) -> None:
    status, body = _readyz(subset_engine)

    assert status == 200, body
    assert body.startswith("ok\n")
    absent = sorted(line.split(":")[1].strip() for line in body.splitlines()[1:])
    assert absent == [
        "Application",
        "HelmChart",
        "HelmRelease",
        "HelmRepository",
        "ImagePolicy",
        "ImageRepository",
        "ImageUpdateAutomation",
        "OCIRepository",
        "Receiver",
    ]
    assert "image.toolkit.fluxcd.io/v1 is not served" in body
    assert subset_engine.metric("lockstep_kind_served", kind="GitRepository") == 1
    assert subset_engine.metric("lockstep_kind_served", kind="Kustomization") == 1
    assert subset_engine.metric("lockstep_kind_served", kind="ImagePolicy") == 0
    log = subset_engine.log.read_text()
    for kind in ("ImageRepository", "ImagePolicy", "ImageUpdateAutomation", "Receiver"):
        assert f"{kind} watch failed" not in log, log[-3000:]


def test_check_reports_served_and_absent_kinds(subset_engine: Engine, kubeconfig: Path) -> None:
    checked = subprocess.run(
        lockstep_command(kubeconfig, "check"), capture_output=True, text=True, timeout=120
    )

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "served and reconciled: GitRepository, Kustomization" in checked.stdout
    assert "absent (no CRD serves them): OCIRepository, HelmRepository," in checked.stdout
    assert "Receiver, Alert, Provider" in checked.stdout


async def test_the_served_kinds_are_reconciled(subset_engine: Engine, scenario: Scenario) -> None:
    scenario.commit({"app/settings.yaml": config_map("settings", color="blue")})
    await scenario.source()
    await scenario.kustomization("app", "./app")

    await scenario.ready("app")
    settings = await scenario.kube.get(ObjectRef("v1", "ConfigMap", "settings", scenario.namespace))
    assert settings["data"] == {"color": "blue"}


async def test_a_kustomization_of_an_absent_source_kind_fails_clearly(
    subset_engine: Engine, scenario: Scenario
) -> None:
    await scenario.kustomization("oci", "./", sourceRef={"kind": "OCIRepository", "name": "app"})

    await scenario.failed("oci", "source OCIRepository")
    assert _readyz(subset_engine)[0] == 200


async def _receiver(scenario: Scenario) -> ObjectRef:
    await scenario.kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "webhook-token", "namespace": scenario.namespace},
            "data": {"token": base64.b64encode(b"subset-token").decode()},
        }
    )
    receiver: KubeObject = {
        "apiVersion": "notification.toolkit.fluxcd.io/v1",
        "kind": "Receiver",
        "metadata": {"name": "hook", "namespace": scenario.namespace},
        "spec": {
            "type": "generic",
            "secretRef": {"name": "webhook-token"},
            "resources": [{"kind": "GitRepository", "name": "repo"}],
        },
    }
    await scenario.kube.apply(receiver)
    return ObjectRef.of(receiver)


async def test_installing_the_missing_crds_starts_their_controllers_without_a_restart(
    subset_engine: Engine,
    only_source_and_kustomize_crds: list[dict[str, Any]],
    scenario: Scenario,
) -> None:
    _apply_crds(scenario.kubeconfig, only_source_and_kustomize_crds)
    await eventually(
        lambda: _readyz_async(subset_engine),
        lambda answer: answer == (200, "ok\n"),
        within=60,
        what="/readyz ready with no absent kind",
    )

    ref = await _receiver(scenario)
    receiver = await eventually(
        lambda: scenario.kube.get(ref),
        lambda o: condition(o, "Ready").startswith("True"),
        within=60,
        what="Receiver hook Ready",
    )
    assert str(receiver["status"]["webhookPath"]).startswith("/hook/")
    policy = ObjectRef("image.toolkit.fluxcd.io/v1", "ImagePolicy", "web", scenario.namespace)
    await scenario.kube.apply(
        {
            "apiVersion": policy.api_version,
            "kind": policy.kind,
            "metadata": {"name": policy.name, "namespace": policy.namespace},
            "spec": {
                "imageRepositoryRef": {"name": "missing"},
                "policy": {"semver": {"range": ">=1.0.0"}},
            },
        }
    )
    await eventually(
        lambda: scenario.kube.get(policy),
        lambda o: condition(o, "Ready") != "",
        within=60,
        what="ImagePolicy web given a Ready condition",
    )
    assert subset_engine.process.poll() is None
    log = subset_engine.log.read_text()
    assert "Receiver is served now: starting its controller" in log
    assert "ImagePolicy is served now: starting its controller" in log


async def test_deleting_a_crd_again_reports_its_kind_absent_and_stays_ready(
    subset_engine: Engine, kubeconfig: Path
) -> None:
    _kubectl(kubeconfig, "delete", "crd", RECEIVER_CRD, "--wait=true")

    await eventually(
        lambda: _readyz_async(subset_engine),
        lambda answer: answer[0] == 200 and "absent: Receiver:" in answer[1],
        within=60,
        what="/readyz ready with Receiver absent",
    )
    assert subset_engine.metric("lockstep_kind_served", kind="Receiver") == 0
    assert subset_engine.metric("lockstep_kind_served", kind="ImagePolicy") == 1
