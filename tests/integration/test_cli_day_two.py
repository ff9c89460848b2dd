"""Day-2 commands against the real engine: ``create secret git`` makes a Secret a protected
repository accepts, ``stats`` counts what is running and failing, ``logs`` finds the lines
about one object in the engine's log, ``version`` names the
cluster's Kubernetes, and the generated per-kind verbs reach kinds written by hand before
(``suspend`` of a Kustomization through its generated command)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ground.engine import Engine, lockstep, succeeded
from ground.gitops import Scenario, config_map
from lockstep.dev.gitserver import GitServer, ServedRepo
from lockstep.kube import ObjectRef

pytestmark = pytest.mark.integration


async def test_create_secret_git_opens_a_protected_repository(
    engine: Engine,
    scenario: Scenario,
    git_server: GitServer,
    private_git_repo: ServedRepo,
    tmp_path: Path,
) -> None:
    ns, kubeconfig = scenario.namespace, scenario.kubeconfig
    work = private_git_repo.working_copy(tmp_path / "private")
    work.write("apps/a.yaml", config_map("a", colour="blue"))
    work.commit("a")
    work.push()
    credentials = git_server.credentials

    created = succeeded(
        await lockstep(
            kubeconfig,
            *("create", "secret", "git", "auth", "--url", private_git_repo.http_url),
            *("-u", credentials.username, "-p", credentials.password, "-n", ns),
        )
    )
    assert f"secret auth in namespace {ns} created" in created
    assert credentials.password not in created
    source = succeeded(
        await lockstep(
            kubeconfig,
            *("create", "source", "git", "private", "--url", private_git_repo.http_url),
            *("--branch", "main", "--secret-ref", "auth", "--interval", "1h", "-n", ns),
        )
    )
    assert f"fetched revision main@sha1:{work.head()}" in source

    again = succeeded(
        await lockstep(
            kubeconfig,
            *("create", "secret", "git", "auth", "--url", private_git_repo.http_url),
            *("--bearer-token", "t0ken", "-n", ns),
        )
    )
    assert f"secret auth in namespace {ns} updated" in again
    secret = await scenario.kube.get(ObjectRef("v1", "Secret", "auth", ns))
    assert set(secret["data"]) == {"bearerToken"}, "a new version replaces the old keys"


async def test_stats_logs_and_version(engine: Engine, scenario: Scenario) -> None:
    ns, kubeconfig = scenario.namespace, scenario.kubeconfig
    scenario.commit({"apps/a.yaml": config_map("a", colour="blue")})
    await scenario.source()
    await scenario.kustomization("apps", "./apps")
    await scenario.kustomization("broken", "./nope")
    await scenario.ready("apps")
    await scenario.failed("broken")
    succeeded(await lockstep(kubeconfig, "suspend", "ks", "apps", "-n", ns))

    rows = {
        line.split()[0]: line.split()[1:]
        for line in succeeded(await lockstep(kubeconfig, "stats", "-n", ns)).splitlines()[1:]
    }
    assert rows["Kustomization"] == ["1", "1", "1", "-"]
    running, failing, suspended, size, unit = rows["GitRepository"]
    assert (running, failing, suspended) == ("1", "0", "0")
    assert float(size) > 0
    assert unit in ("B", "KiB")

    about_broken = succeeded(
        await lockstep(
            kubeconfig,
            *("logs", "--file", str(engine.log), "--kind", "Kustomization", "--name", "broken"),
            *("-n", ns),
        )
    ).splitlines()
    assert about_broken, "the engine logged nothing about the failing Kustomization"
    assert all(line.endswith(f"[Kustomization/{ns}/broken]") for line in about_broken)
    assert any("./nope" in line for line in about_broken)
    errors_only = succeeded(
        await lockstep(kubeconfig, "logs", "--file", str(engine.log), "-n", ns, "--level", "error")
    )
    assert f"[Kustomization/{ns}/apps]" not in errors_only

    printed = succeeded(await lockstep(kubeconfig, "version"))
    server_version = await scenario.kube.server_version()
    assert f"kubernetes: {server_version}" in printed
    assert "engine: not installed in namespace flux-system" in printed
