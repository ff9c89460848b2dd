"""Fixtures for the real loopback servers (see :mod:`lockstep.dev.gitserver` and
:mod:`lockstep.dev.registry`), loaded as a pytest plugin by tests/conftest.py.

One Git server (git daemon + smart HTTP) and one OCI registry serve the whole test
session, each in its own temporary directory, and are stopped at its end. Each test
gets its own uniquely named repositories, so tests never see each other's history.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import pytest

from lockstep.dev.gitserver import GitServer, ServedRepo
from lockstep.dev.registry import OciRegistry
from lockstep.dev.sshserver import SshGitServer


@pytest.fixture(scope="session")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    with GitServer(tmp_path_factory.mktemp("git-server")) as server:
        yield server


@pytest.fixture(scope="session")
def oci_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OciRegistry]:
    with OciRegistry(tmp_path_factory.mktemp("oci-registry")) as registry:
        yield registry


@pytest.fixture
def git_repo(git_server: GitServer, request: pytest.FixtureRequest) -> ServedRepo:
    """An empty public bare repository, named after the test."""
    return git_server.create_repo(unique_name(request) + ".git")


@pytest.fixture
def private_git_repo(git_server: GitServer, request: pytest.FixtureRequest) -> ServedRepo:
    """An empty bare repository under ``private/``: HTTP with `git_server.credentials` only."""
    return git_server.create_repo(unique_name(request) + ".git", private=True)


@pytest.fixture
def oci_repository(oci_registry: OciRegistry, request: pytest.FixtureRequest) -> str:
    """``127.0.0.1:PORT/<name>``: a repository on the registry that no other test uses."""
    return f"{oci_registry.host}/{unique_name(request)}"


def unique_name(request: pytest.FixtureRequest) -> str:
    """The test's name in lower-case words joined by dashes, with a random suffix.

    The result is valid both as a Git repository path and as an OCI repository name.
    """
    words = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    return f"{words[:48].rstrip('-')}-{secrets.token_hex(3)}"


@pytest.fixture(scope="session")
def ssh_git_server(
    git_server: GitServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SshGitServer]:
    """sshd serving the repositories of `git_server` over ssh:// to its one client key."""
    with SshGitServer(tmp_path_factory.mktemp("ssh-server"), git_server.repos_dir) as server:
        yield server
