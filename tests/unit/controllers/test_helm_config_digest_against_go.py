"""The digest of a HelmRelease's values (``lastAttemptedConfigDigest``,
``history[].configDigest``) by :func:`lockstep.controllers.helm.values.config_digest` and
by Flux's own ``DigestValues`` of ``fluxcd/pkg/chartutil`` (tests/golden/valuesdigest, at
the version Flux's helm-controller pins), compared byte for byte on values that test
go-yaml's quoting, folding and numbers: a release taken over from Flux keeps its digest
only if they are the same.

The Go program is built once and cached under ``~/.cache/lockstep``, named by the hash
of its sources. Go is a prerequisite of ``make install``: without it this test fails.
"""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
from typing import Any

import pytest

from ground.golden import golden_program
from lockstep.controllers.helm.values import config_digest
from unit.render.test_resmap_yaml_against_go import (
    ALPHABET,
    KEYS,
    NUMBERISH,
    STRINGS,
    generated_floats,
    generated_strings,
)

TRICKY: list[dict[str, Any]] = [
    {},
    {"greeting": "hello", "replicas": 1},
    {"empty": {}, "list": [], "null": None, "nested": {"empty": {}, "items": [{}, [], None]}},
    {"booleans": [True, False], "strings": ["true", "false", "yes", "no", "on", "off", "null"]},
    {"numbers": ["1", "007", "0x1F", "1e3", "1.5", ".inf", "1:20", "1_000", "+1", "-0"]},
    {"dates": ["2024-01-01", "2024-01-01T10:00:00Z", "2024-01-01 10:00:00"]},
    {"long": " ".join(["word"] * 40), "unbroken": "x" * 200, "url": "https://e.x/" + "a/" * 50},
    {"multiline": "line1\nline2\n", "script": "#!/bin/sh\necho hi\n", "trailing": "a\n\n"},
    {"unicode": "été € 😀", "nbsp": "\u00a0x", "bell": "\x07", "tab": "a\tb", "nel": "a\u0085b"},
    {"quotes": 'it\'s "quoted"', "colon": "a: b", "hash": "a #b", "dash": "- x", "empty": ""},
    {"ints": [0, 1, -1, 2**53, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), 10**30]},
    {"floats": [0.5, -0.0, 1e-7, 1e21, 1e6, 123456.789, 1234567.5, 1.7976931348623157e308]},
    {"keys": dict.fromkeys(KEYS, "v")},
    {"deep": {"a": [{"z": 1, "a": [{"y": 2, "b": 3}]}], "Z": {"b": {"a": None}}}},
    {"tab-led": "\tcode\nmore", "space-led": "  indented\nsecond", "break-led": "\nx"},
]


def go_digests(cases: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Flux's digest of each case, and the text it digested."""
    program = golden_program("valuesdigest", "digest Helm values as Flux does")
    done = subprocess.run(
        [str(program)], input=json.dumps(cases), capture_output=True, text=True, check=True
    )
    results: list[dict[str, str]] = json.loads(done.stdout)
    return results


def assert_same_as_go(cases: list[dict[str, Any]]) -> None:
    for case, flux in zip(cases, go_digests(cases), strict=True):
        assert "error" not in flux, (case, flux)
        text = flux["text"]
        assert hashlib.sha256(text.encode()).hexdigest() == flux["digest"].split(":")[1]
        assert config_digest(case) == flux["digest"], (case, text)


def test_tricky_values_digest_as_flux_does() -> None:
    assert_same_as_go(TRICKY)


def test_strings_digest_as_flux_does() -> None:
    strings = (
        STRINGS
        + generated_strings(400, ALPHABET, seed=15)
        + ["\t" + text for text in generated_strings(100, ALPHABET, seed=16)]
    )
    assert_same_as_go([{"s": text} for text in strings] + [{text: 1} for text in strings if text])


def test_numbers_digest_as_flux_does() -> None:
    chooser = random.Random(17)
    integers = [chooser.randint(-(2**70), 2**70) for _ in range(200)]
    numbers: list[int | float] = [*integers, *generated_floats(300)]
    assert_same_as_go([{"n": number} for number in numbers])
    assert_same_as_go([{"n": text} for text in generated_strings(300, NUMBERISH, seed=18)])


@pytest.mark.parametrize(
    ("values", "text"),
    [
        ({}, ""),
        ({"b": 1, "a": {"d": [], "c": {}}}, "a:\n  c: {}\n  d: []\nb: 1\n"),
        ({"a10": 1, "a9": 2, "B": 3}, "B: 3\na10: 1\na9: 2\n"),
        (
            {"n": 2**53 + 1, "f": 1.0, "g": 1e21, "h": 0.1},
            'f: 1\ng: 1e+21\nh: 0.1\n"n": 9007199254740992\n',
        ),
        ({"s": "true", "t": "007", "u": "1.5"}, 's: "true"\nt: "007"\nu: "1.5"\n'),
        ({"s": "a\nb"}, "s: |-\n  a\n  b\n"),
    ],
)
def test_digest_is_of_flux_yaml(values: dict[str, Any], text: str) -> None:
    """Keys sorted byte by byte (not go-yaml's own order), numbers read as float64,
    strings (keys too) that would read back as another type quoted, nothing at all for
    no values."""
    assert config_digest(values) == f"sha256:{hashlib.sha256(text.encode()).hexdigest()}"
