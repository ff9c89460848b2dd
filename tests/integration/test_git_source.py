"""Git sources against the loopback git daemon and smart HTTP server.

Every ref kind over git:// and HTTP, basic and bearer auth, the errors a user meets
(unknown ref, no semver match, no server, no repository), shallow fetches, sparse
checkouts, submodules, ignore rules, and that an unchanged commit packs to the same
digest. `resolve_ref` timings are printed (run with ``-s``), never asserted.
"""

from __future__ import annotations

import http.server
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from lockstep.dev.gitserver import GitServer, ServedRepo, WorkingCopy, run_git
from lockstep.dev.loopback import free_port
from lockstep.sources.credentials import BasicAuth, BearerToken
from lockstep.sources.errors import (
    AuthenticationFailed,
    NoSemverMatch,
    PathNotFound,
    RefNotFound,
    RepositoryNotFound,
    Unreachable,
)
from lockstep.sources.git import CheckedOut, checkout, resolve_ref
from lockstep.sources.ignore import IgnoreRules
from lockstep.sources.refs import GitRef, ResolvedRef
from lockstep.sources.store import ArtifactStore

pytestmark = pytest.mark.integration

PROTOCOLS = ["git", "http"]


def url_of(repo: ServedRepo, protocol: str) -> str:
    return repo.git_url if protocol == "git" else repo.http_url


def files_in(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): path.read_text()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def fetch(
    url: str,
    ref: GitRef,
    dest: Path,
    sparse_checkout: list[str] | None = None,
    recurse_submodules: bool = False,
) -> tuple[ResolvedRef, CheckedOut]:
    resolved = resolve_ref(url, ref)
    checked_out = checkout(
        url,
        resolved,
        dest,
        sparse_checkout=sparse_checkout or [],
        recurse_submodules=recurse_submodules,
    )
    return resolved, checked_out


class History:
    """A repository with two commits on main, one on dev, and three tags."""

    def __init__(self, repo: ServedRepo, work: Path) -> None:
        self.working_copy = repo.working_copy(work)
        copy = self.working_copy
        copy.write("deploy/app.yaml", "replicas: 1\n")
        self.first = copy.commit("first")
        copy.tag("v1.0.0", message="release 1.0.0")  # annotated
        copy.write("deploy/app.yaml", "replicas: 2\n")
        self.second = copy.commit("second")
        copy.tag("v1.1.0")  # lightweight
        copy.tag("experiment-7")
        copy.switch("dev", create=True)
        copy.write("deploy/app.yaml", "replicas: 3\n")
        self.dev = copy.commit("dev only")
        copy.switch("main")
        copy.push()


@pytest.fixture
def history(git_repo: ServedRepo, tmp_path: Path) -> History:
    return History(git_repo, tmp_path / "work")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_ref_kind_resolves_and_checks_out(
    git_repo: ServedRepo, history: History, tmp_path: Path, protocol: str
) -> None:
    url = url_of(git_repo, protocol)
    h = history
    cases = [
        (GitRef(branch="main"), f"main@sha1:{h.second}", "replicas: 2\n"),
        (GitRef(branch="dev"), f"dev@sha1:{h.dev}", "replicas: 3\n"),
        (GitRef(tag="v1.0.0"), f"v1.0.0@sha1:{h.first}", "replicas: 1\n"),
        (GitRef(tag="v1.1.0"), f"v1.1.0@sha1:{h.second}", "replicas: 2\n"),
        (GitRef(semver="~1.0"), f"v1.0.0@sha1:{h.first}", "replicas: 1\n"),
        (GitRef(semver=">=1.0.0, <2.0.0"), f"v1.1.0@sha1:{h.second}", "replicas: 2\n"),
        (GitRef(name="refs/heads/dev"), f"refs/heads/dev@sha1:{h.dev}", "replicas: 3\n"),
        (GitRef(name="refs/tags/v1.0.0"), f"refs/tags/v1.0.0@sha1:{h.first}", "replicas: 1\n"),
        (GitRef(commit=h.first), f"sha1:{h.first}", "replicas: 1\n"),
        (GitRef(commit=h.first, branch="main"), f"main@sha1:{h.first}", "replicas: 1\n"),
        (GitRef(commit=h.dev, branch="dev"), f"dev@sha1:{h.dev}", "replicas: 3\n"),
    ]
    for number, (ref, revision, content) in enumerate(cases):
        dest = tmp_path / f"checkout-{number}"

        resolved, checked_out = fetch(url, ref, dest)

        assert resolved.revision == revision, ref
        assert checked_out.commit == revision.rpartition(":")[2], ref
        assert files_in(dest) == {"deploy/app.yaml": content}, ref


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_branch_tip_is_fetched_one_commit_deep(
    git_repo: ServedRepo, history: History, tmp_path: Path, protocol: str
) -> None:
    url = url_of(git_repo, protocol)

    _, tip = fetch(url, GitRef(branch="main"), tmp_path / "tip")
    _, behind = fetch(url, GitRef(branch="main", commit=history.first), tmp_path / "behind")

    assert tip.shallow
    assert tip.fetched_objects == 4  # commit, root tree, deploy/ tree, one blob
    assert not behind.shallow  # a commit behind the tip needs the branch's history
    assert behind.fetched_objects > tip.fetched_objects


def test_file_urls_fetch_the_whole_history(
    git_repo: ServedRepo, history: History, tmp_path: Path
) -> None:
    _, checked_out = fetch(f"file://{git_repo.path}", GitRef(branch="main"), tmp_path / "dest")

    assert not checked_out.shallow
    assert checked_out.commit == history.second


def test_resolving_measures_one_round_trip(git_repo: ServedRepo, history: History) -> None:
    for protocol in PROTOCOLS:
        url = url_of(git_repo, protocol)
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            resolved = resolve_ref(url, GitRef(branch="main"))
            timings.append((time.perf_counter() - started) * 1000)
        assert resolved.revision == f"main@sha1:{history.second}"
        print(f"\nresolve_ref over {protocol}: " + ", ".join(f"{ms:.1f}" for ms in timings) + " ms")


def test_the_revision_changes_only_with_a_new_commit(
    git_repo: ServedRepo, history: History
) -> None:
    before = resolve_ref(git_repo.http_url, GitRef(branch="main"))
    unchanged = resolve_ref(git_repo.http_url, GitRef(branch="main"))
    history.working_copy.write("deploy/app.yaml", "replicas: 4\n")
    newer = history.working_copy.commit("scale to 4")
    history.working_copy.push()

    after = resolve_ref(git_repo.http_url, GitRef(branch="main"))

    assert unchanged.revision == before.revision
    assert after.revision == f"main@sha1:{newer}"


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        (GitRef(), "has no branch master (refs/heads/master)"),
        (GitRef(branch="release"), "has no branch release (refs/heads/release)"),
        (GitRef(tag="v9.9.9"), "has no tag v9.9.9 (refs/tags/v9.9.9)"),
        (GitRef(name="refs/pull/1/head"), "has no ref refs/pull/1/head (refs/pull/1/head)"),
    ],
)
def test_unknown_refs_are_named(
    git_repo: ServedRepo, history: History, ref: GitRef, message: str
) -> None:
    with pytest.raises(RefNotFound) as raised:
        resolve_ref(git_repo.git_url, ref)

    assert str(raised.value) == f"{git_repo.git_url} {message}; push it or correct spec.ref"


def test_an_unknown_commit_is_named_after_the_fetch(
    git_repo: ServedRepo, history: History, tmp_path: Path
) -> None:
    missing = "0123456789abcdef0123456789abcdef01234567"

    with pytest.raises(RefNotFound, match=f"has no commit {missing} in any branch or tag"):
        fetch(git_repo.http_url, GitRef(commit=missing), tmp_path / "dest")


def test_a_commit_off_the_branch_is_refused(
    git_repo: ServedRepo, history: History, tmp_path: Path
) -> None:
    with pytest.raises(
        RefNotFound, match=f"commit {history.dev} is not in the history of refs/heads/main"
    ):
        fetch(git_repo.git_url, GitRef(commit=history.dev, branch="main"), tmp_path / "dest")


def test_semver_without_a_matching_tag(git_repo: ServedRepo, history: History) -> None:
    with pytest.raises(NoSemverMatch, match=r"no tag of .* matches semver range '\^2.0.0'"):
        resolve_ref(git_repo.http_url, GitRef(semver="^2.0.0"))


@pytest.mark.parametrize("scheme", PROTOCOLS)
def test_a_closed_port_is_unreachable(scheme: str) -> None:
    url = f"{scheme}://127.0.0.1:{free_port()}/nothing.git"

    with pytest.raises(Unreachable, match=f"cannot reach {url} .*Connection refused"):
        resolve_ref(url, GitRef(branch="main"), timeout=5)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_missing_repository_is_named(git_server: GitServer, protocol: str) -> None:
    url = (
        git_server.git_url("absent.git") if protocol == "git" else git_server.http_url("absent.git")
    )

    with pytest.raises(RepositoryNotFound, match=f"{url} has no repository"):
        resolve_ref(url, GitRef(branch="main"))


@pytest.fixture
def private_commit(private_git_repo: ServedRepo, tmp_path: Path) -> str:
    copy = private_git_repo.working_copy(tmp_path / "private-work")
    copy.write("secret/app.yaml", "kind: Secret\n")
    commit = copy.commit("private")
    copy.push()
    return commit


def test_basic_auth_with_the_right_password(
    git_server: GitServer, private_git_repo: ServedRepo, private_commit: str, tmp_path: Path
) -> None:
    auth = BasicAuth(git_server.credentials.username, git_server.credentials.password)

    resolved = resolve_ref(private_git_repo.http_url, GitRef(branch="main"), auth)
    checkout(private_git_repo.http_url, resolved, tmp_path / "dest", auth)

    assert resolved.revision == f"main@sha1:{private_commit}"
    assert files_in(tmp_path / "dest") == {"secret/app.yaml": "kind: Secret\n"}


def test_basic_auth_with_a_wrong_password(
    git_server: GitServer, private_git_repo: ServedRepo, private_commit: str
) -> None:
    auth = BasicAuth(git_server.credentials.username, "not-the-password")

    with pytest.raises(
        AuthenticationFailed, match=r"rejected the credentials of spec\.secretRef"
    ) as raised:
        resolve_ref(private_git_repo.http_url, GitRef(branch="main"), auth)

    assert "not-the-password" not in str(raised.value)


def test_basic_auth_missing(private_git_repo: ServedRepo, private_commit: str) -> None:
    with pytest.raises(AuthenticationFailed, match=r"requires credentials; set spec\.secretRef"):
        resolve_ref(private_git_repo.http_url, GitRef(branch="main"))


class _HeaderRecorder(http.server.BaseHTTPRequestHandler):
    """Answers 404 to everything and keeps the Authorization header of each request."""

    seen: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        self.seen.append(self.headers.get("Authorization"))
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def header_recorder() -> Iterator[tuple[str, list[str | None]]]:
    _HeaderRecorder.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HeaderRecorder)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/repo.git", _HeaderRecorder.seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_bearer_token_is_sent_as_an_authorization_header(
    header_recorder: tuple[str, list[str | None]],
) -> None:
    url, seen = header_recorder

    with pytest.raises(RepositoryNotFound):
        resolve_ref(url, GitRef(branch="main"), BearerToken("t0ken"))

    assert seen == ["Bearer t0ken"]


def test_sparse_checkout_writes_only_the_asked_folders(
    git_repo: ServedRepo, tmp_path: Path
) -> None:
    copy = git_repo.working_copy(tmp_path / "work")
    for path in ("apps/web.yaml", "apps/db.yaml", "infra/ns.yaml", "README.md"):
        copy.write(path, f"{path}\n")
    copy.commit("layout")
    copy.push()

    fetch(git_repo.http_url, GitRef(branch="main"), tmp_path / "dest", sparse_checkout=["./apps/"])

    assert sorted(files_in(tmp_path / "dest")) == ["apps/db.yaml", "apps/web.yaml"]
    with pytest.raises(PathNotFound, match="sparse checkout path 'charts' is not in commit"):
        fetch(
            git_repo.http_url, GitRef(branch="main"), tmp_path / "other", sparse_checkout=["charts"]
        )


def test_submodules_are_checked_out_without_git_links(
    git_server: GitServer, git_repo: ServedRepo, tmp_path: Path
) -> None:
    library = git_server.create_repo(git_repo.name.removesuffix(".git") + "-lib.git")
    library_copy = library.working_copy(tmp_path / "lib-work")
    library_copy.write("base/ns.yaml", "kind: Namespace\n")
    library_copy.commit("base")
    library_copy.push()
    copy = git_repo.working_copy(tmp_path / "work")
    copy.write("app.yaml", "kind: Deployment\n")
    run_git(["submodule", "add", "--quiet", library.http_url, "vendor/lib"], copy.path)
    copy.commit("vendor the library")
    copy.push()

    fetch(git_repo.http_url, GitRef(branch="main"), tmp_path / "dest", recurse_submodules=True)

    dest = tmp_path / "dest"
    assert files_in(dest) == {
        ".gitmodules": f'[submodule "vendor/lib"]\n\tpath = vendor/lib\n\turl = {library.http_url}\n',
        "app.yaml": "kind: Deployment\n",
        "vendor/lib/base/ns.yaml": "kind: Namespace\n",
    }


def push_tree_with_ignore_files(copy: WorkingCopy) -> None:
    copy.write(".sourceignore", "*.md\n")
    copy.write("apps/.sourceignore", "/scratch/\n")
    copy.write("apps/web.yaml", "kind: Deployment\n")
    copy.write("apps/scratch/try.yaml", "kind: Pod\n")
    copy.write("apps/README.md", "notes\n")
    copy.write("docs/logo.png", "png\n")
    copy.write("tests/check.yaml", "kind: Job\n")
    copy.write(".github/workflows/ci.yaml", "on: push\n")
    copy.commit("tree with ignore files")
    copy.push()


def test_sourceignore_and_spec_ignore_shape_the_artifact(
    git_repo: ServedRepo, tmp_path: Path
) -> None:
    push_tree_with_ignore_files(git_repo.working_copy(tmp_path / "work"))
    resolved, _ = fetch(git_repo.git_url, GitRef(branch="main"), tmp_path / "dest")
    store = ArtifactStore(tmp_path / "store", "http://127.0.0.1:9/")
    rules = IgnoreRules.for_tree(tmp_path / "dest", "/tests/\n!docs/*.png\n")

    stored = store.store(
        "GitRepository", "default", "app", resolved.revision, tmp_path / "dest", rules
    )

    with tarfile.open(store.local_path(stored.artifact)) as tar:
        names = sorted(member.name for member in tar.getmembers() if member.isfile())
    assert names == [".sourceignore", "apps/.sourceignore", "apps/web.yaml", "docs/logo.png"]


def test_repacking_an_unchanged_commit_gives_the_same_digest(
    git_repo: ServedRepo, history: History, tmp_path: Path
) -> None:
    store = ArtifactStore(tmp_path / "store", "http://127.0.0.1:9/")
    stored = []
    for attempt, protocol in enumerate(PROTOCOLS):
        dest = tmp_path / f"dest-{attempt}"
        resolved, _ = fetch(url_of(git_repo, protocol), GitRef(branch="main"), dest)
        rules = IgnoreRules.for_tree(dest)
        stored.append(
            store.store("GitRepository", "default", "app", resolved.revision, dest, rules)
        )

    first, second = stored
    assert second.artifact.digest == first.artifact.digest
    assert second.reused
