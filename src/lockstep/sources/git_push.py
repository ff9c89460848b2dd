"""Commit to a Git remote and push, as ImageUpdateAutomation does: clone, update, commit, push.

The ImageUpdateAutomation reconciler calls `update_and_push` from its thread pool with
the GitRepository's URL and credentials, a `PushOptions` and a function that rewrites
files of the checked-out tree. One call:

1. asks the remote for its refs, resolves ``git.checkout.ref`` among them (Flux's
   precedence, :mod:`lockstep.sources.refs`) and fetches the whole history of that ref
   and of the push branch; libgit2 cannot be trusted to push from a shallow clone;
2. checks out the commit to build on: the tip of the push branch when it differs from
   the checkout branch and already exists on the remote (so earlier automation commits
   there are kept, as Flux does), otherwise the checked-out commit;
3. runs the update on that tree and commits what it changed, with the author as
   committer too, signed when a `CommitSigner` is given; no change, no commit;
4. pushes the commit to the push branch, never forcing, then to ``push.refspec`` if set.

If the branch push fails and the remote branch no longer points where step 1 found it,
someone else pushed in between: the call fetches again, reapplies the update to the new
tip and tries once more, up to `PushOptions.attempts` times. Any other failure is raised
at once. Failures are the :mod:`lockstep.sources.errors` hierarchy, one line naming the
URL; what the update function raises passes through unchanged.

Where lockstep differs from Flux: Flux force-pushes a push branch that differs from the
checkout branch (its GitForcePushBranch gate, on by default); lockstep never forces, so
a commit someone added to that branch meanwhile is built upon rather than overwritten.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pygit2
import pysequoia
from pygit2.enums import ResetMode

from lockstep.egress import OPEN, Egress
from lockstep.sources.credentials import GitAuth, redact_url, url_scheme
from lockstep.sources.errors import InvalidSecret, SourceError
from lockstep.sources.git import (
    DEFAULT_TIMEOUT_SECONDS,
    Session,
    check_address,
    remote_session,
)
from lockstep.sources.refs import HEADS, GitRef, ResolvedRef, resolve_advertised, resolve_commit

DEFAULT_PUSH_ATTEMPTS = 3
"""Pushes tried when the remote branch moves between fetch and push."""

SIGNING_KEY = "git.asc"
"""Key of the signing Secret holding the armored OpenPGP secret key, as Flux reads it."""

SIGNING_PASSPHRASE = "passphrase"
"""Key of the signing Secret holding the passphrase of an encrypted secret key."""

TreeUpdate = Callable[[Path], str | None]
"""Rewrites files of the checked-out tree at the given root; returns the commit message,
or None when it changed nothing. Called again on a fresh tree after a lost race."""

_CHECKOUT_REF = "refs/remotes/origin/checkout"
_PUSH_REF = "refs/remotes/origin/push"
_ALL_BRANCHES_AND_TAGS = ("+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*")


@dataclass(frozen=True)
class Author:
    """Who automation commits are by; also their committer."""

    email: str
    name: str | None = None
    """The email stands in when omitted: Git refuses a signature without a name."""

    def signature(self) -> pygit2.Signature:
        return pygit2.Signature(self.name or self.email, self.email, int(time.time()), 0)


class CommitSigner:
    """An OpenPGP secret key that signs commits (a detached, armored ``gpgsig`` header)."""

    def __init__(self, signer: pysequoia.PySigner) -> None:
        self._signer = signer

    @classmethod
    def from_secret(cls, data: Mapping[str, bytes], secret_name: str) -> CommitSigner:
        """The key under ``git.asc``, unlocked with ``passphrase`` when it is encrypted;
        raises `InvalidSecret` naming `secret_name` and what to fix."""
        armored = data.get(SIGNING_KEY)
        if not armored:
            raise InvalidSecret(
                f"signing Secret {secret_name} has no '{SIGNING_KEY}' key; "
                "store the armored secret key (gpg --export-secret-keys --armor) under it"
            )
        try:
            key = pysequoia.Tsk.from_bytes(armored)
        except RuntimeError as error:
            raise InvalidSecret(
                f"'{SIGNING_KEY}' of signing Secret {secret_name} is not one OpenPGP secret key "
                f"({_first_line(error)}); export exactly one key with --export-secret-keys"
            ) from error
        passphrase = data.get(SIGNING_PASSPHRASE)
        try:
            # pysequoia refuses a passphrase for a key that has none, so try without first.
            return cls(key.signer())
        except RuntimeError as error:
            if not passphrase:
                raise InvalidSecret(
                    f"the key in signing Secret {secret_name} cannot sign "
                    f"({_first_line(error)}); add its '{SIGNING_PASSPHRASE}' or use a key "
                    "with a signing capability"
                ) from error
        try:
            return cls(key.signer(passphrase.decode("utf-8")))
        except (RuntimeError, UnicodeDecodeError) as error:
            raise InvalidSecret(
                f"the '{SIGNING_PASSPHRASE}' of signing Secret {secret_name} does not unlock "
                f"its key ({_first_line(error)}); correct it"
            ) from error

    def sign(self, content: bytes) -> str:
        """An armored detached signature of `content`."""
        signature = pysequoia.sign(self._signer, content, mode=pysequoia.SignatureMode.DETACHED)
        return signature.decode("ascii")


@dataclass(frozen=True)
class PushOptions:
    """What `update_and_push` checks out, commits and pushes."""

    checkout: GitRef
    """The ref to check out (``git.checkout.ref``, else the GitRepository's)."""

    branch: str
    """The branch to push to; created from the checked-out commit when the remote lacks it."""

    author: Author
    """Author and committer of the commit."""

    signer: CommitSigner | None = None
    """Signs the commit when set."""

    refspec: str | None = None
    """Pushed after the branch, e.g. ``refs/heads/auto:refs/heads/main`` or ``HEAD:refs/for/main``."""

    push_options: Mapping[str, str] = field(default_factory=dict)
    """Git push options (``git push -o key=value``); the server must accept them."""

    attempts: int = DEFAULT_PUSH_ATTEMPTS
    """Tries in all when the remote branch moves between fetch and push."""


@dataclass(frozen=True)
class Pushed:
    """The commit a call pushed."""

    commit: str
    branch: str
    message: str
    refspec: str | None

    @property
    def revision(self) -> str:
        """``<branch>@sha1:<hex>``, the way Flux writes revisions."""
        return f"{self.branch}@sha1:{self.commit}"


@dataclass(frozen=True)
class UpdateResult:
    """What `update_and_push` did."""

    source: ResolvedRef
    """The checkout ref as resolved by the last attempt; its ``revision`` is what Flux
    reports as ``observedSourceRevision`` when nothing is pushed to that same branch."""

    pushed: Pushed | None
    """The pushed commit; None when the update changed nothing."""

    switched_branch: bool
    """Whether the push branch differs from the checkout branch."""

    attempts: int
    """How many times the update ran: more than one after lost races."""


@dataclass(frozen=True)
class _Start:
    """Where one attempt starts: the resolved checkout and the commit to build on."""

    source: ResolvedRef
    base: pygit2.Commit
    push_tip: str | None
    """The remote push branch's commit when fetched; None when the remote has no such branch."""

    checkout_branch: str | None


class _LostRace(Exception):
    """The remote branch moved between the fetch and the push."""


def update_and_push(
    url: str,
    options: PushOptions,
    work_dir: Path,
    update: TreeUpdate,
    auth: GitAuth | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    egress: Egress = OPEN,
) -> UpdateResult:
    """Clone `url` into `work_dir` (empty or missing), apply `update`, commit and push.

    `timeout` limits each network operation separately. Raises `SourceError` for Git
    failures (:class:`~lockstep.sources.errors.AddressRefused` when `egress` refuses the
    host); `work_dir` is left for the caller to remove.
    """
    url_scheme(url)
    check_address(egress, url)
    tree = work_dir / "tree"
    tree.mkdir(parents=True)
    repo = pygit2.init_repository(str(work_dir / "git"), bare=False, workdir_path=str(tree))
    remote = repo.remotes.create("origin", url)
    attempt = 0
    while True:
        attempt += 1
        with remote_session(url, auth, timeout, options.checkout.describe()) as session:
            start = _fetch(repo, remote, session, options, url)
        switched = start.checkout_branch != options.branch
        message = _checkout_and_update(repo, start, options, tree, update)
        commit = _commit(repo, start, options, message) if message is not None else None
        if message is None or commit is None:
            return UpdateResult(start.source, None, switched, attempt)
        try:
            _push_branch(remote, start, commit, options, url, auth, timeout)
        except _LostRace:
            if attempt < options.attempts:
                continue
            raise SourceError(
                f"branch {options.branch} of {redact_url(url)} moved while each of "
                f"{attempt} commits was pushed; the update will be tried again"
            ) from None
        if options.refspec:
            with remote_session(url, auth, timeout, f"refspec {options.refspec}") as session:
                _push(remote, session, [options.refspec], options, url)
        pushed = Pushed(str(commit), options.branch, message, options.refspec)
        return UpdateResult(start.source, pushed, switched, attempt)


def _fetch(
    repo: pygit2.Repository,
    remote: pygit2.Remote,
    session: Session,
    options: PushOptions,
    url: str,
) -> _Start:
    """Resolve the checkout ref among the remote's refs and fetch it and the push branch."""
    advertised = _advertised(remote, session)
    ref = options.checkout
    shown = redact_url(url)
    if ref.commit and not ref.branch:
        source = resolve_commit(ref.commit)
    else:
        source = resolve_advertised(ref, advertised, shown)
    push_tip = advertised.get(HEADS + options.branch)
    refspecs = (
        [f"+{source.fetch_ref}:{_CHECKOUT_REF}"]
        if source.fetch_ref
        else list(_ALL_BRANCHES_AND_TAGS)
    )
    if push_tip is not None:
        refspecs.append(f"+{HEADS}{options.branch}:{_PUSH_REF}")
    session.run(lambda callbacks: remote.fetch(refspecs, callbacks=callbacks))
    checked_out = repo.get(source.commit)
    if checked_out is None:
        raise SourceError(
            f"{shown} has no commit {source.commit} in any branch or tag; correct the checkout ref"
        )
    checkout_branch = (
        source.fetch_ref.removeprefix(HEADS)
        if source.fetch_ref and source.fetch_ref.startswith(HEADS)
        else None
    )
    base = checked_out.peel(pygit2.Commit)
    if push_tip is not None and checkout_branch != options.branch:
        base = repo.references[_PUSH_REF].peel(pygit2.Commit)
    return _Start(source, base, push_tip, checkout_branch)


def _advertised(remote: pygit2.Remote, session: Session) -> dict[str, str]:
    heads = session.run(lambda callbacks: remote.list_heads(callbacks=callbacks))
    return {head.name: str(head.oid) for head in heads if head.name}


def _checkout_and_update(
    repo: pygit2.Repository,
    start: _Start,
    options: PushOptions,
    tree: Path,
    update: TreeUpdate,
) -> str | None:
    """Reset the tree to the base commit on the local push branch, then run `update`."""
    if start.checkout_branch and start.checkout_branch != options.branch:
        # For a refspec naming the checkout branch, as it would in a plain clone.
        repo.references.create(HEADS + start.checkout_branch, start.source.commit, force=True)
    # A reference, not a branch: libgit2 will not force a branch that HEAD is on (a retry).
    repo.references.create(HEADS + options.branch, start.base.id, force=True)
    repo.set_head(HEADS + options.branch)
    repo.reset(start.base.id, ResetMode.HARD)
    return update(tree)


def _commit(
    repo: pygit2.Repository, start: _Start, options: PushOptions, message: str
) -> pygit2.Oid | None:
    """Commit every change of the tree onto the local push branch; None if there is none."""
    index = repo.index
    index.add_all()
    index.write()
    tree_id = index.write_tree()
    if tree_id == start.base.tree_id:
        return None
    signature = options.author.signature()
    parents: list[pygit2.Oid | str] = [start.base.id]
    if options.signer is None:
        commit = repo.create_commit(None, signature, signature, message, tree_id, parents)
    else:
        # pygit2 1.21 declares the commit text as an Oid; it is the text.
        content = str(repo.create_commit_string(signature, signature, message, tree_id, parents))
        commit = repo.create_commit_with_signature(
            content, options.signer.sign(content.encode("utf-8")), "gpgsig"
        )
    repo.references[HEADS + options.branch].set_target(commit)
    return commit


def _push_branch(
    remote: pygit2.Remote,
    start: _Start,
    commit: pygit2.Oid,
    options: PushOptions,
    url: str,
    auth: GitAuth | None,
    timeout: float,
) -> None:
    """Push the local push branch; raises `_LostRace` if it failed because the remote moved."""
    spec = f"{HEADS}{options.branch}:{HEADS}{options.branch}"
    label = f"branch {options.branch}"
    try:
        with remote_session(url, auth, timeout, label) as session:
            _push(remote, session, [spec], options, url)
    except SourceError:
        # Servers and libgit2 word a lost race in many ways; where the branch points now
        # tells it apart from every other failure (and from a push that went through
        # although its report did not come back).
        with remote_session(url, auth, timeout, label) as session:
            now = _advertised(remote, session).get(HEADS + options.branch)
        if now == str(commit):
            return
        if now != start.push_tip:
            raise _LostRace from None
        raise


def _push(
    remote: pygit2.Remote, session: Session, specs: list[str], options: PushOptions, url: str
) -> None:
    push_options = [
        f"{key}={value}" if value else key for key, value in options.push_options.items()
    ]
    try:
        session.run(
            lambda callbacks: remote.push(
                specs, callbacks=callbacks, push_options=push_options or None
            )
        )
    except SourceError as error:
        if push_options and "push-options not supported" in str(error):
            raise SourceError(
                f"{redact_url(url)} does not accept push options; remove spec.git.push.options "
                "or let the server accept them (receive.advertisePushOptions)"
            ) from error
        raise


def _first_line(error: Exception) -> str:
    """pysequoia appends a Rust backtrace to its messages; the first line says it all."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
