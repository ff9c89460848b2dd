"""Git remotes through libgit2 (pygit2): ask for refs, fetch one commit, check it out.

The GitRepository reconciler calls, from its thread pool:

1. `resolve_ref` — one round trip that reads only the refs the remote advertises
   (``git ls-remote``) and returns a `ResolvedRef`. If its revision equals the current
   artifact's, the reconciler stops here: polling an unchanged repository costs one
   request and no objects.
2. `checkout` — fetch the resolved commit into a temporary repository, one commit deep
   when the commit is the tip of its ref, and write its tree (optionally only some
   folders, optionally with submodules) into a folder without any ``.git`` entry, ready
   for :class:`lockstep.sources.store.ArtifactStore` to pack.

Errors are the hierarchy of :mod:`lockstep.sources.errors`; libgit2's messages carry
no error classes, so `_translate` sorts them by their text. :mod:`lockstep.sources.git_push`,
which clones and pushes for image automation, runs its network calls in a
`remote_session` too, so both share the settings below.

Three settings of libgit2 are process-wide, and are handled here:

- the socket timeouts: each operation sets them to its own limit, and also checks its
  deadline in the transfer callbacks, so a slow server cannot hold an operation long
  past its limit whatever another thread set;
- the home folder that libssh2 reads ``.ssh/known_hosts`` from: pygit2 1.21 gives the
  host-key callback no key, only libssh2's verdict, so SSH operations point the home
  folder at a temporary one holding the Secret's known_hosts, one operation at a time
  (`_SSH_HOME_LOCK`); SSH fetches are therefore serialised within a process;
- the shallow fetch: libgit2's local transport cannot fetch shallowly, so ``file://``
  URLs always fetch the whole history.
"""

from __future__ import annotations

import errno
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import TypeVar

import pygit2
from pygit2.enums import CheckoutStrategy, CredentialType
from pygit2.errors import Passthrough
from pygit2.remotes import TransferProgress

from lockstep.egress import OPEN, Egress, EgressRefused
from lockstep.sources.credentials import (
    SSH_SCHEME,
    BasicAuth,
    BearerToken,
    GitAuth,
    SshKey,
    redact_url,
    url_scheme,
)
from lockstep.sources.errors import (
    AddressRefused,
    AuthenticationFailed,
    FetchTimeout,
    PathNotFound,
    RefNotFound,
    RepositoryNotFound,
    SourceError,
    UnknownHostKey,
    Unreachable,
)
from lockstep.sources.refs import TAGS, GitRef, ResolvedRef, resolve_advertised, resolve_commit

DEFAULT_TIMEOUT_SECONDS = 60.0
"""Flux's default ``spec.timeout`` for Git operations."""

DEFAULT_SSH_USER = "git"
"""The SSH user when the URL names none, as every Git host expects."""

_FETCHED_REFS_ALL = ["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"]
_SSH_HOME_LOCK = threading.Lock()
_T = TypeVar("_T")


@dataclass(frozen=True)
class CheckedOut:
    """What `checkout` wrote, and how much of the repository it took to write it."""

    commit: str
    shallow: bool
    """Whether only part of the history was fetched."""

    fetched_objects: int
    """Git objects received by the fetch of the commit (submodules not counted)."""

    commit_object: bytes = field(repr=False)
    """The commit object as stored, signature header included, for :mod:`lockstep.sources.verify`."""

    tag_object: bytes | None = field(repr=False)
    """The annotated tag object the fetched tag ref names, as stored; None for other refs."""


def resolve_ref(
    url: str,
    ref: GitRef,
    auth: GitAuth | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    egress: Egress = OPEN,
) -> ResolvedRef:
    """The commit `ref` names on the remote at `url`, from its advertised refs only.

    A ref with only a commit resolves without contacting the remote. `egress` may
    refuse the remote's host (:class:`AddressRefused`).
    """
    url_scheme(url)
    check_address(egress, url)
    if ref.commit and not ref.branch:
        return resolve_commit(ref.commit)
    with (
        tempfile.TemporaryDirectory(prefix="lockstep-ls-remote-") as scratch,
        remote_session(url, auth, timeout, ref.describe()) as session,
    ):
        remote = pygit2.init_repository(scratch, bare=True).remotes.create_anonymous(url)
        heads = session.run(lambda callbacks: remote.list_heads(callbacks=callbacks))
    advertised = {head.name: str(head.oid) for head in heads if head.name}
    return resolve_advertised(ref, advertised, redact_url(url))


def checkout(
    url: str,
    resolved: ResolvedRef,
    dest: Path,
    auth: GitAuth | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    depth: int = 1,
    sparse_checkout: Sequence[str] = (),
    recurse_submodules: bool = False,
    egress: Egress = OPEN,
) -> CheckedOut:
    """Fetch `resolved.commit` from `url` and write its tree into `dest` (empty or missing).

    `depth` commits of history are fetched when the commit is the tip of its ref and the
    transport allows it; otherwise the whole history of the ref (or of every branch and
    tag, for a bare commit). `sparse_checkout` limits the tree to those folders or files.
    `dest` receives no ``.git`` entry, nor do its submodules. `timeout` limits the fetch
    and each submodule's clone separately. `egress` may refuse the host of the remote
    or of a submodule (:class:`AddressRefused`).
    """
    scheme = url_scheme(url)
    check_address(egress, url)
    fetch_depth = depth if resolved.at_tip and scheme != "file" else 0
    ref_label = resolved.revision
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise ValueError(f"checkout destination {dest} must be empty")
    with tempfile.TemporaryDirectory(prefix="lockstep-git-") as git_dir, ExitStack() as release:
        repo = pygit2.init_repository(git_dir, bare=False, workdir_path=str(dest))
        # The Repository outlives the checkout in a reference cycle until the garbage
        # collector runs, its fetched pack mapped: memory the size of the pack, and the
        # disk space of the deleted folder. Release them when the checkout ends.
        release.callback(repo.free)
        remote = repo.remotes.create("origin", url)
        refspecs = (
            [f"+{resolved.fetch_ref}:{resolved.fetch_ref}"]
            if resolved.fetch_ref
            else _FETCHED_REFS_ALL
        )
        with remote_session(url, auth, timeout, ref_label) as session:
            transfer = session.run(
                lambda callbacks: remote.fetch(refspecs, callbacks=callbacks, depth=fetch_depth)
            )
        commit = _fetched_commit(repo, resolved, redact_url(url))
        paths = _sparse_paths(commit, sparse_checkout, redact_url(url))
        _checkout_tree(repo, commit, paths)
        repo.set_head(commit.id)
        if recurse_submodules:
            _update_submodules(repo, url, auth, timeout, ref_label, egress)
        shallow = repo.is_shallow
        # Read now: the fetched repository is deleted with its temporary folder.
        commit_object = commit.read_raw()
        tag_object = _annotated_tag_object(repo, resolved)
    _remove_git_links(dest)
    return CheckedOut(
        str(commit.id),
        shallow,
        fetched_objects=transfer.received_objects,
        commit_object=commit_object,
        tag_object=tag_object,
    )


def _checkout_tree(repo: pygit2.Repository, commit: pygit2.Commit, paths: list[str]) -> None:
    """Write the tree of ``commit`` (only ``paths``, when given) into the work folder.

    libgit2 reports a full disk as a GitError; it is raised as the OSError (ENOSPC)
    every other writer raises, so that the caller can say which disk is full.
    """
    try:
        # pygit2 1.21 declares no types for checkout_tree.
        repo.checkout_tree(  # type: ignore[no-untyped-call]
            commit, strategy=CheckoutStrategy.FORCE, paths=paths or None
        )
    except pygit2.GitError as error:
        if os.strerror(errno.ENOSPC) in str(error):
            raise OSError(errno.ENOSPC, str(error)) from error
        raise


def _fetched_commit(repo: pygit2.Repository, resolved: ResolvedRef, url: str) -> pygit2.Commit:
    """The resolved commit in `repo`; with a branch, it must be in the branch's history."""
    target = repo.get(resolved.commit)
    if resolved.fetch_ref is None:
        if target is None:
            raise RefNotFound(
                f"{url} has no commit {resolved.commit} in any branch or tag; "
                "correct spec.ref.commit"
            )
        return target.peel(pygit2.Commit)
    tip = repo.references[resolved.fetch_ref].peel(pygit2.Commit)
    commit = target.peel(pygit2.Commit) if target is not None else None
    if commit is None or (commit.id != tip.id and not repo.descendant_of(tip.id, commit.id)):
        raise RefNotFound(
            f"commit {resolved.commit} is not in the history of {resolved.fetch_ref} of {url}; "
            "correct spec.ref.commit or spec.ref.branch"
        )
    return commit


def _annotated_tag_object(repo: pygit2.Repository, resolved: ResolvedRef) -> bytes | None:
    """The raw annotated tag that `resolved.fetch_ref` names, if it names one."""
    if resolved.fetch_ref is None or not resolved.fetch_ref.startswith(TAGS):
        return None
    target = repo.get(repo.references[resolved.fetch_ref].target)
    return target.read_raw() if isinstance(target, pygit2.Tag) else None


def _sparse_paths(commit: pygit2.Commit, requested: Sequence[str], url: str) -> list[str]:
    """The requested paths relative to the root, each checked to exist in the commit."""
    paths = []
    for entry in requested:
        path = PurePosixPath(entry.strip().lstrip("/")).as_posix()
        if path == ".":
            return []  # the root: the whole tree
        if path not in commit.tree:
            raise PathNotFound(
                f"sparse checkout path {entry!r} is not in commit {commit.id} of {url}; "
                "correct spec.sparseCheckout"
            )
        paths.append(path)
    return paths


def _update_submodules(
    repo: pygit2.Repository,
    url: str,
    auth: GitAuth | None,
    timeout: float,
    ref_label: str,
    egress: Egress,
) -> None:
    """Clone every checked-out submodule at its recorded commit, and theirs in turn."""
    workdir = Path(repo.workdir)
    for path in repo.listall_submodules():
        if not (workdir / path).is_dir():
            continue  # outside the sparse checkout
        submodule = repo.submodules[path]
        submodule_url = submodule.url or url
        label = f"submodule {path} of {ref_label}"
        check_address(egress, submodule_url)  # a relative URL has no host of its own
        with remote_session(submodule_url, auth, timeout, label) as session:
            session.run(partial(_clone_submodule, submodule))
        _update_submodules(submodule.open(), submodule_url, auth, timeout, ref_label, egress)


def _clone_submodule(submodule: pygit2.Submodule, callbacks: _Callbacks) -> None:
    # A submodule pins a commit that need not be a branch tip, so its whole history is fetched.
    submodule.update(init=True, callbacks=callbacks)


def _remove_git_links(dest: Path) -> None:
    """Delete the ``.git`` files that point a work tree and its submodules at their Git folder."""
    for link in dest.rglob(".git"):
        if link.is_file():
            link.unlink()


class _Callbacks(pygit2.RemoteCallbacks):
    """Credentials, bearer header, SSH host-key verdict, push verdicts and deadline of one
    network operation."""

    def __init__(self, auth: GitAuth | None, url: str, deadline: float, timeout: float) -> None:
        super().__init__()
        self._auth = auth
        self._url = url
        self._is_ssh = url_scheme(url) == SSH_SCHEME
        self._deadline = deadline
        self._timeout = timeout
        self._credentials_offered = False

    def credentials(
        self, url: str, username_from_url: str | None, allowed_types: CredentialType
    ) -> pygit2.UserPass | pygit2.KeypairFromMemory | pygit2.Username:
        shown = redact_url(self._url)
        if isinstance(self._auth, SshKey) and allowed_types & CredentialType.USERNAME:
            # An ssh:// URL without a user: libgit2 first asks who to log in as.
            return pygit2.Username(username_from_url or DEFAULT_SSH_USER)
        if self._auth is None:
            raise AuthenticationFailed(
                f"{shown} requires credentials; set spec.secretRef to a Secret that holds them"
            )
        if self._credentials_offered or isinstance(self._auth, BearerToken):
            raise AuthenticationFailed(
                f"{shown} rejected the credentials of spec.secretRef; correct the Secret"
            )
        self._credentials_offered = True
        if isinstance(self._auth, BasicAuth):
            return pygit2.UserPass(self._auth.username, self._auth.password)
        key: SshKey = self._auth
        return pygit2.KeypairFromMemory(
            username_from_url or DEFAULT_SSH_USER, key.public_key, key.identity, key.passphrase
        )

    def custom_headers(self) -> list[str] | None:
        if isinstance(self._auth, BearerToken):
            return [f"Authorization: Bearer {self._auth.token}"]
        return None

    def certificate_check(self, certificate: None, valid: bool, host: bytes) -> bool:
        if not self._is_ssh:
            raise Passthrough  # TLS: libgit2's own verification decides
        if not valid:
            raise UnknownHostKey(
                f"the SSH host key of {host.decode(errors='replace')} for {redact_url(self._url)} "
                "is not in known_hosts of spec.secretRef; add the output of ssh-keyscan"
            )
        return True

    def push_update_reference(self, refname: str, message: str | None) -> None:
        # libgit2 reports a ref the server refused here, and nowhere else.
        if message is not None:
            raise SourceError(f"{redact_url(self._url)} refused the push to {refname}: {message}")

    def transfer_progress(self, stats: TransferProgress) -> None:
        self._check_deadline()

    def sideband_progress(self, string: str) -> None:
        self._check_deadline()

    def _check_deadline(self) -> None:
        if time.monotonic() > self._deadline:
            raise FetchTimeout(
                f"fetching from {redact_url(self._url)} took longer than {self._timeout:g}s; "
                "raise spec.timeout or check the server"
            )


class Session:
    """Runs the libgit2 calls of one network operation, each with fresh callbacks.

    Fresh callbacks per call, so that credentials rejected once are not offered again
    within a call (libgit2 would replay them until it gives up) but a later call may.
    Failures come out as the hierarchy of :mod:`lockstep.sources.errors`.
    """

    def __init__(
        self, url: str, auth: GitAuth | None, timeout: float, deadline: float, ref_label: str
    ) -> None:
        self._url = url
        self._auth = auth
        self._timeout = timeout
        self._deadline = deadline
        self._ref_label = ref_label

    def run(self, operation: Callable[[_Callbacks], _T]) -> _T:
        callbacks = _Callbacks(self._auth, self._url, self._deadline, self._timeout)
        try:
            return operation(callbacks)
        except SourceError:
            raise
        except pygit2.GitError as error:
            raise _translate(error, self._url, self._ref_label, self._auth) from error


def check_address(egress: Egress, url: str) -> None:
    """Refuse `url` when its host is internal and `egress` refuses those."""
    try:
        egress.check_url(url, redact_url(url))
    except EgressRefused as error:
        raise AddressRefused(str(error)) from None


@contextmanager
def remote_session(
    url: str, auth: GitAuth | None, timeout: float, ref_label: str
) -> Iterator[Session]:
    """Set libgit2's socket timeouts and, for SSH, its known_hosts, for one operation."""
    deadline = time.monotonic() + timeout
    milliseconds = max(1, int(timeout * 1000))
    pygit2.settings.server_connect_timeout = milliseconds
    pygit2.settings.server_timeout = milliseconds
    with ExitStack() as stack:
        if isinstance(auth, SshKey):
            stack.enter_context(_known_hosts_home(auth, deadline, url))
        yield Session(url, auth, timeout, deadline, ref_label)


@contextmanager
def _known_hosts_home(key: SshKey, deadline: float, url: str) -> Iterator[None]:
    """Point libgit2's home folder at one holding only `key.known_hosts`, for this block."""
    if not _SSH_HOME_LOCK.acquire(timeout=max(0.0, deadline - time.monotonic())):
        raise FetchTimeout(
            f"waited for other SSH operations until the time limit for {redact_url(url)}; "
            "raise spec.timeout"
        )
    previous = pygit2.settings.homedir
    try:
        with tempfile.TemporaryDirectory(prefix="lockstep-ssh-home-") as home:
            ssh_dir = Path(home) / ".ssh"
            ssh_dir.mkdir(mode=0o700)
            lines = "".join(entry.line() + "\n" for entry in key.known_hosts)
            (ssh_dir / "known_hosts").write_text(lines, encoding="ascii")
            pygit2.settings.homedir = home
            yield
    finally:
        pygit2.settings.homedir = previous if previous is not None else os.path.expanduser("~")
        _SSH_HOME_LOCK.release()


_UNREACHABLE_SIGNS = (
    "failed to connect",
    "failed to resolve address",
    "connection refused",
    "no route to host",
    "network is unreachable",
    "connection reset",
    "ssl error",
    "certificate",
)
_TIMEOUT_SIGNS = ("timed out", "timeout")
_REF_GONE_SIGNS = ("couldn't find remote ref",)
_NOT_FOUND_SIGNS = (
    "status code: 404",
    "no such repository",
    "not found",
    "not exported",
    "does not appear to be a git repository",
)
_AUTH_SIGNS = ("status code: 401", "status code: 403", "authentication", "permission denied")


def _translate(
    error: pygit2.GitError, url: str, ref_label: str, auth: GitAuth | None
) -> SourceError:
    """Sort a libgit2 failure into the hierarchy by its message, which names no class."""
    shown = redact_url(url)
    detail = _without_secrets(str(error), url, auth)
    lowered = detail.lower()
    if isinstance(error, pygit2.AuthError) or any(sign in lowered for sign in _AUTH_SIGNS):
        hint = "correct the Secret" if auth else "set spec.secretRef to a Secret that holds them"
        return AuthenticationFailed(f"{shown} refused access ({detail}); {hint}")
    if any(sign in lowered for sign in _TIMEOUT_SIGNS):
        return FetchTimeout(f"{shown} did not answer in time ({detail}); raise spec.timeout")
    if any(sign in lowered for sign in _UNREACHABLE_SIGNS):
        return Unreachable(f"cannot reach {shown} ({detail}); check spec.url and the server")
    if any(sign in lowered for sign in _REF_GONE_SIGNS):
        return RefNotFound(f"{shown} no longer has {ref_label} ({detail}); correct spec.ref")
    if any(sign in lowered for sign in _NOT_FOUND_SIGNS):
        return RepositoryNotFound(f"{shown} has no repository ({detail}); correct spec.url")
    return SourceError(f"git failed on {shown} for {ref_label}: {detail}")


def _without_secrets(message: str, url: str, auth: GitAuth | None) -> str:
    cleaned = message.replace(url, redact_url(url))
    secrets = []
    if isinstance(auth, BasicAuth):
        secrets.append(auth.password)
    elif isinstance(auth, BearerToken):
        secrets.append(auth.token)
    for secret in secrets:
        if secret:
            cleaned = cleaned.replace(secret, "***")
    return " ".join(cleaned.split())
