"""GitRepository through the engine: OpenPGP ``spec.verify`` and SSH ``secretRef``."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from ground.artifacts import condition
from ground.engine import Engine
from ground.gpg import GnuPG, commit_signed
from ground.wait import eventually
from lockstep.dev.gitserver import ServedRepo
from lockstep.dev.sshserver import SshGitServer, generate_key_pair
from lockstep.kube import KubeClient, ObjectRef

pytestmark = pytest.mark.integration


def _secret(namespace: str, name: str, data: dict[str, bytes]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {key: base64.b64encode(value).decode() for key, value in data.items()},
    }


def _git_repository(namespace: str, url: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "app", "namespace": namespace},
        "spec": {"url": url, "interval": "1s", "ref": {"branch": "main"}, **spec},
    }


def _ref(namespace: str) -> ObjectRef:
    return ObjectRef("source.toolkit.fluxcd.io/v1", "GitRepository", "app", namespace)


async def test_signed_commits_are_verified_and_unsigned_ones_refused(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    signing: GnuPG,
    git_repo: ServedRepo,
    tmp_path: Path,
) -> None:
    work = git_repo.working_copy(tmp_path / "work")
    work.write("app.yaml", "replicas: 1\n")
    signed = commit_signed(work, "signed by alice", signing.alice)
    work.push()
    await kube.apply(_secret(namespace, "pgp", {"alice.asc": signing.alice.public_key}))
    await kube.apply(
        _git_repository(
            namespace, git_repo.git_url, verify={"mode": "HEAD", "secretRef": {"name": "pgp"}}
        )
    )

    ready = await eventually(
        lambda: kube.get(_ref(namespace)),
        lambda o: condition(o, "Ready").startswith("True"),
        what="Ready",
    )
    assert ready["status"]["artifact"]["revision"] == f"main@sha1:{signed}"
    assert condition(ready, "SourceVerified").startswith(
        f"True: verified commit {signed} signed by Alice"
    )
    assert ready["status"]["sourceVerificationMode"] == "HEAD"

    work.write("app.yaml", "replicas: 2\n")
    unsigned = commit_signed(work, "not signed", None)
    work.push()
    refused = await eventually(
        lambda: kube.get(_ref(namespace)),
        lambda o: condition(o, "SourceVerified").startswith("False"),
        what="SourceVerified=False",
    )
    assert f"commit {unsigned}" in condition(refused, "SourceVerified")
    assert "not signed" in condition(refused, "SourceVerified")
    assert refused["status"]["artifact"]["revision"] == f"main@sha1:{signed}", (
        "the last verified artifact stays"
    )
    assert (
        condition(refused, "ArtifactOutdated")
        == f"True: new upstream revision 'main@sha1:{unsigned}'"
    )


async def test_commit_signed_by_an_untrusted_key_is_refused(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    signing: GnuPG,
    git_repo: ServedRepo,
    tmp_path: Path,
) -> None:
    work = git_repo.working_copy(tmp_path / "work")
    work.write("app.yaml", "replicas: 1\n")
    commit_signed(work, "signed by mallory", signing.mallory)
    work.push()
    await kube.apply(_secret(namespace, "pgp", {"alice.asc": signing.alice.public_key}))
    await kube.apply(
        _git_repository(
            namespace, git_repo.git_url, verify={"mode": "HEAD", "secretRef": {"name": "pgp"}}
        )
    )
    refused = await eventually(
        lambda: kube.get(_ref(namespace)),
        lambda o: condition(o, "Ready").startswith("False"),
        what="Ready=False",
    )
    assert signing.mallory.signing_key in condition(
        refused, "SourceVerified"
    ) or signing.mallory.fingerprint in condition(refused, "SourceVerified")
    assert "artifact" not in refused["status"]


async def test_ssh_identity_from_the_secret(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    ssh_git_server: SshGitServer,
    git_repo: ServedRepo,
    tmp_path: Path,
) -> None:
    work = git_repo.working_copy(tmp_path / "work")
    work.write("app.yaml", "replicas: 1\n")
    commit = work.commit("first")
    work.push()
    await kube.apply(
        _secret(
            namespace,
            "ssh",
            {
                "identity": ssh_git_server.client_key.private_key.encode(),
                "known_hosts": ssh_git_server.known_hosts.encode(),
            },
        )
    )
    await kube.apply(
        _git_repository(namespace, ssh_git_server.ssh_url(git_repo.name), secretRef={"name": "ssh"})
    )
    ready = await eventually(
        lambda: kube.get(_ref(namespace)),
        lambda o: condition(o, "Ready").startswith("True"),
        what="Ready",
    )
    assert ready["status"]["artifact"]["revision"] == f"main@sha1:{commit}"


async def test_ssh_host_key_not_in_known_hosts_is_refused(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    ssh_git_server: SshGitServer,
    git_repo: ServedRepo,
    tmp_path: Path,
) -> None:
    work = git_repo.working_copy(tmp_path / "work")
    work.write("app.yaml", "replicas: 1\n")
    work.commit("first")
    work.push()
    impostor = generate_key_pair(tmp_path / "impostor", "impostor")
    known_hosts = f"[127.0.0.1]:{ssh_git_server.port} {impostor.key_type_and_blob}\n"
    identity = ssh_git_server.client_key.private_key.encode()
    await kube.apply(
        _secret(namespace, "ssh", {"identity": identity, "known_hosts": known_hosts.encode()})
    )
    url = ssh_git_server.ssh_url(git_repo.name)
    await kube.apply(_git_repository(namespace, url, secretRef={"name": "ssh"}))
    refused = await eventually(
        lambda: kube.get(_ref(namespace)),
        lambda o: condition(o, "Ready").startswith("False"),
        what="Ready=False",
    )
    assert "is not in known_hosts of spec.secretRef" in condition(refused, "Ready")
    assert identity.decode().splitlines()[1] not in str(refused)
