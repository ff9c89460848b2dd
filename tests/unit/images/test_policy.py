"""Tag election of an ImagePolicy: semver, alphabetical and numerical rules, filterTags, spec."""

from __future__ import annotations

from typing import Any

import pytest

from lockstep.images.policy import (
    AlphabeticalRule,
    InvalidPolicyError,
    NumericalRule,
    SemverRule,
    TagFilter,
    TagPolicy,
    TagSelection,
    policy_from_spec,
    select_tag,
)


def semver(range_text: str, filter_tags: TagFilter | None = None) -> TagPolicy:
    return TagPolicy(SemverRule(range_text), filter_tags)


# The acceptance example. In Masterminds v3 the caret keeps only the major once it is
# above 0, so ^1.2.x is >=1.2.0 <2.0.0 and 1.3.0 is in range; the tilde keeps the minor,
# so ~1.2 is >=1.2.0 <1.3.0.
def test_caret_elects_the_highest_version_of_the_same_major() -> None:
    assert select_tag(["1.2.1", "1.2.2", "1.3.0"], semver("^1.2.x")) == TagSelection("1.3.0")


def test_tilde_elects_the_highest_version_of_the_same_minor() -> None:
    assert select_tag(["1.2.1", "1.2.2", "1.3.0"], semver("~1.2")) == TagSelection("1.2.2")


def test_semver_skips_tags_that_are_not_versions_and_returns_the_tag_as_written() -> None:
    tags = ["latest", "1.4", "main-abc123", "1.0.0", "v1.1.0", "1.1.0-rc.1"]
    assert select_tag(tags, semver("*")).tag == "v1.1.0"


def test_semver_elects_the_first_of_equal_versions() -> None:
    assert select_tag(["1.0.0+b1", "v1.0.0", "1.0.0"], semver("1.0.0")).tag == "1.0.0+b1"


def test_prereleases_are_elected_only_by_a_range_that_names_one() -> None:
    tags = ["1.2.0", "1.3.0-rc.1", "1.3.0-rc.2"]
    assert select_tag(tags, semver("^1.2")).tag == "1.2.0"
    assert select_tag(tags, semver(">=1.2.0-0")).tag == "1.3.0-rc.2"


def test_no_version_in_range_says_which_range_and_the_latest_version() -> None:
    assert select_tag(["1.0.0", "2.0.0", "latest"], semver("^1.2.x")) == TagSelection(
        None, "no tag matches the semver range '^1.2.x' (latest: 2.0.0)"
    )


def test_no_match_because_of_prereleases_says_how_to_admit_them() -> None:
    assert select_tag(["1.2.0-rc.1"], semver("^1.2")) == TagSelection(
        None,
        "no tag matches the semver range '^1.2' (latest: 1.2.0-rc.1); "
        "pre-releases match only a range that names one, like '>=1.0.0-0'",
    )


def test_no_version_at_all_is_said_so() -> None:
    assert select_tag(["latest", "main"], semver("*")) == TagSelection(
        None, "none of the 2 tags is a semantic version like 1.2.3 or v1.2.3"
    )


def test_no_tags_is_said_so() -> None:
    assert select_tag([], semver("*")) == TagSelection(None, "no tags to choose from")


@pytest.mark.parametrize(
    ("order", "expected"), [("asc", "RELEASE.2024-02-01"), ("desc", "RELEASE.2023-01-31")]
)
def test_alphabetical_elects_the_last_in_ascending_order_or_the_first(
    order: str, expected: str
) -> None:
    tags = ["RELEASE.2023-12-01", "RELEASE.2024-02-01", "RELEASE.2023-01-31"]
    policy = TagPolicy(AlphabeticalRule("asc" if order == "asc" else "desc"))
    assert select_tag(tags, policy).tag == expected


def test_alphabetical_compares_code_points_so_capitals_sort_first() -> None:
    assert select_tag(["a", "B", "Z"], TagPolicy(AlphabeticalRule())).tag == "a"


def test_alphabetical_is_not_numerical() -> None:
    assert select_tag(["9", "10"], TagPolicy(AlphabeticalRule())).tag == "9"
    assert select_tag(["9", "10"], TagPolicy(NumericalRule())).tag == "10"


@pytest.mark.parametrize(("order", "expected"), [("asc", "10"), ("desc", "0.5")])
def test_numerical_elects_the_highest_number_or_the_lowest(order: str, expected: str) -> None:
    tags = ["1", "10", "9", "1.5", "0.5", "2e0"]
    policy = TagPolicy(NumericalRule("asc" if order == "asc" else "desc"))
    assert select_tag(tags, policy).tag == expected


def test_numerical_compares_decimals_exactly() -> None:
    # Both round to the same float64; compared exactly, the second is higher.
    tags = ["20240101120000123000", "20240101120000123001"]
    assert select_tag(tags, TagPolicy(NumericalRule())).tag == "20240101120000123001"


def test_numerical_elects_the_later_of_equal_numbers_as_flux() -> None:
    assert select_tag(["1.0", "1", "01"], TagPolicy(NumericalRule())).tag == "01"
    assert select_tag(["1.0", "1", "01"], TagPolicy(NumericalRule("desc"))).tag == "01"


def test_numerical_refuses_a_tag_that_is_not_a_number() -> None:
    assert select_tag(["1", "latest"], TagPolicy(NumericalRule())) == TagSelection(
        None, "tag 'latest' is not a number; keep only numbers with spec.filterTags"
    )


# Flux's documented pattern for builds tagged <branch>-<sha>-<unix time>.
TIMESTAMPED = TagFilter(pattern=r"^main-[a-fA-F0-9]+-(?P<ts>[0-9]+)$", extract="$ts")
BUILD_TAGS = [
    "main-abc123-1700000000",
    "main-def456-1700000500",
    "main-0a1b2c-1699999999",
    "pr-12-1800000000",
    "main-fff000-latest",
    "latest",
]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (NumericalRule(), "main-def456-1700000500"),
        (NumericalRule("desc"), "main-0a1b2c-1699999999"),
        (AlphabeticalRule(), "main-def456-1700000500"),
    ],
)
def test_filter_tags_extract_compares_the_timestamp_and_elects_the_tag(
    rule: NumericalRule | AlphabeticalRule, expected: str
) -> None:
    assert select_tag(BUILD_TAGS, TagPolicy(rule, TIMESTAMPED)).tag == expected


def test_filter_tags_pattern_alone_drops_tags_and_compares_the_whole_tag() -> None:
    tags = ["v1.0.0", "1.5.0", "v1.2.0"]
    assert select_tag(tags, semver("*", TagFilter(pattern="^v"))).tag == "v1.2.0"


def test_filter_tags_pattern_is_searched_not_anchored() -> None:
    tags = ["app-1.0.0", "1.1.0", "tool-2.0.0"]
    filter_tags = TagFilter(pattern=r"app-(?P<version>.*)", extract="$version")
    assert select_tag(tags, semver("*", filter_tags)).tag == "app-1.0.0"


def test_extracted_value_is_what_semver_compares() -> None:
    tags = ["1.0.0-linux", "1.2.0-linux", "2.0.0-windows"]
    filter_tags = TagFilter(pattern=r"^(?P<version>.*)-linux$", extract="${version}")
    assert select_tag(tags, semver("*", filter_tags)).tag == "1.2.0-linux"


def test_tags_extracting_the_same_value_keep_the_later_tag() -> None:
    tags = ["1.0.0-a", "1.0.0-b"]
    filter_tags = TagFilter(pattern=r"^(\d+\.\d+\.\d+)-", extract="$1")
    assert select_tag(tags, semver("*", filter_tags)).tag == "1.0.0-b"


def test_no_tag_left_by_the_filter_is_said_so() -> None:
    assert select_tag(["a", "b", "c"], semver("*", TagFilter(pattern="^main-"))) == TagSelection(
        None, "none of the 3 tags matches spec.filterTags.pattern '^main-'"
    )


def test_a_value_that_is_not_a_number_names_the_tag_and_the_value() -> None:
    filter_tags = TagFilter(pattern=r"^build-(?P<n>.*)", extract="$n")
    assert select_tag(["build-7", "build-x"], TagPolicy(NumericalRule(), filter_tags)) == (
        TagSelection(
            None,
            "tag 'build-x' (extracted 'x') is not a number; keep only numbers with spec.filterTags",
        )
    )


@pytest.mark.parametrize(
    ("extract", "value"),
    [
        ("$major", "1"),
        ("${major}.${minor}", "1.2"),
        ("$1-$2", "1-2"),
        ("$major_x", ""),  # the name runs on, as in Go: "$major_x" is the group "major_x"
        ("${major}_x", "1_x"),
        ("$$major", "$major"),
        ("$missing", ""),
        ("$9", ""),
        ("$-", "$-"),
        ("${major", "${major"),
        ("$rc", ""),  # a group that did not take part
    ],
)
def test_extract_follows_go_template_references(extract: str, value: str) -> None:
    pattern = r"^(?P<major>\d+)\.(?P<minor>\d+)(?:-(?P<rc>rc))?$"
    assert TagFilter(pattern=pattern, extract=extract).apply(["1.2"]) == {value: "1.2"}


def test_invalid_pattern_is_refused_with_the_pattern() -> None:
    with pytest.raises(InvalidPolicyError) as raised:
        TagFilter(pattern="^(main")
    assert str(raised.value) == (
        "spec.filterTags.pattern '^(main' is not a valid regular expression: "
        "missing ), unterminated subpattern at position 1"
    )


def test_invalid_range_is_refused_when_the_rule_is_made() -> None:
    with pytest.raises(InvalidPolicyError) as raised:
        SemverRule("^1.2.q")
    assert str(raised.value) == (
        "spec.policy.semver.range: semver range '^1.2.q' is invalid: cannot read '.q'; "
        "separate comparators with a space or comma; "
        "write comparators like '>=1.2.0 <2.0.0', '^1.2' or '~1.2.3'"
    )
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"policy": {"semver": {"range": "^1.2.x"}}}, TagPolicy(SemverRule("^1.2.x"))),
        ({"policy": {"alphabetical": {}}}, TagPolicy(AlphabeticalRule("asc"))),
        ({"policy": {"alphabetical": {"order": "desc"}}}, TagPolicy(AlphabeticalRule("desc"))),
        ({"policy": {"numerical": {"order": "asc"}}}, TagPolicy(NumericalRule("asc"))),
        ({"policy": {"numerical": {"order": "DESC"}}}, TagPolicy(NumericalRule("desc"))),
        (
            {
                "imageRepositoryRef": {"name": "app"},
                "policy": {"numerical": {"order": "asc"}},
                "filterTags": {"pattern": "^main-[a-f0-9]+-(?P<ts>[0-9]+)", "extract": "$ts"},
            },
            TagPolicy(
                NumericalRule("asc"),
                TagFilter(pattern="^main-[a-f0-9]+-(?P<ts>[0-9]+)", extract="$ts"),
            ),
        ),
        (
            {"policy": {"semver": {"range": "*"}}, "filterTags": {"pattern": "^v"}},
            TagPolicy(SemverRule("*"), TagFilter(pattern="^v")),
        ),
        (
            {"policy": {"semver": {"range": "*"}, "alphabetical": {"order": "asc"}}},
            TagPolicy(SemverRule("*")),
        ),
    ],
)
def test_policy_from_spec(spec: dict[str, Any], expected: TagPolicy) -> None:
    assert policy_from_spec(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, "spec.policy sets none of semver, alphabetical and numerical; set one"),
        ({"policy": {}}, "spec.policy sets none of semver, alphabetical and numerical; set one"),
        ({"policy": {"semver": {}}}, "spec.policy.semver.range is missing"),
        (
            {"policy": {"semver": {"range": 1.2}}},
            "spec.policy.semver.range must be a string, not float",
        ),
        ({"policy": "semver"}, "spec.policy must be an object, not str"),
        (
            {"policy": {"alphabetical": {"order": "up"}}},
            "spec.policy.alphabetical.order 'up' is not 'asc' or 'desc'",
        ),
        (
            {"policy": {"semver": {"range": ""}}},
            "spec.policy.semver.range: semver range '' is invalid: it is empty; "
            "write comparators like '>=1.2.0 <2.0.0', '^1.2' or '~1.2.3'",
        ),
        (
            {"policy": {"semver": {"range": "*"}}, "filterTags": {"pattern": "["}},
            "spec.filterTags.pattern '[' is not a valid regular expression: "
            "unterminated character set at position 0",
        ),
    ],
)
def test_policy_from_spec_refuses_an_unusable_spec(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidPolicyError) as raised:
        policy_from_spec(spec)
    assert str(raised.value) == message


def test_rules_made_directly_check_their_order() -> None:
    with pytest.raises(InvalidPolicyError, match=r"^spec\.policy\.numerical\.order 'up' is not"):
        NumericalRule("up")  # type: ignore[arg-type]
