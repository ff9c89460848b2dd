"""The GitRepository controller: refs to artifacts, served over HTTP, polled cheaply."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from ground.artifacts import artifact_files, condition
from ground.engine import Engine
from ground.wait import eventually
from lockstep.dev.gitserver import GitServer, ServedRepo
from lockstep.kube import KubeClient, ObjectRef

pytestmark = pytest.mark.integration


def _git_repository(namespace: str, url: str, interval: str = "1m", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "app", "namespace": namespace},
        "spec": {"url": url, "interval": interval, **spec},
    }


def _seed(repo: ServedRepo, tmp_path: Path) -> tuple[Any, str]:
    work = repo.working_copy(tmp_path / "work")
    work.write("deploy/app.yaml", "kind: ConfigMap\n")
    work.write("README.md", "docs\n")
    work.write(".sourceignore", "README.md\n")
    commit = work.commit("first")
    work.push()
    return work, commit


async def test_branch_becomes_an_artifact_and_follows_new_commits(
    engine: Engine, kube: KubeClient, namespace: str, git_repo: ServedRepo, tmp_path: Path
) -> None:
    work, first = _seed(git_repo, tmp_path)
    await kube.apply(
        _git_repository(namespace, git_repo.git_url, interval="2s", ref={"branch": "main"})
    )
    ref = ObjectRef("source.toolkit.fluxcd.io/v1", "GitRepository", "app", namespace)

    ready = await eventually(
        lambda: kube.get(ref), lambda o: condition(o, "Ready").startswith("True"), what="Ready"
    )
    artifact = ready["status"]["artifact"]
    assert artifact["revision"] == f"main@sha1:{first}"
    assert artifact["digest"].startswith("sha256:")
    assert artifact["url"].startswith(f"http://{engine.storage_addr}/")
    assert artifact_files(artifact["url"]) == {
        "deploy/app.yaml": b"kind: ConfigMap\n",
        ".sourceignore": b"README.md\n",
    }
    assert ready["status"]["observedGeneration"] == 1

    work.write("deploy/app.yaml", "kind: Secret\n")
    second = work.commit("second")
    work.push()
    moved = await eventually(
        lambda: kube.get(ref),
        lambda o: o["status"]["artifact"]["revision"] == f"main@sha1:{second}",
        what="the new commit's artifact",
    )
    assert (
        artifact_files(moved["status"]["artifact"]["url"])["deploy/app.yaml"] == b"kind: Secret\n"
    )


async def test_a_poll_that_finds_nothing_new_writes_nothing(
    engine: Engine, kube: KubeClient, namespace: str, git_repo: ServedRepo, tmp_path: Path
) -> None:
    _seed(git_repo, tmp_path)
    await kube.apply(
        _git_repository(namespace, git_repo.http_url, interval="1s", ref={"branch": "main"})
    )
    ref = ObjectRef("source.toolkit.fluxcd.io/v1", "GitRepository", "app", namespace)
    settled = await eventually(
        lambda: kube.get(ref), lambda o: condition(o, "Ready").startswith("True"), what="Ready"
    )
    await asyncio.sleep(1.5)
    before = await kube.get(ref)
    polls_before = engine.metric(
        "lockstep_reconcile_duration_seconds_count", controller="gitrepository", result="success"
    )
    await asyncio.sleep(4)
    after = await kube.get(ref)
    polls_after = engine.metric(
        "lockstep_reconcile_duration_seconds_count", controller="gitrepository", result="success"
    )
    assert polls_after >= polls_before + 2, "the engine should have polled during the wait"
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["status"] == settled["status"]


async def test_requested_reconcile_is_acknowledged(
    engine: Engine, kube: KubeClient, namespace: str, git_repo: ServedRepo, tmp_path: Path
) -> None:
    _seed(git_repo, tmp_path)
    repository = _git_repository(namespace, git_repo.git_url, interval="1h", ref={"branch": "main"})
    await kube.apply(repository)
    ref = ObjectRef("source.toolkit.fluxcd.io/v1", "GitRepository", "app", namespace)
    await eventually(
        lambda: kube.get(ref), lambda o: condition(o, "Ready").startswith("True"), what="Ready"
    )

    repository["metadata"]["annotations"] = {
        "reconcile.fluxcd.io/requestedAt": "2026-11-23T10:00:00Z"
    }
    await kube.apply(repository)
    handled = await eventually(
        lambda: kube.get(ref),
        lambda o: o["status"].get("lastHandledReconcileAt") == "2026-11-23T10:00:00Z",
        within=10,
        what="lastHandledReconcileAt",
    )
    assert condition(handled, "Ready").startswith("True")


async def test_default_branch_is_master_as_in_flux(
    engine: Engine, kube: KubeClient, namespace: str, git_repo: ServedRepo, tmp_path: Path
) -> None:
    _seed(git_repo, tmp_path)
    await kube.apply(_git_repository(namespace, git_repo.git_url))
    ref = ObjectRef("source.toolkit.fluxcd.io/v1", "GitRepository", "app", namespace)
    failed = await eventually(
        lambda: kube.get(ref),
        lambda o: condition(o, "Ready").startswith("False"),
        what="Ready=False",
    )
    assert "has no branch master" in condition(failed, "Ready")
    assert "correct spec.ref" in condition(failed, "Ready")


async def test_wrong_credentials_fail_with_a_clear_message_and_keep_nothing(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    git_server: GitServer,
    private_git_repo: ServedRepo,
    tmp_path: Path,
) -> None:
    _seed(private_git_repo, tmp_path)
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds", "namespace": namespace},
            "stringData": {
                "username": git_server.credentials.username,
                "password": "s3cr3t-but-bad",
            },
        }
    )
    await kube.apply(
        _git_repository(
            namespace,
            private_git_repo.http_url,
            secretRef={"name": "creds"},
            ref={"branch": "main"},
        )
    )
    ref = ObjectRef("source.toolkit.fluxcd.io/v1", "GitRepository", "app", namespace)
    failed = await eventually(
        lambda: kube.get(ref),
        lambda o: condition(o, "Ready").startswith("False"),
        what="Ready=False",
    )
    message = condition(failed, "Ready")
    assert "authentication" in message.lower() or "credentials" in message.lower(), message
    assert "s3cr3t-but-bad" not in message
    assert "artifact" not in failed["status"]

    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds", "namespace": namespace},
            "stringData": {
                "username": git_server.credentials.username,
                "password": git_server.credentials.password,
            },
        }
    )
    recovered = await eventually(
        lambda: kube.get(ref),
        lambda o: condition(o, "Ready").startswith("True"),
        within=60,
        what="Ready after the fix",
    )
    assert recovered["status"]["artifact"]["revision"].startswith("main@sha1:")


async def test_transitions_are_recorded_as_events(
    engine: Engine, kube: KubeClient, namespace: str, git_repo: ServedRepo, tmp_path: Path
) -> None:
    _seed(git_repo, tmp_path)
    await kube.apply(_git_repository(namespace, git_repo.git_url, ref={"branch": "main"}))
    ref = ObjectRef("source.toolkit.fluxcd.io/v1", "GitRepository", "app", namespace)
    ready = await eventually(
        lambda: kube.get(ref), lambda o: condition(o, "Ready").startswith("True"), what="Ready"
    )

    async def events() -> list[dict[str, Any]]:
        return await kube.list("v1", "Event", namespace=namespace)

    recorded = await eventually(events, lambda e: len(e) >= 1, within=10, what="an event")
    [event] = recorded
    assert event["reason"] == "NewArtifact"
    assert event["type"] == "Normal"
    assert event["involvedObject"]["uid"] == ready["metadata"]["uid"]
    assert ready["status"]["artifact"]["revision"] in event["message"]


async def test_include_copies_another_artifact_and_follows_it(
    engine: Engine, kube: KubeClient, namespace: str, git_server: GitServer, tmp_path: Path
) -> None:
    shared = git_server.create_repo(f"shared-{namespace}.git")
    app = git_server.create_repo(f"app-{namespace}.git")
    shared_work = shared.working_copy(tmp_path / "shared")
    shared_work.write("base/deployment.yaml", "kind: Deployment\n")
    shared_work.write("docs/notes.md", "notes\n")
    shared_work.commit("base")
    shared_work.push()
    _seed(app, tmp_path)

    including = _git_repository(
        namespace,
        app.git_url,
        interval="1h",
        ref={"branch": "main"},
        include=[{"repository": {"name": "shared"}, "fromPath": "base", "toPath": "vendor/base"}],
    )
    await kube.apply(including)
    ref = ObjectRef("source.toolkit.fluxcd.io/v1", "GitRepository", "app", namespace)
    waiting = await eventually(
        lambda: kube.get(ref),
        lambda o: condition(o, "Ready").startswith("False"),
        what="waiting for include",
    )
    assert (
        f"GitRepository {namespace}/shared, included by {namespace}/app, does not exist"
        in condition(waiting, "Ready")
    )
    assert any(c["type"] == "IncludeUnavailable" for c in waiting["status"]["conditions"])

    shared_repository = _git_repository(
        namespace, shared.git_url, interval="1s", ref={"branch": "main"}
    )
    shared_repository["metadata"]["name"] = "shared"
    await kube.apply(shared_repository)
    ready = await eventually(
        lambda: kube.get(ref),
        lambda o: condition(o, "Ready").startswith("True"),
        what="Ready with include",
    )
    files = artifact_files(ready["status"]["artifact"]["url"])
    assert files["vendor/base/deployment.yaml"] == b"kind: Deployment\n"
    assert not any(
        name.startswith("vendor/base/docs") or name.startswith("docs/") for name in files
    )
    assert len(ready["status"]["includedArtifacts"]) == 1

    shared_work.write("base/deployment.yaml", "kind: StatefulSet\n")
    shared_work.commit("change base")
    shared_work.push()
    followed = await eventually(
        lambda: kube.get(ref),
        lambda o: (
            artifact_files(o["status"]["artifact"]["url"]).get("vendor/base/deployment.yaml")
            == b"kind: StatefulSet\n"
        ),
        within=30,
        what="the including artifact rebuilt after the included one changed",
    )
    assert followed["status"]["artifact"]["revision"] == ready["status"]["artifact"]["revision"]


async def test_semver_ref_picks_the_highest_matching_tag(
    engine: Engine, kube: KubeClient, namespace: str, git_repo: ServedRepo, tmp_path: Path
) -> None:
    work, _ = _seed(git_repo, tmp_path)
    for version in ("v1.2.0", "v1.2.5", "v1.3.0", "v2.0.0"):
        work.write("version.txt", version)
        work.commit(version)
        work.tag(version, message=f"release {version}")
    work.push()
    await kube.apply(
        _git_repository(namespace, git_repo.http_url, ref={"semver": ">=1.2.0 <2.0.0"})
    )
    ref = ObjectRef("source.toolkit.fluxcd.io/v1", "GitRepository", "app", namespace)
    ready = await eventually(
        lambda: kube.get(ref), lambda o: condition(o, "Ready").startswith("True"), what="Ready"
    )
    assert ready["status"]["artifact"]["revision"].startswith("v1.3.0@sha1:")
    assert artifact_files(ready["status"]["artifact"]["url"])["version.txt"] == b"v1.3.0"


async def test_missing_secret_is_retried_until_it_exists(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    git_server: GitServer,
    private_git_repo: ServedRepo,
    tmp_path: Path,
) -> None:
    _seed(private_git_repo, tmp_path)
    await kube.apply(
        _git_repository(
            namespace,
            private_git_repo.http_url,
            secretRef={"name": "later"},
            ref={"branch": "main"},
        )
    )
    ref = ObjectRef("source.toolkit.fluxcd.io/v1", "GitRepository", "app", namespace)
    failed = await eventually(
        lambda: kube.get(ref),
        lambda o: condition(o, "Ready").startswith("False"),
        what="Ready=False",
    )
    assert f"Secret {namespace}/later named in spec.secretRef" in condition(failed, "Ready")
    assert not any(c["type"] == "Stalled" for c in failed["status"]["conditions"])

    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "later", "namespace": namespace},
            "stringData": {
                "username": git_server.credentials.username,
                "password": git_server.credentials.password,
            },
        }
    )
    await eventually(
        lambda: kube.get(ref),
        lambda o: condition(o, "Ready").startswith("True"),
        within=30,
        what="Ready once the Secret exists",
    )


async def test_malformed_semver_range_stalls_with_a_clear_message(
    engine: Engine, kube: KubeClient, namespace: str, git_repo: ServedRepo, tmp_path: Path
) -> None:
    _seed(git_repo, tmp_path)
    await kube.apply(_git_repository(namespace, git_repo.git_url, ref={"semver": "one point two"}))
    ref = ObjectRef("source.toolkit.fluxcd.io/v1", "GitRepository", "app", namespace)
    stalled = await eventually(
        lambda: kube.get(ref), lambda o: condition(o, "Stalled").startswith("True"), what="Stalled"
    )
    assert "one point two" in condition(stalled, "Ready")
    assert "spec.ref" in condition(stalled, "Ready")
