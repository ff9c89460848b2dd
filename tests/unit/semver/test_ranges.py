"""Semver ranges as Flux evaluates them (Masterminds/semver v3 rules, fluxcd/pkg/version tags)."""

from __future__ import annotations

import pytest

from lockstep.semver import InvalidRangeError, parse_range, parse_version

# (range, tag, satisfied). Each row states Masterminds' answer; the comment says the rule.
CONSTRAINTS = [
    # Caret keeps the major; below 1.0.0 the first non-zero part given.
    ("^1.2.x", "1.3.0", True),  # ^1.2.x is >=1.2.0 <2.0.0
    ("^1.2.x", "1.2.0", True),
    ("^1.2.x", "2.0.0", False),
    ("^1.2.3", "1.2.2", False),
    ("^1", "1.99.0", True),
    ("^0.2.3", "0.2.9", True),  # ^0.2.3 is >=0.2.3 <0.3.0
    ("^0.2.3", "0.3.0", False),
    ("^0.0.3", "0.0.4", False),  # ^0.0.3 is exactly 0.0.3
    ("^0.0", "0.0.9", True),  # ^0.0 is >=0.0.0 <0.1.0
    ("^0", "0.9.0", True),
    ("^0", "1.0.0", False),
    ("^*", "1.0.0", False),  # a Masterminds quirk (upstream issue 317): ^* is only 0.0.0
    ("^*", "0.0.0", True),
    # Tilde keeps the minor, or the major when only a major is given.
    ("~1.2", "1.2.9", True),
    ("~1.2", "1.3.0", False),
    ("~1.2.3", "1.2.2", False),
    ("~1.2.3", "1.2.10", True),
    ("~1", "1.9.0", True),
    ("~1", "2.0.0", False),
    ("~>1.2", "1.2.5", True),
    ("~0.0.0", "3.1.4", True),  # ~0.0.0 admits every release
    # x-ranges and partial versions widen "=" to "~".
    ("1.2.x", "1.2.7", True),
    ("1.2.x", "1.3.0", False),
    ("1.x", "1.9.9", True),
    ("1.X", "2.0.0", False),
    ("*", "9.9.9", True),
    ("1.2", "1.2.4", True),
    ("1", "1.5.0", True),
    ("2.*.*", "2.0.1", True),
    # Comparisons; a partial version on ">" and "<=" covers the parts it leaves open.
    (">=1.0.0 <2.0.0", "1.9.9", True),
    (">=1.0.0 <2.0.0", "2.0.0", False),
    (">1.2", "1.2.9", False),  # >1.2 needs 1.3.0 or above
    (">1.2", "1.3.0", True),
    (">1", "1.9.0", False),
    ("<=1.2", "1.2.9", True),  # <=1.2 admits all of 1.2.x
    ("<=1.2", "1.3.0", False),
    ("<1.2", "1.1.9", True),
    ("<1.2", "1.2.0", False),
    ("=1.2.3", "1.2.3", True),
    ("=1.2.3", "1.2.4", False),
    ("!=1.2.3", "1.2.3", False),
    ("!=1.2.3", "1.2.4", True),
    ("!=1.2.x", "1.2.4", False),
    ("!=1.2.x", "1.3.0", True),
    ("=> 1.2, =< 1.4", "1.4.5", True),
    ("1.2.3+build.5", "1.2.3", True),  # build metadata does not count
    # AND with spaces or commas, OR with ||.
    (">= 1.2, < 1.5", "1.4.9", True),
    (">= 1.2, < 1.5", "1.5.0", False),
    (">=1.0.0, <2.0.0, !=1.4.0", "1.4.0", False),
    (">=1.0.0 , <2.0.0", "1.4.0", True),
    ("1.x || >=3.0.0", "2.5.0", False),
    ("1.x || >=3.0.0", "3.1.0", True),
    ("<1.0.0 || >2.0.0", "2.0.1", True),
    # Hyphen ranges: "A - B" is ">= A, <= B".
    ("1.2 - 1.4", "1.4.8", True),
    ("1.2 - 1.4", "1.5.0", False),
    ("1.2 - 1.4", "1.1.9", False),
    ("1.2.3 - 2.3.4", "2.3.5", False),
    ("1.0 - 2.0 || 3.x", "3.2.0", True),
    ("1.2-3", "1.2.0-3", True),  # no spaces: 1.2-3 is the pre-release 1.2.0-3
    # A pre-release matches only an alternative that names one, then across versions.
    ("^1.2.x", "1.3.0-rc.1", False),
    (">=1.2.0", "1.3.0-rc.1", False),
    ("*", "1.2.3-alpha.1", False),
    ("*-0", "1.2.3-alpha.1", True),
    ("^1.3.0-0", "1.3.0-rc.1", True),
    (">=1.3.0-rc.1", "1.3.0-rc.2", True),
    (">=1.3.0-rc.2", "1.3.0-rc.10", True),  # numeric identifiers compare as numbers
    (">=1.3.0-rc.2", "1.3.0-rc.1", False),
    (">=1.3.0-rc.1", "1.3.0-rc.1.1", True),  # more identifiers sort later
    (">=1.3.0-1", "1.3.0-alpha", True),  # alphanumeric identifiers sort after numbers
    ("~1.2.3-beta.2", "1.2.4-beta.1", True),  # not only within 1.2.3, unlike npm
    ("^1.2.3-alpha", "2.0.0-alpha", False),
    ("1.2.3-rc.1", "1.2.3-rc.1", True),
    (">=1.0.0-0 <2.0.0", "1.5.0-beta.1", True),  # one pre-release opens the whole AND group
    ("<2.0.0 || >=3.0.0-0", "1.5.0-beta.1", False),  # ... but not the other alternatives
    (">=1.0.0-0", "1.0.0", True),
    # A leading v in tags and in ranges.
    ("^1.2", "v1.5.0", True),
    ("v1.2.x", "1.2.3", True),
    (">=v1.0.0", "v1.0.0", True),
]


@pytest.mark.parametrize(("range_text", "tag", "satisfied"), CONSTRAINTS)
def test_range_contains(range_text: str, tag: str, satisfied: bool) -> None:
    version = parse_version(tag)
    assert version is not None
    assert parse_range(range_text).contains(version) is satisfied


@pytest.mark.parametrize(
    "tag",
    [
        "1.2",
        "1",
        "latest",
        "V1.2.3",
        "vv1.2.3",
        "1.2.3.4",
        "1.2.3-rc.01",
        "1.2.3-",
        "1.2.3+",
        "1.2.3-rc..1",
        "1.2.3_4",
        "18446744073709551616.0.0",
        "1.0.0-" + "a" * 251,
    ],
)
def test_tags_flux_does_not_read_as_versions_are_not_versions(tag: str) -> None:
    assert parse_version(tag) is None


@pytest.mark.parametrize(
    ("tag", "parts"),
    [
        ("01.2.3", (1, 2, 3, ())),  # leading zeros: calendar versions such as 2025.01.02
        ("v2025.02.03-rc.1", (2025, 2, 3, ("rc", "1"))),
        ("1.2-rc.1", (1, 2, 0, ("rc", "1"))),  # two dots, so Flux reads it loosely
        ("v1.2-beta.0+b.1", (1, 2, 0, ("beta", "0"))),
        ("18446744073709551615.0.0", (2**64 - 1, 0, 0, ())),
    ],
)
def test_tags_flux_reads_loosely_are_versions(
    tag: str, parts: tuple[int, int, int, tuple[str, ...]]
) -> None:
    version = parse_version(tag)
    assert version is not None
    assert (version.major, version.minor, version.patch, version.prerelease) == parts


def test_version_parts() -> None:
    version = parse_version("v1.20.3-rc.1.x-y+build.7")
    assert version is not None
    assert (version.major, version.minor, version.patch) == (1, 20, 3)
    assert version.prerelease == ("rc", "1", "x-y")
    assert version.build == "build.7"


def test_precedence_orders_like_semver() -> None:
    ordered = [
        "1.0.0-1",
        "1.0.0-2",
        "1.0.0-10",
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.1.0",
        "2.0.0",
    ]
    versions = [parse_version(tag) for tag in ordered]
    keys = [version.precedence for version in versions if version is not None]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(ordered)


def test_build_metadata_does_not_change_precedence() -> None:
    plain, built = parse_version("1.2.3"), parse_version("1.2.3+abc")
    assert plain is not None
    assert built is not None
    assert plain.precedence == built.precedence


@pytest.mark.parametrize(
    ("range_text", "problem"),
    [
        ("", "it is empty"),
        ("   ", "it is empty"),
        ("1.2 ||", "an alternative beside '||' is empty"),
        ("|| 1.2", "an alternative beside '||' is empty"),
        ("latest", "expected a version at 'latest'"),
        (">= bar", "expected a version at 'bar'"),
        ("> = 1.2", "expected a version at '= 1.2'"),
        ("^1.2.q", "cannot read '.q'; separate comparators with a space or comma"),
        ("1.2.3.4", "cannot read '.4'; separate comparators with a space or comma"),
        ("~1.2~1.3", "cannot read '~1.3'; separate comparators with a space or comma"),
        ("1.2.3,", "a comma ends an alternative"),
        (">=1.0,,<2.0", "expected a version at ',<2.0'"),
        ("1x.2", "'1x.2' is not a version; use numbers, or x, X or * for a part"),
        ("1.2.3-01", "'1.2.3-01' has a numeric pre-release identifier with a leading zero"),
        # Masterminds rewrites "A - B" as text first, so an operator before A fails ...
        (">=1.0 - 2.0", "expected a version at '>= 1.0, <= 2.0' (read as '>=>= 1.0, <= 2.0')"),
        # ... and so does a hyphen range after a space-separated comparator.
        (
            ">1 1.2 - 1.4",
            "cannot read '>= 1.2, <= 1.4'; separate comparators with a space or comma (read as '>1>= 1.2, <= 1.4')",
        ),
    ],
)
def test_invalid_range_names_the_range_and_the_problem(range_text: str, problem: str) -> None:
    with pytest.raises(InvalidRangeError) as raised:
        parse_range(range_text)
    assert raised.value.range == range_text
    assert raised.value.problem == problem
    message = str(raised.value)
    assert message.startswith(f"semver range {range_text!r} is invalid: {problem}; write ")
    assert "\n" not in message


def test_invalid_range_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"^semver range '\^1\.2\.q' is invalid: "):
        parse_range("^1.2.q")


def test_hyphen_range_after_a_comma_or_an_or_is_valid() -> None:
    version = parse_version("1.3.0")
    assert version is not None
    assert parse_range(">1.0, 1.2 - 1.4").contains(version)
    assert parse_range("0.x || 1.2 - 1.4").contains(version)


def test_range_keeps_its_text_and_says_whether_it_names_a_prerelease() -> None:
    assert parse_range(" ^1.2 ").text == " ^1.2 "
    assert not parse_range("^1.2 || >=2").names_prerelease
    assert parse_range("^1.2 || >=2.0.0-0").names_prerelease
