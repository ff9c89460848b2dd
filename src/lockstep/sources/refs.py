"""Git references as Flux reads them: which ref wins, which commit it names, its revision.

`resolve_advertised` picks the commit for a `GitRef` out of the refs a remote
advertises (what ``git ls-remote`` prints), with Flux's precedence: commit, then name,
then semver, then tag, then branch, and the ``master`` branch when nothing is set.
Annotated tags resolve to the commit they point to. The result, `ResolvedRef`,
carries the revision string exactly as Flux writes it into ``status.artifact``:

==================  ===============================
ref                 revision
==================  ===============================
branch              ``main@sha1:<hex>``
tag, semver         ``v1.0.0@sha1:<hex>``
name                ``refs/heads/main@sha1:<hex>``
commit              ``sha1:<hex>``
commit and branch   ``main@sha1:<hex>``
==================  ===============================

so that "has the source changed?" is one string comparison with the last artifact. A
name that is not a full ref name (``main``, as Argo CD's ``targetRevision`` gives it) is
read as a branch, else as a tag, where Flux would find nothing.

Called by :mod:`lockstep.sources.git`, which does the network part, and by
:mod:`lockstep.sources.oci` for its semver refs. Semver ranges follow Flux's rules
(Masterminds/semver v3, see :mod:`lockstep.semver`). Where versions tie (``v1.0.0`` and
``1.0.0``, or builds of one version) Flux prefers the tag whose commit is newest, which
the advertised refs do not tell; lockstep prefers the tag last in byte order, so the
choice is at least stable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from lockstep.api.source import GitRepositoryRef
from lockstep.semver import InvalidRangeError, highest_in_range, parse_range, parse_version
from lockstep.sources.errors import InvalidRef, NoSemverMatch, RefNotFound

DEFAULT_BRANCH = "master"
"""The branch Flux checks out when the ref names nothing."""

HEADS = "refs/heads/"
TAGS = "refs/tags/"
PEELED_SUFFIX = "^{}"
"""Suffix of the advertised entry that gives the commit an annotated tag points to."""

_FULL_COMMIT_ID = re.compile(r"^([0-9a-f]{40}|[0-9a-f]{64})$")


@dataclass(frozen=True)
class GitRef:
    """What to check out; empty strings count as unset, as in the Flux API."""

    branch: str | None = None
    tag: str | None = None
    semver: str | None = None
    name: str | None = None
    commit: str | None = None

    @classmethod
    def from_spec(cls, ref: GitRepositoryRef | None) -> GitRef:
        """The ref of a GitRepository's ``spec.ref`` (which may be omitted)."""
        if ref is None:
            return cls()
        return cls(
            branch=ref.branch, tag=ref.tag, semver=ref.semver, name=ref.name, commit=ref.commit
        )

    def describe(self) -> str:
        """The ref that takes effect, in words for messages: ``branch main``."""
        if self.commit:
            on_branch = f" on branch {self.branch}" if self.branch else ""
            return f"commit {self.commit}{on_branch}"
        if self.name:
            return f"ref {self.name}"
        if self.semver:
            return f"semver range {self.semver!r}"
        if self.tag:
            return f"tag {self.tag}"
        return f"branch {self.branch or DEFAULT_BRANCH}"


@dataclass(frozen=True)
class ResolvedRef:
    """The commit a `GitRef` names on the remote, and how to fetch it."""

    revision: str
    """The Flux revision string, compared with ``status.artifact.revision``."""

    commit: str
    """Hex id of the commit to check out."""

    fetch_ref: str | None
    """The remote ref whose history holds the commit; None when only every branch and tag do."""

    at_tip: bool
    """Whether the commit is the tip of `fetch_ref`, so fetching one commit of history suffices."""


def resolve_advertised(ref: GitRef, advertised: Mapping[str, str], url: str) -> ResolvedRef:
    """Resolve `ref` against the refs the remote at `url` advertises (ref name → object id).

    A ref naming only a commit does not need the advertised refs; see `resolve_commit`.
    """
    if ref.commit:
        if not ref.branch:
            return resolve_commit(ref.commit)
        tip = _advertised_commit(advertised, HEADS + ref.branch, url, ref)
        commit = _checked_commit_id(ref.commit)
        return ResolvedRef(_revision(ref.branch, commit), commit, HEADS + ref.branch, tip == commit)
    if ref.name:
        full = _full_name(ref.name, advertised)
        commit = _advertised_commit(advertised, full, url, ref)
        return ResolvedRef(_revision(ref.name, commit), commit, full, at_tip=True)
    if ref.semver:
        tag = highest_matching_tag(ref.semver, _tag_names(advertised), url)
        commit = _advertised_commit(advertised, TAGS + tag, url, ref)
        return ResolvedRef(_revision(tag, commit), commit, TAGS + tag, at_tip=True)
    if ref.tag:
        commit = _advertised_commit(advertised, TAGS + ref.tag, url, ref)
        return ResolvedRef(_revision(ref.tag, commit), commit, TAGS + ref.tag, at_tip=True)
    branch = ref.branch or DEFAULT_BRANCH
    commit = _advertised_commit(advertised, HEADS + branch, url, ref)
    return ResolvedRef(_revision(branch, commit), commit, HEADS + branch, at_tip=True)


def resolve_commit(commit: str) -> ResolvedRef:
    """A bare commit: its revision is known without asking the remote."""
    commit_id = _checked_commit_id(commit)
    return ResolvedRef(
        f"{_algorithm(commit_id)}:{commit_id}", commit_id, fetch_ref=None, at_tip=False
    )


def highest_matching_tag(semver_range: str, tags: list[str], url: str) -> str:
    """The tag with the highest version in `semver_range`, with Flux's rules.

    Tags that are not versions are skipped; a leading ``v`` is allowed. Pre-releases
    match only an alternative of the range that names a pre-release.
    """
    try:
        versions = parse_range(semver_range)
    except InvalidRangeError as error:
        raise InvalidRef(f"spec.ref.semver for {url}: {error}") from error
    best = highest_in_range(versions, sorted(tags, reverse=True))
    if best is None:
        counted = sum(parse_version(tag) is not None for tag in tags)
        raise NoSemverMatch(
            f"no tag of {url} matches semver range {semver_range!r} "
            f"({counted} of its tags are versions); push a matching tag or widen "
            "spec.ref.semver"
        )
    return best


def _tag_names(advertised: Mapping[str, str]) -> list[str]:
    return [
        name.removeprefix(TAGS)
        for name in advertised
        if name.startswith(TAGS) and not name.endswith(PEELED_SUFFIX)
    ]


def _full_name(name: str, advertised: Mapping[str, str]) -> str:
    """``name`` as the remote advertises it: a full name (``refs/heads/main``, ``HEAD``)
    as it is; a short one, as Argo CD's ``targetRevision`` gives it, as a branch if there
    is one, else as a tag."""
    if name in advertised or name.startswith("refs/"):
        return name
    branch = HEADS + name
    return branch if branch in advertised else TAGS + name


def _advertised_commit(advertised: Mapping[str, str], ref_name: str, url: str, ref: GitRef) -> str:
    """The commit `ref_name` points to, through an annotated tag if it is one."""
    peeled = advertised.get(ref_name + PEELED_SUFFIX)
    if peeled is not None:
        return peeled
    target = advertised.get(ref_name)
    if target is None:
        raise RefNotFound(
            f"{url} has no {ref.describe()} ({ref_name}); push it or correct spec.ref"
        )
    return target


def _checked_commit_id(commit: str) -> str:
    commit_id = commit.strip().lower()
    if not _FULL_COMMIT_ID.match(commit_id):
        raise InvalidRef(
            f"commit {commit!r} is not a full commit id; write all 40 hex digits in spec.ref.commit"
        )
    return commit_id


def _revision(name: str, commit: str) -> str:
    return f"{name}@{_algorithm(commit)}:{commit}"


def _algorithm(commit: str) -> str:
    return "sha1" if len(commit) == 40 else "sha256"
