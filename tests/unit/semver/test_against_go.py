"""lockstep.semver compared with Flux's own Go code: fluxcd/pkg/version's ParseVersion for
tags and Masterminds/semver v3's NewConstraint, Check and Compare for ranges and order
(tests/golden/semver, pinned to the versions Flux 2.7 ships).

For every version and range below both must agree on whether it parses, on every
(range, version) pair whether the range contains the version, and on the order of every
pair of versions. The Go program is built once and cached under ``~/.cache/lockstep``,
named by the hash of its sources. Go is a prerequisite of ``make install``: without it
this test fails.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ground.golden import golden_program
from lockstep.semver import InvalidRangeError, Version, parse_range, parse_version

VERSIONS = [
    "0.0.0", "0.0.1", "0.0.3", "0.0.4", "0.1.0", "0.2.3", "0.2.9", "0.3.0", "0.9.0",
    "1.0.0", "v1.0.0", "1.0.0+build.1", "1.0.1", "1.1.0", "1.1.9", "1.2.0", "1.2.2",
    "1.2.3", "v1.2.3", "1.2.4", "1.2.9", "1.2.10", "1.3.0", "1.4.0", "1.4.8", "1.5.0",
    "1.9.9", "1.99.0", "2.0.0", "2.0.1", "2.3.4", "2.3.5", "2.5.0", "3.0.0", "3.1.0",
    "10.0.0", "2025.01.02", "01.2.3", "1.02.03",
    "1.0.0-0", "1.0.0-1", "1.0.0-2", "1.0.0-10", "1.0.0-alpha", "1.0.0-alpha.1",
    "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-rc.1", "1.2.3-alpha.1", "1.2.3-rc.1",
    "1.2.4-beta.1", "1.3.0-rc.1", "1.3.0-rc.2", "1.3.0-rc.10", "1.3.0-rc.1.1",
    "1.5.0-beta.1", "2.0.0-alpha", "2.0.0-rc.1", "v2.1.0-beta", "1.0.0-x-y.z--",
    "1.0.0-99999999999999999999", "1.0.0-18446744073709551615",
    "1.2-rc.1", "v1.2-beta.0+b.1", "1.2.3-rc.1+build", "0.0.5", "1.9.0", "2.0.1-rc.1",
    "3.1.0-beta.1", "1.2.0-alpha", "2024.12.31", "2.1.0-rc.1",
    # Not versions for Flux.
    "1.2", "1", "v1", "latest", "V1.2.3", "vv1.2.3", "1.2.3.4", "1.2.3-rc.01",
    "1.2.3-", "1.2.3+", "1.2.3-rc..1", "1.2.3_4", "", ".1.2", "1..2", "1.2.3 ",
    " 1.2.3", "1.2.3-ß", "18446744073709551616.0.0", "18446744073709551615.0.0",
    "1.0.0-" + "a" * 250, "1.0.0-" + "a" * 251,
]  # fmt: skip

RANGES = [
    # Where node-semver (npm) answers differently.
    "^0.2", "^0.0", "^0", "^0.0.3", "~1", "~1.2", "~0", "1.2 - 1.4", "1.2.3 - 2.3.4",
    ">=1.0 <2.0", ">=1.0, <2.0", ">=1.0,<2.0", ">= 1.0 , < 2.0", "1.x || 2.x", "*", "x",
    "", "  ", "*-0", ">=1.2.3-rc.1", "~1.2.3-beta.2", "^1.2.3-alpha", "!=1.2.3",
    "!=1.2.x", "!=1.x", "!=*", ">1.2", ">1", "<=1.2", "<=1", "<=*", "=>1.2, =<1.4",
    "~>1.2", "^*", "~*", "~0.0.0", "v1.2.x", ">=v1.0.0", "1.2-3", "1.2.3+build.5",
    # Caret, tilde, wildcards, comparisons.
    "^1.2.x", "^1.2.3", "^1", "^0.2.3", "~1.2.3", "1.2.x", "1.x", "1.X", "2.*.*",
    "1.2", "1", ">=1.0.0 <2.0.0", ">1.2.3", "<1.2", "=1.2.3", "1.2.3", ">= 1.2, < 1.5",
    ">=1.0.0, <2.0.0, !=1.4.0", ">=1.0.0 , <2.0.0", "1.x || >=3.0.0", "<1.0.0 || >2.0.0",
    "1.0 - 2.0 || 3.x", "^1.3.0-0", ">=1.3.0-rc.2", ">=1.3.0-1", "1.2.3-rc.1",
    ">=1.0.0-0 <2.0.0", "<2.0.0 || >=3.0.0-0", ">=1.0.0-0", ">1.0, 1.2 - 1.4",
    "0.x || 1.2 - 1.4", "2025.x", ">=01.2", "^01", "~2025.01", "!=1.5.0", "~2.0.0-rc.1",
    "1.x || >=3.0.0-0", ">=1.2.0-0 <1.3.0", ">=2025.1", "^0.x", ">=2.0.0-rc.1",
    # Malformed: both must refuse.
    "1.2 ||", "|| 1.2", "latest", ">= bar", "> = 1.2", "^1.2.q", "1.2.3.4", "~1.2~1.3",
    "1.2.3,", ">=1.0,,<2.0", "1x.2", "1.2.3-01", ">=1.0 - 2.0", ">1 1.2 - 1.4",
    "1|2", ">=18446744073709551616", "1.2.3 -", "- 1.2", "1 - 2 - 3", "1.2.3\n",
    "||".join(["1.x"] * 32), "||".join(["1.x"] * 33), "1.x " * 128, " 1.x" * 129,
]  # fmt: skip


def go_program() -> Path:
    return golden_program("semver", "compare semver ranges with Masterminds/semver")


@pytest.fixture(scope="module")
def go_answers() -> dict[str, Any]:
    stdin = json.dumps({"versions": VERSIONS, "ranges": RANGES})
    ran = subprocess.run(
        [go_program()], input=stdin, capture_output=True, text=True, timeout=120, check=False
    )
    assert ran.returncode == 0, ran.stderr
    answers: dict[str, Any] = json.loads(ran.stdout)
    return answers


def parsed_versions() -> list[tuple[str, Version]]:
    found = [(text, parse_version(text)) for text in VERSIONS]
    return [(text, version) for text, version in found if version is not None]


def test_the_tables_mean_something(go_answers: dict[str, Any]) -> None:
    assert 60 < sum(go_answers["versions"]) < len(VERSIONS)
    assert 70 < sum(go_answers["ranges"]) < len(RANGES)


def test_the_same_strings_are_versions(go_answers: dict[str, Any]) -> None:
    ours = {text: parse_version(text) is not None for text in VERSIONS}
    theirs = dict(zip(VERSIONS, go_answers["versions"], strict=True))
    assert ours == theirs


def test_the_same_ranges_parse(go_answers: dict[str, Any]) -> None:
    def parses(text: str) -> bool:
        try:
            parse_range(text)
        except InvalidRangeError:
            return False
        return True

    assert {text: parses(text) for text in RANGES} == dict(
        zip(RANGES, go_answers["ranges"], strict=True)
    )


def test_every_range_contains_the_same_versions(go_answers: dict[str, Any]) -> None:
    versions = parsed_versions()
    different = []
    for text, checks in zip(RANGES, go_answers["checks"], strict=True):
        if not checks:
            continue
        parsed = parse_range(text)
        for (tag, version), theirs in zip(versions, checks, strict=True):
            if parsed.contains(version) is not theirs:
                different.append(f"{text!r} contains {tag!r}: Go says {theirs}")
    assert different == []


def test_versions_are_ordered_the_same(go_answers: dict[str, Any]) -> None:
    versions = parsed_versions()
    different = []
    for (left, a), row in zip(versions, go_answers["order"], strict=True):
        for (right, b), theirs in zip(versions, row, strict=True):
            ours = (a.precedence > b.precedence) - (a.precedence < b.precedence)
            if ours != theirs:
                different.append(f"{left!r} vs {right!r}: Go says {theirs}, lockstep {ours}")
    assert different == []
