"""Argo CD's Application and AppProject on the real control plane: manifests written for
Argo CD apply unchanged with kubectl, read back with every field, take an `operation`
and a plainly patched status, and print Argo CD's columns.

The manifests are the ones the model tests parse (`unit.api.test_argo_models`).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ground.engine import lockstep_command
from ground.gitops import KUBECTL
from lockstep.api.kinds import RECONCILED_LABEL, kind_info
from unit.api.test_argo_models import ARGO_MANIFESTS

pytestmark = pytest.mark.integration

APPLICATIONS = "applications.argoproj.io"
APP_PROJECTS = "appprojects.argoproj.io"


def _kubectl(kubeconfig: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KUBECTL), "--kubeconfig", str(kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _in_namespace(name: str, namespace: str) -> dict[str, Any]:
    """The sample as written, moved into the test's namespace."""
    written: dict[str, Any] = yaml.safe_load(ARGO_MANIFESTS[name])
    written["metadata"]["namespace"] = namespace
    return written


def _resource(obj: dict[str, Any]) -> str:
    return APP_PROJECTS if obj["kind"] == "AppProject" else APPLICATIONS


def _read(kubeconfig: Path, obj: dict[str, Any]) -> dict[str, Any]:
    metadata = obj["metadata"]
    read = _kubectl(
        kubeconfig,
        "get",
        _resource(obj),
        metadata["name"],
        "-n",
        metadata["namespace"],
        "-o",
        "json",
    )
    assert read.returncode == 0, read.stderr
    live: dict[str, Any] = json.loads(read.stdout)
    return live


@pytest.fixture(scope="module")
def installed(kubeconfig: Path) -> Path:
    result = subprocess.run(
        lockstep_command(kubeconfig, "install", "--crds"),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    return kubeconfig


@pytest.fixture
def applied(installed: Path, namespace: str) -> Iterator[list[dict[str, Any]]]:
    """Every sample applied with `kubectl apply`, as written; yields the written objects.

    The samples carry Argo CD's finalizer and no controller removes it here, so the
    fixture removes it afterwards, letting the test namespace go.
    """
    written = [_in_namespace(name, namespace) for name in ARGO_MANIFESTS]
    stream = yaml.safe_dump_all(written, sort_keys=False)
    applied = _kubectl(installed, "apply", "-f", "-", stdin=stream)
    try:
        assert applied.returncode == 0, applied.stderr
        yield written
    finally:
        for obj in written:
            if obj["metadata"].get("finalizers"):
                _kubectl(
                    installed,
                    "patch",
                    _resource(obj),
                    obj["metadata"]["name"],
                    "-n",
                    namespace,
                    "--type=merge",
                    "-p",
                    '{"metadata": {"finalizers": null}}',
                )


def test_the_argo_cd_crds_are_established_without_a_status_subresource(installed: Path) -> None:
    listed = _kubectl(installed, "get", "crds", APPLICATIONS, APP_PROJECTS, "-o", "json")
    assert listed.returncode == 0, listed.stderr

    for crd in json.loads(listed.stdout)["items"]:
        conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert conditions["Established"] == "True", crd["metadata"]["name"]
        reconciled = kind_info(crd["spec"]["names"]["kind"]).reconciled
        assert crd["metadata"]["labels"] == {RECONCILED_LABEL: str(reconciled).lower()}
        assert [v.get("subresources") for v in crd["spec"]["versions"]] == [None]


def test_manifests_apply_unchanged_and_read_back_with_every_field(
    applied: list[dict[str, Any]], installed: Path
) -> None:
    for written in applied:
        live = _read(installed, written)
        name = written["metadata"]["name"]

        for field in written.keys() - {"metadata"}:
            assert live[field] == written[field], f"{name}: {field}"
        for field in ("labels", "finalizers"):
            assert live["metadata"].get(field) == written["metadata"].get(field), name


def test_applications_print_sync_and_health_status(
    applied: list[dict[str, Any]], installed: Path, namespace: str
) -> None:
    table = _kubectl(installed, "get", "applications", "-n", namespace)
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()

    assert header.split() == ["NAME", "SYNC", "STATUS", "HEALTH", "STATUS"]
    assert ["guestbook-synced", "Synced", "Healthy"] in [row.split() for row in rows]
    assert len(rows) == sum(1 for obj in applied if obj["kind"] == "Application")

    wide = _kubectl(installed, "get", "apps", "guestbook-synced", "-n", namespace, "-o", "wide")
    assert wide.returncode == 0, wide.stderr
    assert wide.stdout.splitlines()[0].split()[-2:] == ["REVISION", "PROJECT"]
    assert wide.stdout.splitlines()[1].split()[-2:] == [
        "53e28ff20cc530b9ada2173fbbd64d48338583ba",
        "default",
    ]

    projects = _kubectl(installed, "get", "appproj", "-n", namespace)
    assert projects.stdout.splitlines()[0].split() == ["NAME", "AGE"]
    assert projects.stdout.splitlines()[1].split()[0] == "apps"


def test_an_operation_and_a_status_are_written_with_plain_patches(
    applied: list[dict[str, Any]], installed: Path, namespace: str
) -> None:
    """As `argocd app sync` asks for a sync, and as Argo CD's controller writes status."""
    operation = {
        "sync": {"revision": "HEAD", "prune": True, "syncOptions": ["ServerSideApply=true"]},
        "initiatedBy": {"username": "admin"},
    }
    status = {
        "sync": {"status": "OutOfSync", "revision": "1e2d3c"},
        "health": {"status": "Progressing", "message": "waiting for rollout"},
        "operationState": {
            "phase": "Running",
            "startedAt": "2026-01-01T10:00:00Z",
            "operation": operation,
        },
    }
    for patch in ({"operation": operation}, {"status": status}):
        patched = _kubectl(
            installed,
            "patch",
            APPLICATIONS,
            "guestbook",
            "-n",
            namespace,
            "--type=merge",
            "-p",
            json.dumps(patch),
        )
        assert patched.returncode == 0, patched.stderr

    live = _read(installed, _in_namespace("guestbook", namespace))
    assert live["operation"] == operation
    assert live["status"] == status
    table = _kubectl(installed, "get", "app", "guestbook", "-n", namespace)
    assert table.stdout.splitlines()[1].split() == ["guestbook", "OutOfSync", "Progressing"]


def test_a_manifest_outside_argo_cds_api_is_rejected(installed: Path, namespace: str) -> None:
    broken = _in_namespace("kustomize-guestbook", namespace)
    broken["spec"]["syncPolicy"]["automated"]["prune"] = "yes"

    result = _kubectl(
        installed, "apply", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump(broken)
    )

    assert result.returncode != 0
    assert "spec.syncPolicy.automated.prune" in result.stderr
