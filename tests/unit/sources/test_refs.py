"""Ref precedence, annotated tags, semver selection and Flux's revision strings."""

from __future__ import annotations

import pytest

from lockstep.api.source import GitRepositoryRef
from lockstep.sources.errors import InvalidRef, NoSemverMatch, RefNotFound
from lockstep.sources.refs import (
    GitRef,
    ResolvedRef,
    highest_matching_tag,
    resolve_advertised,
    resolve_commit,
)

URL = "https://git.example/acme/infra.git"
MAIN, DEV, V1, V1_TAG_OBJECT, V2, PR = (f"{digit}" * 40 for digit in "123456")
ADVERTISED = {
    "HEAD": MAIN,
    "refs/heads/main": MAIN,
    "refs/heads/master": MAIN,
    "refs/heads/dev": DEV,
    "refs/tags/v1.0.0": V1_TAG_OBJECT,  # annotated: the tag object...
    "refs/tags/v1.0.0^{}": V1,  # ...and the commit it points to
    "refs/tags/2.0.0": V2,  # lightweight, no leading v
    "refs/tags/latest": V2,
    "refs/pull/7/head": PR,
}


def resolve(**fields: str) -> ResolvedRef:
    return resolve_advertised(GitRef(**fields), ADVERTISED, URL)


@pytest.mark.parametrize(
    ("fields", "revision"),
    [
        ({}, f"master@sha1:{MAIN}"),
        ({"branch": "dev"}, f"dev@sha1:{DEV}"),
        ({"tag": "v1.0.0"}, f"v1.0.0@sha1:{V1}"),
        ({"tag": "2.0.0"}, f"2.0.0@sha1:{V2}"),
        ({"semver": "^1.0"}, f"v1.0.0@sha1:{V1}"),
        ({"name": "refs/heads/main"}, f"refs/heads/main@sha1:{MAIN}"),
        ({"name": "refs/pull/7/head"}, f"refs/pull/7/head@sha1:{PR}"),
        ({"name": "refs/tags/v1.0.0"}, f"refs/tags/v1.0.0@sha1:{V1}"),
        ({"commit": DEV}, f"sha1:{DEV}"),
        ({"commit": DEV, "branch": "main"}, f"main@sha1:{DEV}"),
    ],
)
def test_revisions_are_written_as_flux_writes_them(fields: dict[str, str], revision: str) -> None:
    assert resolve(**fields).revision == revision


@pytest.mark.parametrize(
    ("name", "fetched", "commit"),
    [
        ("HEAD", "HEAD", MAIN),
        ("dev", "refs/heads/dev", DEV),
        ("v1.0.0", "refs/tags/v1.0.0", V1),
        ("latest", "refs/tags/latest", V2),
    ],
)
def test_a_short_name_is_a_branch_else_a_tag(name: str, fetched: str, commit: str) -> None:
    resolved = resolve(name=name)

    assert (resolved.fetch_ref, resolved.commit) == (fetched, commit)
    assert resolved.revision == f"{name}@sha1:{commit}"


def test_a_short_name_that_is_neither_is_not_found() -> None:
    with pytest.raises(RefNotFound, match="refs/tags/nowhere"):
        resolve(name="nowhere")


@pytest.mark.parametrize(
    ("fields", "winner"),
    [
        ({"branch": "dev", "tag": "v1.0.0"}, f"v1.0.0@sha1:{V1}"),
        ({"tag": "v1.0.0", "semver": ">=2"}, f"2.0.0@sha1:{V2}"),
        ({"semver": ">=2", "name": "refs/heads/dev"}, f"refs/heads/dev@sha1:{DEV}"),
        ({"name": "refs/heads/dev", "commit": MAIN}, f"sha1:{MAIN}"),
        ({"branch": "", "tag": ""}, f"master@sha1:{MAIN}"),
    ],
)
def test_precedence_is_commit_name_semver_tag_branch(fields: dict[str, str], winner: str) -> None:
    assert resolve(**fields).revision == winner


def test_annotated_tags_resolve_to_their_commit() -> None:
    resolved = resolve(tag="v1.0.0")

    assert resolved.commit == V1
    assert resolved.fetch_ref == "refs/tags/v1.0.0"
    assert resolved.at_tip


def test_commit_on_a_branch_is_fetched_through_the_branch() -> None:
    at_tip, behind = resolve(commit=MAIN, branch="main"), resolve(commit=DEV, branch="main")

    assert (at_tip.fetch_ref, at_tip.at_tip) == ("refs/heads/main", True)
    assert (behind.fetch_ref, behind.at_tip) == ("refs/heads/main", False)


def test_a_bare_commit_needs_no_remote_and_fetches_everything() -> None:
    resolved = resolve_commit(DEV.upper())

    assert resolved == ResolvedRef(f"sha1:{DEV}", DEV, fetch_ref=None, at_tip=False)
    assert resolve_commit("a" * 64).revision == "sha256:" + "a" * 64


@pytest.mark.parametrize("commit", ["abc123", "z" * 40, "1" * 41])
def test_commits_must_be_full_ids(commit: str) -> None:
    with pytest.raises(InvalidRef, match="full commit id"):
        resolve_commit(commit)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"branch": "gone"},
            f"{URL} has no branch gone (refs/heads/gone); push it or correct spec.ref",
        ),
        ({"tag": "v9"}, f"{URL} has no tag v9 (refs/tags/v9)"),
        ({"name": "refs/heads/x"}, f"{URL} has no ref refs/heads/x"),
        ({"commit": DEV, "branch": "gone"}, f"has no commit {DEV} on branch gone"),
    ],
)
def test_missing_refs_name_the_url_and_the_ref(fields: dict[str, str], message: str) -> None:
    with pytest.raises(RefNotFound) as raised:
        resolve(**fields)

    assert message in str(raised.value)


TAGS = [
    "v0.9.0",
    "v1.0.0",
    "1.1.0",
    "v1.2.3",
    "v1.2.10",
    "v1.3.0-rc.1",
    "2.0.0",
    "v2.1.0-beta",
    "latest",
    "release-5",
]


@pytest.mark.parametrize(
    ("semver_range", "expected"),
    [
        (">=1.0.0 <2.0.0", "v1.2.10"),
        (">=1.0.0, <2.0.0", "v1.2.10"),
        (">=1.0.0,<2.0.0", "v1.2.10"),
        ("^1.2.x", "v1.2.10"),
        ("~1.2", "v1.2.10"),
        ("1.2.x", "v1.2.10"),
        ("1.1.x", "1.1.0"),
        ("=1.2.3", "v1.2.3"),
        ("v1.0.0", "v1.0.0"),
        ("*", "2.0.0"),
        (">=1.3.0-rc.0 <1.4.0", "v1.3.0-rc.1"),
        ("<1.0.0 || >=2.0.0", "2.0.0"),
        ("1.0.0 - 1.2.3", "v1.2.3"),
        ("^0.9", "v0.9.0"),
    ],
)
def test_semver_picks_the_highest_tag_in_range(semver_range: str, expected: str) -> None:
    assert highest_matching_tag(semver_range, TAGS, URL) == expected


def test_semver_without_a_match_says_so() -> None:
    with pytest.raises(NoSemverMatch, match=r"no tag of .* matches semver range '>=3.0.0'"):
        highest_matching_tag(">=3.0.0", TAGS, URL)


def test_semver_range_must_parse() -> None:
    with pytest.raises(
        InvalidRef, match=r"^spec\.ref\.semver for https://.*: semver range 'latest' is invalid: "
    ):
        highest_matching_tag("latest", TAGS, URL)


# (range, tags, Flux's pick): ranges where node-semver (npm's rules), which resolved
# spec.ref.semver before, answers otherwise; its answer is in the comment. Flux's picks
# hold for the Go library itself (tests/unit/semver/test_against_go.py).
WHERE_NPM_DIFFERS = [
    ("!=1.5.0", ["1.4.0", "1.5.0"], "1.4.0"),  # npm: no != operator, invalid range
    ("=>1.2, =<1.4", ["1.1.0", "1.3.0", "1.4.5", "1.5.0"], "1.4.5"),  # npm: invalid
    (">=2.0.0-rc.1", ["2.0.0-rc.1", "2.0.0", "2.1.0-rc.1"], "2.1.0-rc.1"),  # npm: 2.0.0
    ("~2.0.0-rc.1", ["2.0.0-rc.1", "2.0.1-rc.1"], "2.0.1-rc.1"),  # npm: 2.0.0-rc.1
    ("1.x || >=3.0.0-0", ["1.9.0", "3.1.0-beta.1"], "3.1.0-beta.1"),  # npm: 1.9.0
    ("^*", ["0.0.0", "1.0.0", "2.0.0"], "0.0.0"),  # npm: 2.0.0
    ("~0.0.0", ["0.0.1", "0.1.0", "3.0.0"], "3.0.0"),  # npm: 0.0.1
    (">=1.2.0-0 <1.3.0", ["1.2.0-alpha", "1.2-rc.1"], "1.2-rc.1"),  # npm: 1.2.0-alpha
    ("<=*", ["0.0.5", "0.1.0", "2.0.0"], "0.0.5"),  # npm: 2.0.0
    ("^1", ["1.0.0", "v1.0.0", "1.0.0+b"], "v1.0.0"),  # a tie: last in byte order
    # Read alike by both, written as Flux users write them.
    ("^0.x", ["0.1.5", "0.9.0", "1.0.0"], "0.9.0"),
    ("~1", ["1.0.0", "1.9.0", "2.0.0"], "1.9.0"),
    ("1.2 - 1.4", ["1.1.0", "1.4.5", "1.5.0"], "1.4.5"),
    (">=1.0 <2.0", ["1.0.0", "1.9.9", "2.0.0"], "1.9.9"),
    (">=1.0, <2.0", ["1.0.0", "1.9.9", "2.0.0"], "1.9.9"),
    ("1.x || 2.x", ["1.9.0", "2.3.0", "3.0.0"], "2.3.0"),
    ("*", ["1.0.0", "2.0.0-rc.1"], "1.0.0"),
    ("*-0", ["1.0.0", "2.0.0-rc.1"], "2.0.0-rc.1"),
    (">=2025.1", ["2024.12.31", "2025.01.02"], "2025.01.02"),
]


@pytest.mark.parametrize(("semver_range", "tags", "flux_pick"), WHERE_NPM_DIFFERS)
def test_semver_picks_what_flux_picks(semver_range: str, tags: list[str], flux_pick: str) -> None:
    assert highest_matching_tag(semver_range, tags, URL) == flux_pick


def test_refs_come_from_the_spec() -> None:
    assert GitRef.from_spec(None) == GitRef()
    assert GitRef.from_spec(GitRepositoryRef(tag="v1", branch="main")) == GitRef(
        branch="main", tag="v1"
    )
