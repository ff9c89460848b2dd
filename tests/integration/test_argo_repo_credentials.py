"""Argo CD Applications on private repositories, with the credentials of Argo CD's
repository Secrets, against the real local Git servers and a chart repository behind
basic auth: a ``repository`` Secret, a ``repo-creds`` template scoped to the project, an
SSH key with the host keys of ``argocd-ssh-known-hosts-cm``, a Helm repository; a wrong
password, a missing Secret and an SSH key that does not parse each give one condition
naming the repository and what to do, and a sibling Application syncs meanwhile; a
corrected password reaches the fetch. The credentials stay in Argo CD's namespace (the
Applications' own namespaces hold none), in a copy owned by the Argo CD Secret.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from ground.argo import (
    ARGOCD,
    AUTOMATED,
    application,
    engine_resyncing_every,
    get_app,
    project,
    until,
)
from ground.charts import Chart, ChartRepository
from ground.engine import Engine
from ground.gitops import Scenario, config_map
from ground.wait import eventually
from lockstep.dev.gitserver import GitServer, ServedRepo
from lockstep.dev.sshserver import SshGitServer
from lockstep.kube import KubeClient, KubeObject, NotFound, ObjectRef

pytestmark = pytest.mark.integration

SECRET_TYPE = "argocd.argoproj.io/secret-type"
SOURCE_API = "source.toolkit.fluxcd.io/v1"
SOURCE_KINDS = ("GitRepository", "HelmRepository", "HelmChart", "OCIRepository")
KNOWN_HOSTS = ObjectRef("v1", "ConfigMap", "argocd-ssh-known-hosts-cm", ARGOCD)


@pytest.fixture(scope="module")
def engine(crds_installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The engine, comparing Applications every 5 s."""
    yield from engine_resyncing_every(crds_installed, tmp_path_factory, "5s")


class ArgoSecrets:
    """The Argo CD repository Secrets a test writes to Argo CD's namespace, and the
    source objects fetched with them, deleted after the test."""

    def __init__(self, kube: KubeClient, prefix: str) -> None:
        self.kube = kube
        self.prefix = prefix
        self.names: list[str] = []
        self.urls: list[str] = []

    async def write(self, name: str, kind: str = "repository", **values: str) -> str:
        full = f"{self.prefix}-{name}"
        if full not in self.names:
            self.names.append(full)
        if "url" in values:
            self.urls.append(values["url"])
        await self.kube.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": full, "namespace": ARGOCD, "labels": {SECRET_TYPE: kind}},
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()},
            }
        )
        return full

    async def source_objects(self, url_part: str) -> list[KubeObject]:
        """The source objects in Argo CD's namespace whose URL contains ``url_part``."""
        found = []
        for kind in ("GitRepository", "HelmRepository"):
            for obj in await self.kube.list(SOURCE_API, kind, namespace=ARGOCD):
                if url_part in str((obj.get("spec") or {}).get("url")):
                    found.append(obj)
        return found

    async def remove(self) -> None:
        """Delete the Secrets, then every source object in Argo CD's namespace (only the
        tests of this module make some there), and wait until the engine has released
        them: a source object left with its finalizer would hold the deletion of its CRD
        by later tests."""
        for name in self.names:
            with contextlib.suppress(NotFound):
                await self.kube.delete(ObjectRef("v1", "Secret", name, ARGOCD))
        refs = [
            ObjectRef.of(obj)
            for kind in SOURCE_KINDS
            for obj in await self.kube.list(SOURCE_API, kind, namespace=ARGOCD)
        ]
        for ref in refs:
            with contextlib.suppress(NotFound):
                await self.kube.delete(ref)
        for ref in refs:
            await eventually(
                lambda ref=ref: self._exists(ref),
                lambda exists: not exists,
                within=60,
                what=f"{ref} released by the engine",
            )

    async def _exists(self, ref: ObjectRef) -> bool:
        try:
            await self.kube.get(ref)
        except NotFound:
            return False
        return True


@pytest.fixture
async def argo_secrets(kube: KubeClient, namespace: str) -> AsyncIterator[ArgoSecrets]:
    secrets = ArgoSecrets(kube, namespace)
    yield secrets
    await secrets.remove()


@pytest.fixture
def private_scenario(
    kube: KubeClient,
    namespace: str,
    private_git_repo: ServedRepo,
    tmp_path: Path,
    kubeconfig: Path,
) -> Scenario:
    """The test's namespace and a repository that needs HTTP basic auth."""
    work = private_git_repo.working_copy(tmp_path / "private")
    return Scenario(kube, namespace, private_git_repo, work, kubeconfig)


def private_app(scenario: Scenario, name: str, url: str) -> KubeObject:
    app = application(scenario, name, "deploy", **AUTOMATED)
    app["spec"]["source"]["repoURL"] = url
    return app


def messages(app: KubeObject) -> str:
    conditions = (app.get("status") or {}).get("conditions") or []
    return " | ".join(str(c.get("message")) for c in conditions)


async def condition_with(scenario: Scenario, name: str, text: str) -> str:
    app = await eventually(
        lambda: get_app(scenario, name),
        lambda o: text in messages(o),
        within=90,
        what=f"a condition on {name} saying {text!r}",
    )
    return messages(app)


async def no_credentials_in(kube: KubeClient, namespace: str, password: str) -> None:
    for secret in await kube.list("v1", "Secret", namespace=namespace):
        for value in (secret.get("data") or {}).values():
            assert password.encode() not in base64.b64decode(value)


async def test_a_repository_secret_lets_an_application_sync_a_private_repository(
    engine: Engine, private_scenario: Scenario, git_server: GitServer, argo_secrets: ArgoSecrets
) -> None:
    scenario = private_scenario
    await project(scenario.kube, scenario.namespace)
    scenario.commit({"deploy/settings.yaml": config_map("settings", colour="blue")})
    user, password = git_server.credentials.username, git_server.credentials.password
    url = scenario.repo.http_url
    secret = await argo_secrets.write(
        "repo", url=url.removesuffix(".git"), type="git", username=user, password=password
    )

    await scenario.kube.apply(private_app(scenario, "private", url))
    await until(scenario, "private", "Synced", "Healthy")

    settings = await scenario.kube.get(ObjectRef("v1", "ConfigMap", "settings", scenario.namespace))
    assert settings["data"] == {"colour": "blue"}
    [repository] = await argo_secrets.source_objects(url)
    derived = await scenario.kube.get(
        ObjectRef("v1", "Secret", repository["spec"]["secretRef"]["name"], ARGOCD)
    )
    argo_secret = await scenario.kube.get(ObjectRef("v1", "Secret", secret, ARGOCD))
    [owner] = derived["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"]) == ("Secret", argo_secret["metadata"]["uid"])
    assert base64.b64decode(derived["data"]["password"]).decode() == password
    assert repository["metadata"]["labels"]["lockstep.io/argo-credentials"]
    await no_credentials_in(scenario.kube, scenario.namespace, password)


async def test_a_template_scoped_to_the_project_serves_the_repositories_below_it(
    engine: Engine, private_scenario: Scenario, git_server: GitServer, argo_secrets: ArgoSecrets
) -> None:
    scenario = private_scenario
    await project(scenario.kube, scenario.namespace)
    scenario.commit({"deploy/settings.yaml": config_map("settings", colour="green")})
    prefix = scenario.repo.http_url.rpartition("/")[0]  # http://127.0.0.1:PORT/private
    await argo_secrets.write(
        "creds",
        "repo-creds",
        url=prefix,
        username=git_server.credentials.username,
        password=git_server.credentials.password,
        project=scenario.namespace,
    )

    await scenario.kube.apply(private_app(scenario, "templated", scenario.repo.http_url))

    await until(scenario, "templated", "Synced", "Healthy")
    settings = await scenario.kube.get(ObjectRef("v1", "ConfigMap", "settings", scenario.namespace))
    assert settings["data"] == {"colour": "green"}


async def test_a_wrong_password_is_told_and_a_corrected_one_syncs_while_a_sibling_syncs(
    engine: Engine,
    private_scenario: Scenario,
    git_server: GitServer,
    git_repo: ServedRepo,
    tmp_path: Path,
    argo_secrets: ArgoSecrets,
) -> None:
    scenario = private_scenario
    await project(scenario.kube, scenario.namespace)
    scenario.commit({"deploy/settings.yaml": config_map("settings", colour="red")})
    public = git_repo.working_copy(tmp_path / "public")
    public.write("deploy/sibling.yaml", config_map("sibling", colour="plain"))
    public.commit("sibling")
    public.push()
    url, user = scenario.repo.http_url, git_server.credentials.username
    secret = await argo_secrets.write("repo", url=url, username=user, password="Not-The-Password-7")

    await scenario.kube.apply(private_app(scenario, "private", url))
    await scenario.kube.apply(private_app(scenario, "sibling", git_repo.git_url))

    told = await condition_with(scenario, "private", "correct the credentials")
    assert f"source {url}" in told
    assert "rejected the credentials;" in told
    assert f"correct the credentials of Argo CD repository Secret {ARGOCD}/{secret}" in told
    assert "spec.secretRef" not in told
    assert "Not-The-Password-7" not in told
    await until(scenario, "sibling", "Synced", "Healthy")

    await argo_secrets.write(
        "repo", url=url, username=user, password=git_server.credentials.password
    )
    await until(scenario, "private", "Synced", "Healthy", within=60)
    [repository] = await argo_secrets.source_objects(url)
    derived = await scenario.kube.get(
        ObjectRef("v1", "Secret", repository["spec"]["secretRef"]["name"], ARGOCD)
    )
    assert base64.b64decode(derived["data"]["password"]).decode() == git_server.credentials.password


async def test_a_repository_without_a_secret_says_which_secret_to_add(
    engine: Engine, private_scenario: Scenario, argo_secrets: ArgoSecrets
) -> None:
    scenario = private_scenario
    await project(scenario.kube, scenario.namespace)
    scenario.commit({"deploy/settings.yaml": config_map("settings", colour="red")})
    url = scenario.repo.http_url
    argo_secrets.urls.append(url)

    await scenario.kube.apply(private_app(scenario, "private", url))

    told = await condition_with(scenario, "private", "add a Secret labelled")
    assert f"{SECRET_TYPE}: repository with url {url}" in told
    assert f"to namespace {ARGOCD}" in told


async def test_an_ssh_key_with_the_known_hosts_of_argo_cd_syncs(
    engine: Engine,
    scenario: Scenario,
    ssh_git_server: SshGitServer,
    argo_secrets: ArgoSecrets,
) -> None:
    await project(scenario.kube, scenario.namespace)
    scenario.commit({"deploy/settings.yaml": config_map("settings", colour="ssh")})
    url = ssh_git_server.ssh_url(scenario.repo.name)
    await argo_secrets.write("ssh", url=url, sshPrivateKey=ssh_git_server.client_key.private_key)
    await argo_secrets.write("broken", url=url + "-broken", sshPrivateKey="not a key")
    added = await _add_known_host(scenario.kube, ssh_git_server.known_hosts)
    try:
        await scenario.kube.apply(private_app(scenario, "over-ssh", url))
        await scenario.kube.apply(private_app(scenario, "broken-key", url + "-broken"))

        await until(scenario, "over-ssh", "Synced", "Healthy")
        told = await condition_with(scenario, "broken-key", "sshPrivateKey")
    finally:
        if added:
            await _remove_known_host(scenario.kube, ssh_git_server.known_hosts)

    settings = await scenario.kube.get(ObjectRef("v1", "ConfigMap", "settings", scenario.namespace))
    assert settings["data"] == {"colour": "ssh"}
    assert "does not parse as a private key" in told
    assert f"Argo CD repository Secret {ARGOCD}/{scenario.namespace}-broken" in told


async def test_a_chart_repository_behind_basic_auth_serves_with_a_helm_secret(
    engine: Engine,
    scenario: Scenario,
    private_chart_repository: ChartRepository,
    argo_secrets: ArgoSecrets,
) -> None:
    await project(scenario.kube, scenario.namespace)
    template = {"settings.yaml": CHART_TEMPLATE}
    private_chart_repository.add(Chart("guarded", "1.0.0", templates=template, values={}))
    assert private_chart_repository.credentials is not None
    user, password = private_chart_repository.credentials
    await argo_secrets.write(
        "charts", url=private_chart_repository.url, type="helm", username=user, password=password
    )
    charted = application(scenario, "charted", "", **AUTOMATED)
    charted["spec"]["source"] = {
        "repoURL": private_chart_repository.url,
        "chart": "guarded",
        "targetRevision": "1.*",
    }

    await scenario.kube.apply(charted)

    app = await until(scenario, "charted", "Synced", "Healthy")
    assert app["status"]["sync"]["revision"] == "1.0.0"
    await scenario.kube.get(ObjectRef("v1", "ConfigMap", "guarded", scenario.namespace))


CHART_TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: guarded
data:
  from: chart
"""


async def _add_known_host(kube: KubeClient, line: str) -> bool:
    """Add ``line`` to Argo CD's known hosts; whether it was not there yet."""
    try:
        current = await kube.get(KNOWN_HOSTS)
        text = str((current.get("data") or {}).get("ssh_known_hosts") or "")
    except NotFound:
        text = ""
    if line in text.splitlines():
        return False
    await _write_known_hosts(kube, f"{text.rstrip()}\n{line}\n".lstrip())
    return True


async def _remove_known_host(kube: KubeClient, line: str) -> None:
    current = await kube.get(KNOWN_HOSTS)
    text = str((current.get("data") or {}).get("ssh_known_hosts") or "")
    kept = [entry for entry in text.splitlines() if entry != line]
    await _write_known_hosts(kube, "".join(entry + "\n" for entry in kept))


async def _write_known_hosts(kube: KubeClient, text: str) -> None:
    manifest: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": KNOWN_HOSTS.name, "namespace": ARGOCD},
        "data": {"ssh_known_hosts": text},
    }
    await kube.apply(manifest)
