"""Commit and push with `update_and_push`, against bare repositories on disk (file:// URLs).

A working copy made with the git CLI builds the history; the update functions here
rewrite ``app.yaml`` of the tree they are given, and some of them push to the bare
repository while they run, which is how a race with another writer looks.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pysequoia
import pytest

from ground.gpg import stop_agent
from lockstep.dev.gitserver import WorkingCopy, run_git
from lockstep.sources.errors import InvalidSecret, SourceError
from lockstep.sources.git_push import (
    Author,
    CommitSigner,
    PushOptions,
    update_and_push,
)
from lockstep.sources.refs import GitRef
from lockstep.sources.verify import TrustedKeys, verify_commit

BOT = Author("bot@lockstep.invalid", "Image Bot")


class Remote:
    """A bare repository with a working copy that pushes to it."""

    def __init__(self, root: Path) -> None:
        self.bare = root / "remote.git"
        run_git(["init", "--quiet", "--bare", "--initial-branch=main", str(self.bare)], root)
        self.url = self.bare.as_uri()
        self.work = WorkingCopy.create(root / "work", origin=self.bare)

    def commit(self, files: dict[str, str], message: str = "change") -> str:
        for path, content in files.items():
            self.work.write(path, content)
        commit = self.work.commit(message)
        self.work.push()
        return commit

    def tip(self, branch: str = "main") -> str:
        return run_git(["rev-parse", f"refs/heads/{branch}"], self.bare).strip()

    def show(self, spec: str) -> str:
        return run_git(["show", spec], self.bare)

    def log(self, branch: str = "main") -> list[str]:
        return run_git(["log", "--format=%s", branch], self.bare).splitlines()


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    remote = Remote(tmp_path)
    remote.commit({"app.yaml": "image: nginx:1.0\n", "README": "hello\n"}, "initial")
    return remote


def set_image(tag: str, message: str = "update") -> Callable[[Path], str | None]:
    """An update that sets the image tag, and says whether it changed anything."""

    def update(tree: Path) -> str | None:
        path = tree / "app.yaml"
        new = f"image: nginx:{tag}\n"
        if path.read_text() == new:
            return None
        path.write_text(new)
        return message

    return update


def options(branch: str = "main") -> PushOptions:
    return PushOptions(checkout=GitRef(branch="main"), branch=branch, author=BOT)


def test_the_update_is_committed_by_the_author_and_pushed(remote: Remote, tmp_path: Path) -> None:
    before = remote.tip()

    result = update_and_push(
        remote.url, options(), tmp_path / "run", set_image("1.1", "Bump nginx to 1.1")
    )

    assert result.pushed is not None
    assert result.pushed.commit == remote.tip()
    assert result.pushed.revision == f"main@sha1:{remote.tip()}"
    assert result.source.revision == f"main@sha1:{before}"
    assert (result.attempts, result.switched_branch) == (1, False)
    assert remote.show("main:app.yaml") == "image: nginx:1.1\n"
    assert remote.show("main:README") == "hello\n"
    people = run_git(["log", "-1", "--format=%an <%ae>|%cn <%ce>|%B", "main"], remote.bare)
    assert people.strip() == (
        "Image Bot <bot@lockstep.invalid>|Image Bot <bot@lockstep.invalid>|Bump nginx to 1.1"
    )
    assert run_git(["rev-parse", "main~1"], remote.bare).strip() == before


def test_an_update_that_changes_nothing_makes_no_commit(remote: Remote, tmp_path: Path) -> None:
    before = remote.tip()

    unchanged = update_and_push(remote.url, options(), tmp_path / "a", set_image("1.0"))
    same_bytes = update_and_push(remote.url, options(), tmp_path / "b", lambda tree: "rewritten")

    assert unchanged.pushed is None
    assert same_bytes.pushed is None, "a message alone, with the same files, is no commit"
    assert remote.tip() == before
    assert unchanged.source.revision == f"main@sha1:{before}"


def test_a_missing_push_branch_is_created_from_the_checkout_branch(
    remote: Remote, tmp_path: Path
) -> None:
    main = remote.tip()

    result = update_and_push(remote.url, options("auto"), tmp_path / "run", set_image("1.1"))

    assert result.pushed is not None
    assert result.switched_branch
    assert remote.tip("auto") == result.pushed.commit
    assert run_git(["rev-parse", "auto~1"], remote.bare).strip() == main
    assert remote.tip("main") == main, "the checkout branch is left alone"
    assert result.source.revision == f"main@sha1:{main}"


def test_an_existing_push_branch_is_built_upon(remote: Remote, tmp_path: Path) -> None:
    update_and_push(remote.url, options("auto"), tmp_path / "a", set_image("1.1", "first"))
    remote.commit({"README": "hello again\n"}, "on main")

    again = update_and_push(remote.url, options("auto"), tmp_path / "b", set_image("1.1"))
    second = update_and_push(
        remote.url, options("auto"), tmp_path / "c", set_image("1.2", "second")
    )

    assert again.pushed is None, "the push branch already has the update"
    assert second.pushed is not None
    assert remote.log("auto")[:2] == ["second", "first"]
    assert remote.show("auto:README") == "hello\n", "the push branch is not rebased onto main"


def test_a_push_that_loses_a_race_is_reapplied_to_the_new_tip(
    remote: Remote, tmp_path: Path
) -> None:
    calls: list[str] = []

    def racing(tree: Path) -> str | None:
        if not calls:
            remote.commit({"other.txt": "someone else\n"}, "concurrent")
        calls.append((tree / "app.yaml").read_text())
        return set_image("1.1", "Bump nginx")(tree)

    result = update_and_push(remote.url, options(), tmp_path / "run", racing)

    assert result.attempts == 2
    assert result.pushed is not None
    assert result.pushed.commit == remote.tip()
    assert remote.log()[:2] == ["Bump nginx", "concurrent"]
    assert remote.show("main:other.txt") == "someone else\n"
    assert calls == ["image: nginx:1.0\n", "image: nginx:1.0\n"], "each attempt starts clean"


def test_a_race_that_already_made_the_change_ends_without_a_commit(
    remote: Remote, tmp_path: Path
) -> None:
    def racing(tree: Path) -> str | None:
        if remote.show("main:app.yaml") == "image: nginx:1.0\n":
            remote.commit({"app.yaml": "image: nginx:1.1\n"}, "by hand")
        return set_image("1.1")(tree)

    result = update_and_push(remote.url, options(), tmp_path / "run", racing)

    assert (result.pushed, result.attempts) == (None, 2)
    assert remote.log()[0] == "by hand"


def test_a_branch_that_keeps_moving_is_given_up_on(remote: Remote, tmp_path: Path) -> None:
    moves = iter(range(10))

    def always_racing(tree: Path) -> str | None:
        remote.commit({"other.txt": f"move {next(moves)}\n"}, "concurrent")
        return set_image("1.1")(tree)

    with pytest.raises(SourceError) as raised:
        update_and_push(remote.url, replace(options(), attempts=2), tmp_path / "run", always_racing)

    assert str(raised.value) == (
        f"branch main of {remote.url} moved while each of 2 commits was pushed; "
        "the update will be tried again"
    )
    assert remote.show("main:app.yaml") == "image: nginx:1.0\n"


def test_the_refspec_is_pushed_after_the_branch(remote: Remote, tmp_path: Path) -> None:
    result = update_and_push(
        remote.url,
        replace(options("auto"), refspec="refs/heads/auto:refs/heads/release"),
        tmp_path / "run",
        set_image("1.1"),
    )

    assert result.pushed is not None
    assert result.pushed.refspec == "refs/heads/auto:refs/heads/release"
    assert remote.tip("release") == remote.tip("auto") == result.pushed.commit


def test_a_head_refspec_pushes_the_new_commit(remote: Remote, tmp_path: Path) -> None:
    result = update_and_push(
        remote.url,
        replace(options(), refspec="HEAD:refs/heads/mirror"),
        tmp_path / "run",
        set_image("1.1"),
    )

    assert result.pushed is not None
    assert remote.tip("mirror") == remote.tip("main") == result.pushed.commit


def test_a_tag_checkout_pushes_to_the_push_branch(remote: Remote, tmp_path: Path) -> None:
    remote.work.tag("v1.0.0", "release")
    remote.work.push()
    tagged = remote.tip()
    remote.commit({"README": "later\n"}, "after the tag")

    result = update_and_push(
        remote.url,
        PushOptions(checkout=GitRef(tag="v1.0.0"), branch="hotfix", author=BOT),
        tmp_path / "run",
        set_image("1.0.1"),
    )

    assert result.source.revision == f"v1.0.0@sha1:{tagged}"
    assert result.switched_branch
    assert run_git(["rev-parse", "hotfix~1"], remote.bare).strip() == tagged


def test_a_commit_checkout_fetches_every_branch_to_find_it(remote: Remote, tmp_path: Path) -> None:
    pinned = remote.tip()
    remote.commit({"README": "later\n"}, "after the pin")
    checkout = GitRef(commit=pinned)

    for run in ("a", "b"):
        result = update_and_push(
            remote.url,
            PushOptions(checkout=checkout, branch=f"pin-{run}", author=BOT),
            tmp_path / run,
            set_image("1.0.1"),
        )
        assert result.source.revision == f"sha1:{pinned}"
        assert run_git(["rev-parse", f"pin-{run}~1"], remote.bare).strip() == pinned


def test_push_options_a_server_does_not_accept_are_named(remote: Remote, tmp_path: Path) -> None:
    with pytest.raises(SourceError) as raised:
        update_and_push(
            remote.url,
            replace(options(), push_options={"ci.skip": ""}),
            tmp_path / "run",
            set_image("1.1"),
        )

    assert str(raised.value) == (
        f"{remote.url} does not accept push options; remove spec.git.push.options "
        "or let the server accept them (receive.advertisePushOptions)"
    )


def test_a_missing_remote_fails_with_its_url(tmp_path: Path) -> None:
    url = (tmp_path / "nowhere.git").as_uri()

    with pytest.raises(SourceError, match=r"nowhere\.git"):
        update_and_push(url, options(), tmp_path / "run", set_image("1.1"))


# --- signing ----------------------------------------------------------------------------


def test_a_signed_commit_verifies_with_the_public_key(remote: Remote, tmp_path: Path) -> None:
    key = pysequoia.Tsk.generate("Image Bot <bot@lockstep.invalid>")
    signer = CommitSigner.from_secret({"git.asc": str(key).encode()}, "flux-system/signing")

    result = update_and_push(
        remote.url, replace(options(), signer=signer), tmp_path / "run", set_image("1.1")
    )

    assert result.pushed is not None
    raw = subprocess.run(
        ["git", "cat-file", "commit", result.pushed.commit],
        cwd=remote.bare,
        capture_output=True,
        check=True,
    ).stdout
    public = {"bot.asc": str(key.extract_certificate()).encode()}
    verified = verify_commit(result.pushed.commit, raw, TrustedKeys.from_secret(public), remote.url)
    assert verified.fingerprint == key.extract_certificate().fingerprint.upper()
    run_git(["fsck", "--strict"], remote.bare)


def test_a_signing_secret_without_a_key_is_refused() -> None:
    with pytest.raises(InvalidSecret) as raised:
        CommitSigner.from_secret({"passphrase": b"x"}, "apps/signing")

    assert str(raised.value) == (
        "signing Secret apps/signing has no 'git.asc' key; "
        "store the armored secret key (gpg --export-secret-keys --armor) under it"
    )


def test_a_public_key_cannot_sign() -> None:
    public = str(pysequoia.Tsk.generate("Bot <bot@x.invalid>").extract_certificate()).encode()

    with pytest.raises(InvalidSecret, match=r"^the key in signing Secret apps/signing cannot sign"):
        CommitSigner.from_secret({"git.asc": public}, "apps/signing")


@pytest.fixture(scope="module")
def encrypted_key(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A secret key protected by the passphrase ``s3cret``, as gpg exports it."""
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    gpg = ["gpg", "--batch", "--homedir", str(home), "--pinentry-mode", "loopback"]
    secret = ["--passphrase", "s3cret"]
    try:
        subprocess.run(
            [*gpg, *secret, "--quick-gen-key", "Bot <bot@x.invalid>", "ed25519", "sign", "never"],
            check=True,
            capture_output=True,
        )
        exported = [*gpg, *secret, "--export-secret-keys", "--armor"]
        return subprocess.run(exported, check=True, capture_output=True).stdout
    finally:
        stop_agent(home)


def test_an_encrypted_key_needs_its_passphrase(encrypted_key: bytes) -> None:
    CommitSigner.from_secret({"git.asc": encrypted_key, "passphrase": b"s3cret"}, "apps/s")

    with pytest.raises(InvalidSecret, match=r"cannot sign \(.*encrypted\); add its 'passphrase'"):
        CommitSigner.from_secret({"git.asc": encrypted_key}, "apps/s")
    with pytest.raises(InvalidSecret) as raised:
        CommitSigner.from_secret({"git.asc": encrypted_key, "passphrase": b"wrong"}, "apps/s")
    assert str(raised.value).startswith("the 'passphrase' of signing Secret apps/s does not unlock")
    assert "\n" not in str(raised.value)
