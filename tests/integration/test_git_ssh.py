"""Git sources over ssh:// against a real OpenSSH server (see :mod:`lockstep.dev.sshserver`).

The credentials go the way a GitRepository's Secret gives them: ``identity`` and
``known_hosts`` read by :func:`lockstep.sources.credentials.auth_from_secret`. The right
key and host key fetch; another client key fails authentication and another host key
is refused before any credential is offered, each message naming the URL and no secret.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lockstep.dev.gitserver import ServedRepo
from lockstep.dev.sshserver import SshGitServer, SshKeyPair, generate_key_pair
from lockstep.sources.credentials import GitAuth, auth_from_secret
from lockstep.sources.errors import AuthenticationFailed, UnknownHostKey
from lockstep.sources.git import checkout, resolve_ref
from lockstep.sources.refs import GitRef

pytestmark = pytest.mark.integration


def ssh_auth(url: str, identity: SshKeyPair, known_hosts: str) -> GitAuth | None:
    secret = {
        "identity": identity.private_key.encode(),
        "known_hosts": known_hosts.encode(),
    }
    return auth_from_secret(secret, url)


@pytest.fixture
def pushed(git_repo: ServedRepo, tmp_path: Path) -> tuple[str, str]:
    """The repository with one commit on main and an annotated tag on it: (commit, tag)."""
    copy = git_repo.working_copy(tmp_path / "work")
    copy.write("deploy/app.yaml", "replicas: 1\n")
    commit = copy.commit("first")
    copy.tag("v1.0.0", message="release 1.0.0")
    copy.push()
    return commit, "v1.0.0"


@pytest.fixture
def other_key(tmp_path: Path) -> SshKeyPair:
    """A key pair of the server's type that the server has never seen."""
    return generate_key_pair(tmp_path / "keys" / "other", "not-authorised")


def test_the_right_identity_and_host_key_fetch(
    ssh_git_server: SshGitServer, git_repo: ServedRepo, pushed: tuple[str, str], tmp_path: Path
) -> None:
    commit, tag = pushed
    url = ssh_git_server.ssh_url(git_repo.name)
    auth = ssh_auth(url, ssh_git_server.client_key, ssh_git_server.known_hosts)

    resolved = resolve_ref(url, GitRef(semver="^1"), auth)
    checked_out = checkout(url, resolved, tmp_path / "dest", auth)

    assert resolved.revision == f"{tag}@sha1:{commit}"
    assert checked_out.commit == commit
    assert checked_out.shallow
    assert (tmp_path / "dest" / "deploy" / "app.yaml").read_text() == "replicas: 1\n"
    assert sorted(p.name for p in (tmp_path / "dest").iterdir()) == ["deploy"]


def test_ssh_and_git_protocol_serve_the_same_repository(
    ssh_git_server: SshGitServer, git_repo: ServedRepo, pushed: tuple[str, str]
) -> None:
    url = ssh_git_server.ssh_url(git_repo.name)
    auth = ssh_auth(url, ssh_git_server.client_key, ssh_git_server.known_hosts)

    over_ssh = resolve_ref(url, GitRef(branch="main"), auth)

    assert over_ssh == resolve_ref(git_repo.git_url, GitRef(branch="main"))


def test_an_identity_the_server_does_not_know_fails_authentication(
    ssh_git_server: SshGitServer,
    git_repo: ServedRepo,
    pushed: tuple[str, str],
    other_key: SshKeyPair,
) -> None:
    url = ssh_git_server.ssh_url(git_repo.name)
    auth = ssh_auth(url, other_key, ssh_git_server.known_hosts)

    with pytest.raises(AuthenticationFailed) as raised:
        resolve_ref(url, GitRef(branch="main"), auth)

    message = str(raised.value)
    assert message.startswith(url)
    assert "correct the Secret" in message
    assert other_key.private_key.splitlines()[1] not in message


def test_another_host_key_in_known_hosts_is_refused(
    ssh_git_server: SshGitServer,
    git_repo: ServedRepo,
    pushed: tuple[str, str],
    other_key: SshKeyPair,
) -> None:
    url = ssh_git_server.ssh_url(git_repo.name)
    impostor = f"[127.0.0.1]:{ssh_git_server.port} {other_key.key_type_and_blob}"
    auth = ssh_auth(url, ssh_git_server.client_key, impostor)

    with pytest.raises(UnknownHostKey) as raised:
        resolve_ref(url, GitRef(branch="main"), auth)

    message = str(raised.value)
    assert f"for {url} is not in known_hosts of spec.secretRef" in message
    assert ssh_git_server.client_key.private_key.splitlines()[1] not in message


def test_a_host_key_listed_for_another_port_is_refused(
    ssh_git_server: SshGitServer, git_repo: ServedRepo, pushed: tuple[str, str], tmp_path: Path
) -> None:
    url = ssh_git_server.ssh_url(git_repo.name)
    elsewhere = f"[127.0.0.1]:{ssh_git_server.port + 1} {ssh_git_server.host_key.key_type_and_blob}"
    auth = ssh_auth(url, ssh_git_server.client_key, elsewhere)

    with pytest.raises(UnknownHostKey, match="add the output of ssh-keyscan"):
        checkout(url, resolve_ref(git_repo.git_url, GitRef(branch="main")), tmp_path / "d", auth)


def test_a_url_without_a_user_logs_in_as_git(
    ssh_git_server: SshGitServer, git_repo: ServedRepo, pushed: tuple[str, str]
) -> None:
    url = ssh_git_server.ssh_url(git_repo.name).replace("root@", "")
    auth = ssh_auth(url, ssh_git_server.client_key, ssh_git_server.known_hosts)

    # The test server only lets root in, so the default user "git" is refused cleanly.
    with pytest.raises(AuthenticationFailed, match="rejected the credentials"):
        resolve_ref(url, GitRef(branch="main"), auth)
