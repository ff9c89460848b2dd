"""Objects printed by :mod:`lockstep.render.resmap_yaml` and by Kustomize's own
``ResMap.AsYaml`` (tests/golden/resmapyaml, a small Go program on the Kustomize and
go-yaml modules Flux's kustomize-controller pins), compared byte for byte: the digest
lockstep records in ``status.history`` is Flux's only if the text is the same.

The Go program is built once and cached under ``~/.cache/lockstep``, named by the hash
of its sources. Go is a prerequisite of ``make install``: without it this test fails.
"""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ground.golden import golden_program
from lockstep.render.resmap_yaml import as_yaml, build_digest


def words(text: str) -> list[str]:
    return text.split()


STRINGS = [
    # What go-yaml reads back as another type, and what it does not.
    *words("y Y yes Yes YES n N no NO on On ON off OFF true True TRUE false FALSE"),
    *words("yEs oN nO tRUE ~ null Null NULL nULL <<"),
    *words(".nan .NaN .NAN .inf .Inf -.inf +.INF .iNf .5 .5e3 ._5 .5_0 .5e1_0 .e5 . .. .5."),
    *words("0 00 07 08 0o17 0O17 0x1F 0X1f 0b101 -0b101 +0b1 0b 0x 0o 1_000 1__0 _1 1_"),
    *words("-0 +0 -1 +1 - + -- 1e3 1E3 1e+3 1e-3 1.5 1. 1.e3 -1.5e-3 1e400 -1e400 1e-400"),
    *words("9223372036854775807 9223372036854775808 -9223372036854775808 -9223372036854775809"),
    *words("18446744073709551615 18446744073709551616 99999999999999999999999 0xFFFFFFFFFFFFFFFFF"),
    *words("0x1p-2 1:20 -1:20 1:20:30.5 1:60 1_0:20 190:20:30 12:30 1:2:3"),
    *words("2024-01-01 2024-1-1 2024-02-30 2024-02-29 2023-02-29 0000-02-29 2024-13-01 2024-00-10"),
    *words("2024-01-01T10:00:00Z 2024-01-01t10:00:00Z 2024-01-01T10:00:00+02:00 2024-1-1T1:2:3Z"),
    *words("2024-01-01T24:00:00Z 2024-01-01T10:60:00Z 2024-01-01T10:00:00.123456789Z"),
    *words("2024-01-01T10:00:00,5Z 2024-01-01T10:00:00 2024-01-01T10:00:00+25:00 20240101 2024-01"),
    "2024-01-01 10:00:00",
    "2024-01-01 10:00:00.5",
    "2024-01-01  10:00:00",
    # Strings libyaml cannot write plain.
    *words("- -x ? ?x : :x a:b a: #a a#b & * ! | > ' \" % @ ` , [ ] { } [a] {a} a,b"),
    "",
    " ",
    " lead",
    "trail ",
    "a: b",
    "a #b",
    "tab\there",
    "\ttab",
    "back\\slash",
    "quote'in",
    'dquote"in',
    "unicode été € 😀",
    "\u00a0nbsp",
    "\x07bell",
    "--- document",
    "... end",
    "%YAML",
    "$HOME ${VAR}",
    # Multi-line.
    "line1\nline2",
    "line1\nline2\n",
    "line1\nline2\n\n",
    "\nleading break",
    "  indented\nsecond",
    "trailing space \nnext",
    "tab\tin\nblock",
    "\n",
    "\n\n",
    "a\n\nb\n",
    "#!/bin/sh\necho hi\n",
    "ends with spaces\n  ",
    # Long lines, folded at 80 columns.
    " ".join(["word"] * 40),
    "x" * 200,
    " ".join(["long-" * 10] * 5),
    '"' + " ".join(["quoted"] * 30) + '"',
    "yes " * 30,
    "a: " + "b " * 60,
    "multi\n" + " ".join(["word"] * 40) + "\nend",
]

# go-yaml's key order is not transitive: a01 < a0b < a1 < a01, so Go prints such keys in
# a random order (Flux's digest of them varies from run to run); "a0b" is left out.
KEYS = [
    "a",
    "b",
    "A",
    "B",
    "_a",
    "-a",
    "a1",
    "a2",
    "a10",
    "a01",
    "a001",
    "a0",
    "a00",
    "b9",
    "b10",
    "1",
    "2",
    "10",
    "01",
    "x-1",
    "x_1",
    "x.1",
    "x1y",
    "x10y",
    "é",
    "z",
    "Z",
    "0",
    "00",
    "app.kubernetes.io/name",
    "app.kubernetes.io/part-of",
    "a/b",
    "a.b",
    "a-b",
    "10.0.0.1",
]

ALPHABET = [*" :#-?[]{},&*!|>'\"%@`\t\\.+_eExob0123456789aZ", "é", "😀", "\n", "yes", "null"]
NUMBERISH = [*"0123456789+-._eExob:TZ ", "0x", "0o"]


def generated_strings(count: int, pieces: list[str], seed: int) -> list[str]:
    """Random strings, less multi-line ones that start with a tab: go-yaml writes them
    as a literal block it cannot read back, so Kustomize fails on them."""
    chooser = random.Random(seed)
    texts = ["".join(chooser.choices(pieces, k=chooser.randint(1, 12))) for _ in range(count)]
    return [text for text in texts if not (text.startswith("\t") and "\n" in text)]


def generated_floats(count: int) -> list[float]:
    chooser = random.Random(7)
    floats = [0.5, -0.25, 1.0, -0.0, 1e6, 1e21, 1e22, 1e-7, 1.5e-5, 0.0001, 123456.5, 1234567.5]
    floats += [0.1 + 0.2, 2.5e-300, 1.7976931348623157e308, 100.0, 3.14159]
    for _ in range(count):
        floats.append(chooser.uniform(-1, 1) * 10 ** chooser.randint(-12, 24))
    return floats


def object_with(value: Any, name: str = "c") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "annotations": {"v": value}},
        "spec": {"value": value, "list": [value, {"in": value}], "nested": {"deep": [[value]]}},
    }


def cases() -> list[list[dict[str, Any]]]:
    found: list[list[dict[str, Any]]] = []
    strings = STRINGS + generated_strings(400, ALPHABET, 11) + generated_strings(400, NUMBERISH, 5)
    for text in strings:
        obj = object_with(text)
        if text and "<<" not in text:  # a merge key: Kustomize refuses the object
            obj["spec"][text] = "as a key"
        found.append([obj])
    for number in generated_floats(150):
        found.append([object_with(number)])
    for value in (0, 1, -1, 2**53, -(2**53), True, False, None, [], {}, [[]], [{}]):
        found.append([object_with(value)])
    chooser = random.Random(3)
    for _ in range(60):
        keys = chooser.sample(KEYS, k=chooser.randint(2, len(KEYS)))
        obj = object_with("x")
        obj["spec"]["keys"] = {key: index for index, key in enumerate(keys)}
        found.append([obj])
    found.append([object_with("one", "a"), object_with("two", "b"), object_with("", "c")])
    return found


CASES = cases()


def go_program() -> Path:
    return golden_program("resmapyaml", "compare printed builds with Kustomize's ResMap.AsYaml")


@pytest.fixture(scope="module")
def go_results() -> list[dict[str, str]]:
    ran = subprocess.run(
        [go_program()],
        input=json.dumps(CASES, ensure_ascii=False),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    results: list[dict[str, str]] = json.loads(ran.stdout)
    assert len(results) == len(CASES)
    return results


def test_there_are_enough_cases_to_mean_something() -> None:
    assert len(CASES) >= 1200


@pytest.mark.parametrize(
    "number",
    range(len(CASES)),
    ids=[
        f"{number}:{json.dumps(case[0]['spec']['value'])[:40]}" for number, case in enumerate(CASES)
    ],
)
def test_python_prints_as_kustomize(number: int, go_results: list[dict[str, str]]) -> None:
    assert go_results[number] == {"output": as_yaml(CASES[number])}


def test_the_digest_is_sha256_of_the_printed_build() -> None:
    objects = [object_with("one", "a"), object_with("two", "b")]
    assert build_digest(objects) == build_digest([dict(reversed(obj.items())) for obj in objects])
    assert build_digest(objects) != build_digest(list(reversed(objects)))
    assert build_digest([]) == (
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


def test_binary_values_print_as_their_base64_text() -> None:
    assert as_yaml([{"data": b"\x00\x01"}]) == "data: AAE=\n"
