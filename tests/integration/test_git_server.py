"""The loopback Git server answers libgit2 (pygit2) the way a real Git host does.

Covers git:// and smart HTTP clones and shallow fetches, new commits seen by a later
fetch, tags in the advertised refs, the ``private/`` area (basic auth over HTTP,
refused over git://), pushes over HTTP, and that stopping frees the ports.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pygit2
import pytest

from lockstep.dev.gitserver import GitServer, ServedRepo
from lockstep.dev.loopback import port_answers

pytestmark = pytest.mark.integration

PROTOCOLS = ["git", "http"]


def url_of(repo: ServedRepo, protocol: str) -> str:
    return repo.git_url if protocol == "git" else repo.http_url


def with_credentials(username: str, password: str) -> pygit2.RemoteCallbacks:
    return pygit2.RemoteCallbacks(credentials=pygit2.UserPass(username, password))


def push_history(repo: ServedRepo, directory: Path, commits: int) -> list[str]:
    """Push `commits` commits to `main`, each changing one file; return their ids in order."""
    working_copy = repo.working_copy(directory)
    ids = []
    for number in range(1, commits + 1):
        working_copy.write("deploy/app.yaml", f"replicas: {number}\n")
        ids.append(working_copy.commit(f"scale to {number}"))
    working_copy.push()
    return ids


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_clone_checks_out_the_pushed_main(
    git_repo: ServedRepo, tmp_path: Path, protocol: str
) -> None:
    [commit] = push_history(git_repo, tmp_path / "work", commits=1)

    clone = pygit2.clone_repository(url_of(git_repo, protocol), str(tmp_path / "clone"))

    assert str(clone.head.target) == commit
    assert clone.head.shorthand == "main"
    assert (tmp_path / "clone" / "deploy" / "app.yaml").read_text() == "replicas: 1\n"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_shallow_fetch_brings_only_the_tip(
    git_repo: ServedRepo, tmp_path: Path, protocol: str
) -> None:
    first, second = push_history(git_repo, tmp_path / "work", commits=2)
    local = pygit2.init_repository(str(tmp_path / "local"), bare=True)
    remote = local.remotes.create("origin", url_of(git_repo, protocol))

    remote.fetch(["+refs/heads/main:refs/remotes/origin/main"], depth=1)

    tip = local.revparse_single("refs/remotes/origin/main").peel(pygit2.Commit)
    assert str(tip.id) == second
    assert local.is_shallow
    assert tip.parent_ids == []  # libgit2 grafts the shallow boundary
    assert first not in local


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_fetch_sees_a_commit_pushed_after_the_clone(
    git_repo: ServedRepo, tmp_path: Path, protocol: str
) -> None:
    working_copy = git_repo.working_copy(tmp_path / "work")
    working_copy.write("kustomization.yaml", "resources: [old.yaml]\n")
    working_copy.write("old.yaml", "kind: ConfigMap\n")
    working_copy.commit("initial")
    working_copy.push()
    clone = pygit2.clone_repository(url_of(git_repo, protocol), str(tmp_path / "clone"))

    working_copy.remove("old.yaml")
    working_copy.write("kustomization.yaml", "resources: [app.yaml]\n")
    working_copy.write("app.yaml", "kind: Deployment\n")
    newer = working_copy.commit("replace old with app")
    working_copy.push()
    clone.remotes["origin"].fetch()

    fetched = clone.revparse_single("refs/remotes/origin/main").peel(pygit2.Commit)
    assert str(fetched.id) == newer
    assert sorted(str(entry.name) for entry in fetched.tree) == ["app.yaml", "kustomization.yaml"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_tags_and_branches_are_advertised(
    git_repo: ServedRepo, tmp_path: Path, protocol: str
) -> None:
    working_copy = git_repo.working_copy(tmp_path / "work")
    working_copy.write("chart/values.yaml", "image: app:1.0.0\n")
    release = working_copy.commit("release 1.0.0")
    working_copy.tag("v1.0.0", message="release 1.0.0")
    working_copy.tag("latest-green")
    working_copy.switch("staging", create=True)
    staging = working_copy.commit("staging only")
    working_copy.push()
    scratch = pygit2.init_repository(str(tmp_path / "scratch"), bare=True)

    heads = scratch.remotes.create_anonymous(url_of(git_repo, protocol)).list_heads()

    advertised = {head.name: str(head.oid) for head in heads}
    annotated = bare_ref_target(git_repo, "refs/tags/v1.0.0")
    assert advertised["refs/heads/main"] == release
    assert advertised["refs/heads/staging"] == staging
    assert advertised["refs/tags/latest-green"] == release
    assert advertised["refs/tags/v1.0.0"] == annotated
    assert annotated != release
    assert advertised["refs/tags/v1.0.0^{}"] == release


def bare_ref_target(repo: ServedRepo, ref: str) -> str:
    """The object id a ref points to in the bare repository on disk."""
    return str(pygit2.Repository(str(repo.path)).references[ref].target)


def test_private_repo_clones_over_http_with_the_credentials(
    git_server: GitServer, private_git_repo: ServedRepo, tmp_path: Path
) -> None:
    [commit] = push_history(private_git_repo, tmp_path / "work", commits=1)
    credentials = git_server.credentials

    clone = pygit2.clone_repository(
        private_git_repo.http_url,
        str(tmp_path / "clone"),
        callbacks=with_credentials(credentials.username, credentials.password),
    )

    assert private_git_repo.name.startswith("private/")
    assert str(clone.head.target) == commit


def test_private_repo_rejects_a_wrong_password(
    git_server: GitServer, private_git_repo: ServedRepo, tmp_path: Path
) -> None:
    push_history(private_git_repo, tmp_path / "work", commits=1)
    callbacks = with_credentials(git_server.credentials.username, "not-the-password")

    # libgit2 offers the same rejected credentials again until it gives up.
    with pytest.raises(pygit2.GitError, match="too many redirects or authentication replays"):
        pygit2.clone_repository(
            private_git_repo.http_url, str(tmp_path / "clone"), callbacks=callbacks
        )


def test_private_repo_requires_credentials(private_git_repo: ServedRepo, tmp_path: Path) -> None:
    push_history(private_git_repo, tmp_path / "work", commits=1)

    with pytest.raises(pygit2.AuthError, match="authentication required"):
        pygit2.clone_repository(private_git_repo.http_url, str(tmp_path / "clone"))


def test_private_repo_is_refused_over_git_protocol(
    private_git_repo: ServedRepo, tmp_path: Path
) -> None:
    push_history(private_git_repo, tmp_path / "work", commits=1)

    with pytest.raises(pygit2.GitError, match="served over authenticated HTTP only"):
        pygit2.clone_repository(private_git_repo.git_url, str(tmp_path / "clone"))


def test_authenticated_push_over_http_updates_the_private_repo(
    git_server: GitServer, private_git_repo: ServedRepo, tmp_path: Path
) -> None:
    [first] = push_history(private_git_repo, tmp_path / "work", commits=1)
    credentials = with_credentials(git_server.credentials.username, git_server.credentials.password)
    clone = pygit2.clone_repository(
        private_git_repo.http_url, str(tmp_path / "clone"), callbacks=credentials
    )
    (tmp_path / "clone" / "deploy" / "app.yaml").write_text("replicas: 5\n")
    clone.index.add("deploy/app.yaml")
    clone.index.write()
    author = pygit2.Signature("Image Automation", "bot@lockstep.invalid", 1_700_000_000, 0)
    pushed = clone.create_commit(
        "HEAD", author, author, "scale to 5", clone.index.write_tree(), [clone.head.target]
    )

    clone.remotes["origin"].push(["refs/heads/main:refs/heads/main"], callbacks=credentials)

    bare = pygit2.Repository(str(private_git_repo.path))
    assert bare.references["refs/heads/main"].target == pushed
    assert bare[pushed].peel(pygit2.Commit).parent_ids == [pygit2.Oid(hex=first)]


def test_push_over_git_protocol_is_accepted(git_repo: ServedRepo, tmp_path: Path) -> None:
    [commit] = push_history(git_repo, tmp_path / "work", commits=1)
    clone = pygit2.clone_repository(git_repo.git_url, str(tmp_path / "clone"))

    clone.remotes["origin"].push(["refs/heads/main:refs/heads/release"])

    bare = pygit2.Repository(str(git_repo.path))
    assert str(bare.references["refs/heads/release"].target) == commit


def test_anonymous_push_over_http_is_refused(git_repo: ServedRepo, tmp_path: Path) -> None:
    push_history(git_repo, tmp_path / "work", commits=1)
    clone = pygit2.clone_repository(git_repo.http_url, str(tmp_path / "clone"))

    with pytest.raises(pygit2.GitError, match="403"):
        clone.remotes["origin"].push(["refs/heads/main:refs/heads/other"])


def test_repo_names_cannot_leave_the_root(git_server: GitServer) -> None:
    with pytest.raises(ValueError, match="relative path without"):
        git_server.create_repo("../outside.git")


def test_stop_frees_both_ports(tmp_path: Path) -> None:
    with GitServer(tmp_path) as server:
        repo = server.create_repo("probe.git")
        ports = [urlsplit(url).port or 0 for url in (repo.git_url, repo.http_url)]
        assert all(port_answers(port) for port in ports)

    assert not any(port_answers(port) for port in ports)
