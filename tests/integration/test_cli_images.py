"""The image automation verbs as a user runs them, against the real control plane.

No engine runs here: the tests write the objects' status themselves, as the image
controllers would, and for ``reconcile`` they act as the controller answering the
request: they wait for the ``requestedAt`` annotation the command sets, then write
a status that says the request was handled. What is checked is the command's side:
the rows it shows, what it prints when the answer comes, and its exit codes.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from ground.engine import lockstep, succeeded
from ground.wait import eventually
from lockstep.api.meta import RECONCILE_REQUEST_ANNOTATION
from lockstep.kube import KubeClient, KubeObject, ObjectRef

pytestmark = pytest.mark.integration

IMAGE_API = "image.toolkit.fluxcd.io/v1"
COMMIT = "4f1c1a7f2e0d3b5a6c7d8e9f0a1b2c3d4e5f6a7b"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def repository(name: str, namespace: str) -> KubeObject:
    return {
        "apiVersion": IMAGE_API,
        "kind": "ImageRepository",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"image": "127.0.0.1:5000/acme/app", "interval": "1h"},
    }


def policy(name: str, namespace: str) -> KubeObject:
    return {
        "apiVersion": IMAGE_API,
        "kind": "ImagePolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"imageRepositoryRef": {"name": "app"}, "policy": {"semver": {"range": "^1.2.x"}}},
    }


def automation(name: str, namespace: str) -> KubeObject:
    return {
        "apiVersion": IMAGE_API,
        "kind": "ImageUpdateAutomation",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "sourceRef": {"kind": "GitRepository", "name": "fleet"},
            "interval": "1h",
            "git": {"commit": {"author": {"email": "bot@example.com"}}},
        },
    }


async def write_status(
    kube: KubeClient,
    obj: KubeObject,
    *,
    ready: bool = True,
    message: str = "ok",
    handled: str | None = None,
    **status: Any,
) -> None:
    """Write the status a controller would after reconciling ``obj``'s current generation."""
    live = await kube.get(ObjectRef.of(obj))
    generation = live["metadata"]["generation"]
    condition = {
        "type": "Ready",
        "status": "True" if ready else "False",
        "reason": "Succeeded" if ready else "Failed",
        "message": message,
        "lastTransitionTime": now(),
        "observedGeneration": generation,
    }
    handling = {"lastHandledReconcileAt": handled} if handled else {}
    await kube.apply_status(
        {
            **live,
            "status": {
                "observedGeneration": generation,
                "conditions": [condition],
                **handling,
                **status,
            },
        }
    )


async def answer_request(
    kube: KubeClient, obj: KubeObject, *, ready: bool = True, message: str = "ok", **status: Any
) -> None:
    """Act as the controller: wait for a new reconcile request on ``obj``, then handle it."""

    def requested(live: KubeObject) -> str | None:
        value = (live["metadata"].get("annotations") or {}).get(RECONCILE_REQUEST_ANNOTATION)
        handled = (live.get("status") or {}).get("lastHandledReconcileAt")
        return value if value and value != handled else None

    live = await eventually(
        lambda: kube.get(ObjectRef.of(obj)), requested, within=60, what="a reconcile request"
    )
    await write_status(kube, obj, ready=ready, message=message, handled=requested(live), **status)


async def test_get_images(crds_installed: Path, kube: KubeClient, namespace: str) -> None:
    ns, kubeconfig = namespace, crds_installed
    await kube.apply(repository("app", ns))
    await kube.apply(policy("app", ns))
    await kube.apply(automation("fleet", ns))
    scanned = {"tagCount": 3, "scanTime": "2025-06-01T12:00:00Z", "latestTags": ["1.3.0"]}
    await write_status(
        kube,
        repository("app", ns),
        message="successful scan: found 3 tags",
        lastScanResult=scanned,
        canonicalImageName="127.0.0.1:5000/acme/app",
    )
    await write_status(
        kube,
        policy("app", ns),
        message="Latest image tag for 127.0.0.1:5000/acme/app resolved to 1.3.0",
        latestRef={"name": "127.0.0.1:5000/acme/app", "tag": "1.3.0"},
    )
    await write_status(
        kube,
        automation("fleet", ns),
        message="repository up-to-date",
        lastAutomationRunTime="2025-06-01T12:01:00Z",
    )

    table = succeeded(await lockstep(kubeconfig, "get", "images", "repository", "-n", ns))
    rows = [line.split() for line in table.splitlines()]
    assert rows[0] == ["NAME", "LAST", "SCAN", "SUSPENDED", "READY", "MESSAGE", "AGE"]
    assert rows[1][:5] == ["app", "2025-06-01T12:00:00Z", "False", "True", "successful"]

    table = succeeded(await lockstep(kubeconfig, "get", "images", "policy", "app", "-n", ns))
    rows = [line.split() for line in table.splitlines()]
    assert rows[0] == ["NAME", "LATEST", "IMAGE", "READY", "MESSAGE", "AGE"]
    assert rows[1][:3] == ["app", "127.0.0.1:5000/acme/app:1.3.0", "True"]

    data = json.loads(
        succeeded(await lockstep(kubeconfig, "get", "images", "update", "-n", ns, "-o", "json"))
    )
    assert [(row["name"], row["last_run"], row["ready"]) for row in data] == [
        ("fleet", "2025-06-01T12:01:00Z", "True")
    ]

    every_image = yaml.safe_load(
        succeeded(await lockstep(kubeconfig, "get", "images", "all", "-n", ns, "-o", "yaml"))
    )
    assert [row["kind"] for row in every_image] == [
        "ImageRepository",
        "ImagePolicy",
        "ImageUpdateAutomation",
    ]
    every_kind = succeeded(await lockstep(kubeconfig, "get", "all", "-n", ns))
    for name in ("imagerepository/app", "imagepolicy/app", "imageupdateautomation/fleet"):
        assert name in every_kind
    everywhere = succeeded(await lockstep(kubeconfig, "get", "image", "repository", "-A"))
    assert any(line.split()[:2] == [ns, "app"] for line in everywhere.splitlines())

    missing = await lockstep(kubeconfig, "get", "images", "policy", "nope", "-n", ns)
    assert missing.returncode == 2
    assert missing.stderr.splitlines() == [
        f"error: imagepolicy nope not found in namespace {ns}",
        "hint: pick the namespace with -n, or list them all: lockstep get images policy -A",
    ]


async def test_reconcile_image_repository(
    crds_installed: Path, kube: KubeClient, namespace: str
) -> None:
    ns, kubeconfig = namespace, crds_installed
    app = repository("app", ns)
    await kube.apply(app)

    scanned = {"tagCount": 7, "scanTime": now(), "latestTags": ["1.3.0"]}
    reconciled, _ = await asyncio.gather(
        lockstep(kubeconfig, "reconcile", "image", "repository", "app", "-n", ns),
        answer_request(kube, app, lastScanResult=scanned),
    )
    assert "imagerepository app reconciled: scan fetched 7 tags" in succeeded(reconciled)

    failed, _ = await asyncio.gather(
        lockstep(kubeconfig, "reconcile", "image", "repository", "app", "-n", ns),
        answer_request(
            kube, app, ready=False, message="GET 127.0.0.1:5000/v2/: connection refused"
        ),
    )
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert failed.stderr.splitlines()[0] == (
        f"error: imagerepository app in namespace {ns} failed: "
        "GET 127.0.0.1:5000/v2/: connection refused"
    )

    missing = await lockstep(kubeconfig, "reconcile", "image", "repository", "nope", "-n", ns)
    assert missing.returncode == 2
    assert f"imagerepository nope not found in namespace {ns}" in missing.stderr


async def test_reconcile_image_update(
    crds_installed: Path, kube: KubeClient, namespace: str
) -> None:
    ns, kubeconfig = namespace, crds_installed
    fleet = automation("fleet", ns)
    await kube.apply(fleet)

    pushed, _ = await asyncio.gather(
        lockstep(kubeconfig, "reconcile", "image", "update", "fleet", "-n", ns),
        answer_request(
            kube,
            fleet,
            lastAutomationRunTime=now(),
            lastPushCommit=COMMIT,
            lastPushTime=now(),
        ),
    )
    assert f"imageupdateautomation fleet reconciled: pushed commit {COMMIT}" in succeeded(pushed)

    unchanged, _ = await asyncio.gather(
        lockstep(kubeconfig, "reconcile", "image", "update", "fleet", "-n", ns),
        answer_request(
            kube,
            fleet,
            message="repository up-to-date",
            lastAutomationRunTime=now(),
            lastPushCommit=COMMIT,
            lastPushTime=now(),
        ),
    )
    assert "imageupdateautomation fleet reconciled: repository up-to-date" in succeeded(unchanged)


async def test_suspend_and_resume_image_objects(
    crds_installed: Path, kube: KubeClient, namespace: str
) -> None:
    ns, kubeconfig = namespace, crds_installed
    app, fleet = repository("app", ns), automation("fleet", ns)
    await kube.apply(app)
    await kube.apply(fleet)

    suspended = succeeded(
        await lockstep(kubeconfig, "suspend", "image", "repository", "app", "-n", ns)
    )
    assert f"imagerepository app in namespace {ns} suspended" in suspended
    assert (await kube.get(ObjectRef.of(app)))["spec"]["suspend"] is True
    succeeded(await lockstep(kubeconfig, "suspend", "image", "update", "fleet", "-n", ns))
    assert (await kube.get(ObjectRef.of(fleet)))["spec"]["suspend"] is True

    refused = await lockstep(kubeconfig, "reconcile", "image", "repository", "app", "-n", ns)
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        f"error: imagerepository app in namespace {ns} is suspended",
        f"hint: resume it: lockstep resume image repository app -n {ns}",
    ]

    resumed, _ = await asyncio.gather(
        lockstep(kubeconfig, "resume", "image", "repository", "app", "-n", ns),
        answer_request(kube, app, lastScanResult={"tagCount": 2, "scanTime": now()}),
    )
    assert "imagerepository app resumed: scan fetched 2 tags" in succeeded(resumed)
    assert (await kube.get(ObjectRef.of(app)))["spec"]["suspend"] is False

    rows = json.loads(
        succeeded(await lockstep(kubeconfig, "get", "images", "update", "-n", ns, "-o", "json"))
    )
    assert [(row["name"], row["suspended"]) for row in rows] == [("fleet", True)]
