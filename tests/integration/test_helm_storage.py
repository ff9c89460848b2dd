"""Helm's release storage against the real helm on the real control plane: lockstep
reads the releases ``helm install`` and ``helm upgrade`` write, writes revisions from
its own renders that ``helm list``, ``history``, ``get``, ``status``, ``upgrade``,
``rollback`` and ``uninstall`` take for Helm's own, and writes them as helm would have
(the golden comparison with a ``helm upgrade`` of the same chart and values)."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from ground.charts import Chart, Helm, hook
from lockstep.controllers.helm.storage import (
    HookPhase,
    Release,
    ReleaseRecordError,
    ReleaseStatus,
    ReleaseStorage,
    encode,
    hook_run,
    release_from_render,
)
from lockstep.kube import Conflict, KubeClient, NotFound, ObjectRef
from lockstep.render.helm import ReleaseContext, Rendered, shared_helm_renderer

pytestmark = pytest.mark.integration

SETTINGS = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  colour: {{ .Values.colour | quote }}
  chart: {{ .Chart.Version | quote }}
"""
PRE_UPGRADE = hook(
    {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "{{ .Release.Name }}-marker"},
        "data": {"revision": "{{ .Release.Revision }}"},
    },
    ["pre-install", "pre-upgrade"],
    weight=-5,
)

# Helm 4 applies server-side as the field manager "helm": the fields lockstep applied
# (as "lockstep") are taken over only when forced, whatever the record says.
TAKE_OVER = ("--force-conflicts",)


def web_chart(version: str) -> Chart:
    return Chart(
        name="web",
        version=version,
        templates={
            "settings.yaml": SETTINGS,
            "marker.yaml": PRE_UPGRADE,
            "NOTES.txt": "web {{ .Chart.Version }} in {{ .Values.colour }}\n",
        },
        values={"colour": "blue"},
        metadata={"appVersion": f"app-{version}"},
    )


def package(chart: Chart, folder: Path) -> Path:
    path = folder / chart.filename
    path.write_bytes(chart.package())
    return path


def render(chart: Path, values: Mapping[str, Any], namespace: str, revision: int) -> Rendered:
    return shared_helm_renderer().render(
        chart, values, ReleaseContext("web", namespace, revision=revision, upgrade=revision > 1)
    )


async def apply_manifest(kube: KubeClient, manifest: str, namespace: str) -> None:
    """Apply the release's objects as lockstep's apply engine would."""
    for document in yaml.safe_load_all(manifest):
        if document:
            document["metadata"]["namespace"] = namespace
            await kube.apply(document)


async def upgrade_by_lockstep(
    storage: ReleaseStorage,
    kube: KubeClient,
    chart: Path,
    values: Mapping[str, Any],
    namespace: str,
) -> Release:
    """An upgrade as Helm makes one: the new revision written pending, the objects
    applied, the revision before superseded, the new one deployed."""
    current = await storage.last("web")
    assert current is not None
    rendered = render(chart, values, namespace, current.version + 1)
    pending = await storage.create(
        release_from_render(
            rendered,
            "web",
            namespace,
            current.version + 1,
            ReleaseStatus.PENDING_UPGRADE,
            "Preparing upgrade",
            datetime.now(UTC),
            first_deployed=current.first_deployed,
            labels=current.labels,
        )
    )
    await apply_manifest(kube, rendered.manifest, namespace)
    await storage.update(current.with_status(ReleaseStatus.SUPERSEDED, current.description))
    return await storage.update(pending.with_status(ReleaseStatus.DEPLOYED, "Upgrade complete"))


def helm_json(helm: Helm, *args: str) -> Any:
    return json.loads(helm.run(*args, "-o", "json"))


def history(helm: Helm, namespace: str) -> list[tuple[int, str, str, str]]:
    return [
        (entry["revision"], entry["status"], entry["chart"], entry["description"])
        for entry in helm_json(helm, "history", "web", "-n", namespace)
    ]


def record_json(secret: Mapping[str, Any]) -> dict[str, Any]:
    helm_encoded = base64.b64decode(secret["data"]["release"])
    document: dict[str, Any] = json.loads(gzip.decompress(base64.b64decode(helm_encoded)))
    return document


def without_times(document: dict[str, Any]) -> dict[str, Any]:
    """The record without what differs between two writes of one release: when it was
    deployed and when its hooks ran (not how they went)."""
    info = {
        key: value
        for key, value in document["info"].items()
        if key not in ("first_deployed", "last_deployed")
    }
    hooks = [
        {**entry, "last_run": {"phase": entry["last_run"]["phase"]}}
        for entry in document.get("hooks", [])
    ]
    return {**document, "info": info, "hooks": hooks}


async def test_a_release_helm_installed_is_read(
    helm: Helm, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    chart = package(web_chart("0.1.0"), tmp_path)
    helm.run("install", "web", str(chart), "-n", namespace, "--set", "colour=green")
    storage = ReleaseStorage(kube, namespace)

    [release] = await storage.history("web")

    assert release == await storage.last("web") == await storage.deployed("web")
    assert (release.name, release.namespace, release.version) == ("web", namespace, 1)
    assert (release.status, release.description) == (ReleaseStatus.DEPLOYED, "Install complete")
    assert (release.chart_name, release.chart_version) == ("web", "0.1.0")
    assert release.config == {"colour": "green"}
    assert 'colour: "green"' in release.manifest
    assert release.notes == "web 0.1.0 in green\n"
    assert release.apply_method == "ssa"
    assert [entry["last_run"]["phase"] for entry in release.hooks] == ["Succeeded"]
    assert release.first_deployed is not None
    assert release.first_deployed.tzinfo is not None
    assert await storage.last("absent") is None
    assert await storage.history("absent") == []


async def test_lockstep_writes_the_record_helm_upgrade_writes(
    helm: Helm, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    first, second = package(web_chart("0.1.0"), tmp_path), package(web_chart("0.2.0"), tmp_path)
    helm.run("install", "web", str(first), "-n", namespace)
    helm.run("upgrade", "web", str(second), "-n", namespace, "--set", "colour=red")
    by_helm = await kube.get(ObjectRef("v1", "Secret", "sh.helm.release.v1.web.v2", namespace))

    rendered = render(second, {"colour": "red"}, namespace, 2)
    now = datetime.now(UTC)
    ours = release_from_render(
        rendered, "web", namespace, 2, ReleaseStatus.DEPLOYED, "Upgrade complete", now
    )
    ran = [hook_run(entry, HookPhase.SUCCEEDED, now, now) for entry in ours.hooks]
    ours = dataclasses.replace(ours, hooks=ran)

    written = json.loads(gzip.decompress(base64.b64decode(encode(ours))))
    assert without_times(written) == without_times(record_json(by_helm))
    assert by_helm["type"] == "helm.sh/release.v1"


async def test_helm_takes_lockstep_s_revision_for_its_own(
    helm: Helm, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    first, second = package(web_chart("0.1.0"), tmp_path), package(web_chart("0.2.0"), tmp_path)
    helm.run("install", "web", str(first), "-n", namespace, "--set", "colour=green")
    storage = ReleaseStorage(kube, namespace)

    deployed = await upgrade_by_lockstep(storage, kube, second, {"colour": "red"}, namespace)

    assert history(helm, namespace) == [
        (1, "superseded", "web-0.1.0", "Install complete"),
        (2, "deployed", "web-0.2.0", "Upgrade complete"),
    ]
    [listed] = helm_json(helm, "list", "-n", namespace)
    assert (listed["revision"], listed["status"]) == ("2", "deployed")
    assert (listed["chart"], listed["app_version"]) == ("web-0.2.0", "app-0.2.0")
    assert helm_json(helm, "get", "values", "web", "-n", namespace) == {"colour": "red"}
    assert helm.run("get", "manifest", "web", "-n", namespace).strip() == deployed.manifest.strip()
    status = helm_json(helm, "status", "web", "-n", namespace)
    assert (status["version"], status["info"]["status"]) == (2, "deployed")
    assert status["info"]["notes"] == "web 0.2.0 in red\n"

    # Labelled as helm labels a revision it created and then rewrote: modifiedAt, and
    # no createdAt.
    secret = await kube.get(ObjectRef("v1", "Secret", deployed.secret_name, namespace))
    labels = secret["metadata"]["labels"]
    assert labels.pop("modifiedAt").isdigit()
    assert labels == {"name": "web", "owner": "helm", "status": "deployed", "version": "2"}
    assert secret["type"] == "helm.sh/release.v1"

    # Helm goes on from lockstep's revision: an upgrade by helm is revision 3.
    helm.run("upgrade", "web", str(second), "-n", namespace, "--set", "colour=blue", *TAKE_OVER)
    assert [entry[:2] for entry in history(helm, namespace)] == [
        (1, "superseded"),
        (2, "superseded"),
        (3, "deployed"),
    ]


async def test_a_revision_cannot_be_written_twice(
    helm: Helm, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    chart = package(web_chart("0.1.0"), tmp_path)
    helm.run("install", "web", str(chart), "-n", namespace)
    storage = ReleaseStorage(kube, namespace)
    current = await storage.last("web")
    assert current is not None

    with pytest.raises(Conflict):
        await storage.create(current.with_status(ReleaseStatus.PENDING_UPGRADE, "a second writer"))
    # An update over a revision another writer changed since it was read fails too.
    await storage.update(current.with_status(ReleaseStatus.DEPLOYED, "touched by one writer"))
    with pytest.raises(Conflict):
        await storage.update(current.with_status(ReleaseStatus.FAILED, "and by another"))
    assert history(helm, namespace) == [(1, "deployed", "web-0.1.0", "touched by one writer")]
    # A release built in memory is written over whatever is there, as Helm's driver does.
    built = Release("web", namespace, 1, ReleaseStatus.DEPLOYED, chart=current.chart)
    await storage.update(dataclasses.replace(built, description="written blind"))
    assert history(helm, namespace) == [(1, "deployed", "web-0.1.0", "written blind")]


async def test_a_stale_lock_is_released_as_failed(
    helm: Helm, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    first, second = package(web_chart("0.1.0"), tmp_path), package(web_chart("0.2.0"), tmp_path)
    helm.run("install", "web", str(first), "-n", namespace)
    storage = ReleaseStorage(kube, namespace)
    assert await storage.unlock("web") is None  # nothing to unlock
    rendered = render(second, {}, namespace, 2)
    await storage.create(
        release_from_render(
            rendered,
            "web",
            namespace,
            2,
            ReleaseStatus.PENDING_UPGRADE,
            "Preparing upgrade",
            datetime.now(UTC),
        )
    )
    locked = helm.attempt("upgrade", "web", str(second), "-n", namespace)
    assert "another operation (install/upgrade/rollback) is in progress" in locked.stderr

    unlocked = await storage.unlock("web")

    assert unlocked is not None
    assert unlocked.status is ReleaseStatus.FAILED
    [_, (revision, status, _, description)] = history(helm, namespace)
    assert (revision, status) == (2, "failed")
    assert (
        description
        == "Stale 'pending-upgrade' lock released by lockstep: the operation never finished"
    )
    # Read back from the history, the revision keeps the createdAt of its first write.
    secret = await kube.get(ObjectRef("v1", "Secret", unlocked.secret_name, namespace))
    assert {"createdAt", "modifiedAt"} <= set(secret["metadata"]["labels"])
    helm.run("upgrade", "web", str(second), "-n", namespace)
    assert [entry[:2] for entry in history(helm, namespace)][-1] == (3, "deployed")


async def test_of_two_deployed_revisions_the_older_is_superseded(
    helm: Helm, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    first, second = package(web_chart("0.1.0"), tmp_path), package(web_chart("0.2.0"), tmp_path)
    helm.run("install", "web", str(first), "-n", namespace)
    storage = ReleaseStorage(kube, namespace)
    assert await storage.supersede_older(await storage.history("web")) == await storage.history(
        "web"
    )  # one deployed: nothing written
    # A writer killed after storing revision 2 deployed, before superseding revision 1.
    await storage.create(
        release_from_render(
            render(second, {}, namespace, 2),
            "web",
            namespace,
            2,
            ReleaseStatus.DEPLOYED,
            "Upgrade complete",
            datetime.now(UTC),
        )
    )

    history_after = await storage.supersede_older(await storage.history("web"))

    assert [(r.version, r.status) for r in history_after] == [
        (1, ReleaseStatus.SUPERSEDED),
        (2, ReleaseStatus.DEPLOYED),
    ]
    assert [entry[:2] for entry in history(helm, namespace)] == [
        (1, "superseded"),
        (2, "deployed"),
    ]


async def test_prune_keeps_the_newest_and_the_deployed(
    helm: Helm, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    chart = package(web_chart("0.1.0"), tmp_path)
    helm.run("install", "web", str(chart), "-n", namespace)
    storage = ReleaseStorage(kube, namespace)
    for _ in range(3):
        await upgrade_by_lockstep(storage, kube, chart, {}, namespace)

    assert await storage.prune("web", 2) == [1, 2]
    assert [entry[:2] for entry in history(helm, namespace)] == [(3, "superseded"), (4, "deployed")]

    # The deployed revision stays whatever its age: 4 is deployed, 5 and 6 failed.
    for version in (5, 6):
        await storage.create(
            release_from_render(
                render(chart, {}, namespace, version),
                "web",
                namespace,
                version,
                ReleaseStatus.FAILED,
                "Upgrade failed",
                datetime.now(UTC),
            )
        )
    assert await storage.prune("web", 2) == [3, 5]
    assert [entry[:2] for entry in history(helm, namespace)] == [(4, "deployed"), (6, "failed")]
    assert await storage.prune("web", 0) == []


async def test_helm_rolls_back_and_uninstalls_what_lockstep_wrote(
    helm: Helm, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    first, second = package(web_chart("0.1.0"), tmp_path), package(web_chart("0.2.0"), tmp_path)
    helm.run("install", "web", str(first), "-n", namespace, "--set", "colour=green")
    storage = ReleaseStorage(kube, namespace)
    await upgrade_by_lockstep(storage, kube, second, {"colour": "red"}, namespace)
    settings = ObjectRef("v1", "ConfigMap", "web-settings", namespace)
    assert (await kube.get(settings))["data"] == {"colour": "red", "chart": "0.2.0"}

    helm.run("rollback", "web", "1", "-n", namespace, *TAKE_OVER)

    assert history(helm, namespace)[1:] == [
        (2, "superseded", "web-0.2.0", "Upgrade complete"),
        (3, "deployed", "web-0.1.0", "Rollback to 1"),
    ]
    assert (await kube.get(settings))["data"] == {"colour": "green", "chart": "0.1.0"}
    rolled_back = await storage.deployed("web")
    assert rolled_back is not None
    assert (rolled_back.version, rolled_back.rollback_revision) == (3, 1)

    helm.run("uninstall", "web", "-n", namespace)

    assert helm_json(helm, "list", "-n", namespace) == []
    assert await storage.history("web") == []
    with pytest.raises(NotFound):
        await kube.get(settings)


async def test_a_secret_that_holds_no_release_is_named(kube: KubeClient, namespace: str) -> None:
    await kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "sh.helm.release.v1.web.v1",
                "namespace": namespace,
                "labels": {"name": "web", "owner": "helm", "status": "deployed", "version": "1"},
            },
            "type": "helm.sh/release.v1",
            "data": {"release": base64.b64encode(b"garbage!").decode()},
        }
    )

    with pytest.raises(ReleaseRecordError) as refused:
        await ReleaseStorage(kube, namespace).history("web")

    message = str(refused.value)
    assert message.startswith(f"Secret {namespace}/sh.helm.release.v1.web.v1 holds no readable")
    assert "\n" not in message
