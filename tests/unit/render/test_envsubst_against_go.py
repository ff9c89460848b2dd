"""postBuild expressions expanded by the Python engine and by the envsubst library Flux's
kustomize-controller uses (tests/golden/envsubst, a small Go program on the pinned
module), compared byte for byte in lenient and strict mode; where Go fails, Python must
fail with the same message.

The Go program is built once and cached under ``~/.cache/lockstep``, named by the hash
of its sources. Go is a prerequisite of ``make install``: without it this test fails.
"""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest

from ground.golden import golden_program
from lockstep.render.envsubst import EnvsubstError, expand

VARIABLES = {
    "a": "alpha",
    "empty": "",
    "n": "42",
    "path": "/usr/local/bin/tool.tar.gz",
    "mixed": "Hello World",
    "unicode": "été-ÄÖ",
    "dollar": "$HOME ${x}",
    "_under9": "u",
    "é": "accent",
    "1": "one",
    "neg": "-2",
}

TEXTS = [
    # Plain text, escapes and braceless forms.
    "",
    "no expressions at all",
    "$a and $$a and $$$a",
    "$${a} and $$${a} and $$$${a}",
    "$$ alone, $ alone, trailing $",
    "a $ {a} b",
    "${a}",
    "x-${a}-y${n}z",
    "${undefined}",
    "pre-${undefined}-post",
    "${_under9} ${é} ${1} ${9lives}",
    "${dollar}",
    "} stray { braces }",
    # Defaults.
    "${a:=fallback} ${undefined:=fallback} ${empty:=fallback}",
    "${a:-fallback} ${undefined:-fallback} ${empty:-fallback}",
    "${a=fallback} ${undefined=fallback} ${empty=fallback}",
    "${a:+alt} ${undefined:+alt} ${empty:+alt}",
    "${a:?msg} ${undefined:?msg} ${empty:?msg}",
    "${undefined:=with space and: colon, and = sign}",
    "${undefined:=}",
    "${undefined:-${a}} ${undefined:-x${a}y} ${undefined:-${undefined:-deep}}",
    "${undefined:-$a} ${undefined:-$${a}} ${undefined:-$$}",
    "${undefined:-a\\/b}",
    "${a-fallback}",
    "${a+alt}",
    "${a?msg}",
    # Length and case.
    "${#a} ${#empty} ${#unicode} ${#undefined}",
    "${#}",
    "${##a}",
    "${mixed^} ${mixed^^} ${mixed,} ${mixed,,} ${unicode^^} ${unicode,,}",
    "${a^} ${empty^^} ${mixed,^}",
    "${mixed^^^}",
    # Substrings.
    "${a:1} ${a:1:2} ${a:0:0} ${a:10} ${a:3:100} ${a:-2} ${a: -2}",
    "${a:1:-1} ${a:4:-3} ${a:x} ${a:1:y} ${a:+1} ${a:${n}} ${a:1::2}",
    "${path:${neg}}",
    "${a:}",
    "${a:1:}",
    "${a:1${n}}",
    # Trimming.
    "${path#*/} ${path##*/} ${path%.*} ${path%%.*}",
    "${path#/usr} ${path%gz} ${path#nomatch} ${path#} ",
    "${path#?} ${path##[/a-z]*} ${path%[.]gz} ${path%%[^a-z]*}",
    "${path##*[}",
    "${path%%\\*} ${path#\\/}",
    "${path##*l} ${path#*l}",
    "${unicode#?} ${unicode%?} ${unicode#é} ${unicode##*-}",
    "${path#${undefined:-/usr}}",
    "${path#[} ${path#[a} ${path#[]} ${path#[^/]} ${path#[!/]*} ${path#\\}",
    "${path##*[a-]} ${path##*[-a]} ${path##*[\\]]} ${path%%/*} ${path#*}",
    "${unicode:1:2} ${unicode:2} ${unicode#[a-zé]} ${unicode%%[Ö]}",
    "${mixed#H*o} ${mixed##H*o} ${mixed%o*} ${mixed%%o*} ${mixed#*}",
    "${path#x${a}}",
    # Replacement.
    "${path/o/0} ${path//o/0} ${path/#\\/usr/USR} ${path/%gz/GZ}",
    "${path/o} ${path//o} ${path//o/} ${path/#nope/x} ${path/%nope/x}",
    "${a///-} ${a//} ${a/#/>} ${a/%/<}",
    "${a/a/$$} ${a/l/\\\\} ${a//a/${n}}",
    "${a/l/x}y}",
    "${a/x",
    "${a/x/y",
    # Syntax errors.
    "${",
    "${}",
    "${ a}",
    "${a }",
    "${-}",
    "${a",
    "${a:-unterminated",
    "${a:1",
    "${a#",
    "${a^",
    "${a!}",
    "${a.b}",
    "text ${a} then ${broken",
    "${a:é}",
    "${é:1} ${a:",
    # YAML-like text as objects carry it.
    'data:\n  key: "${a}"\n  script: |\n    echo $HOME ${undefined:=x} $$\n',
]

STRICT_TEXTS = [
    "${a} ${empty}",
    "${undefined}",
    "pre-${undefined}",
    "${undefined:=d} ${undefined:-d} ${undefined=d} ${undefined:+d} ${undefined:?d}",
    "${#undefined}",
    "${undefined^^}",
    "${undefined:1}",
    "${undefined#x}",
    "${undefined/x/y}",
    "${a:-${undefined}}",
    "${undefined:-${a}}",
    "$${undefined} $undefined",
    "${é} ${undefined_é}",
]


def generated_texts(count: int = 2000) -> list[str]:
    """Short random texts of expression fragments: they reach the parser's corners."""
    pieces = [*"${}:-=+?#%/^,\\ab_1é*[]!. ", "${", "${a", "${path", "${undefined", "$$", "}"]
    chooser = random.Random(12)
    return ["".join(chooser.choices(pieces, k=chooser.randint(1, 16))) for _ in range(count)]


GENERATED = generated_texts()

CASES = (
    [(text, False) for text in TEXTS]
    + [(text, True) for text in TEXTS + STRICT_TEXTS]
    + [(text, number % 2 == 0) for number, text in enumerate(GENERATED)]
)


def go_program() -> Path:
    return golden_program("envsubst", "compare postBuild substitution with Flux's envsubst")


@pytest.fixture(scope="module")
def go_results() -> list[dict[str, str]]:
    program = go_program()
    stdin = json.dumps(
        [{"text": text, "variables": VARIABLES, "strict": strict} for text, strict in CASES]
    )
    ran = subprocess.run(
        [program], input=stdin, capture_output=True, text=True, timeout=120, check=False
    )
    assert ran.returncode == 0, ran.stderr
    results: list[dict[str, str]] = json.loads(ran.stdout)
    assert len(results) == len(CASES)
    return results


def test_there_are_enough_cases_to_mean_something() -> None:
    assert len(CASES) >= 2140


@pytest.mark.parametrize(
    "number",
    range(len(CASES)),
    ids=[
        f"{number}:{'strict ' if strict else ''}{text[:50]}"
        for number, (text, strict) in enumerate(CASES)
    ],
)
def test_python_expands_as_go(number: int, go_results: list[dict[str, str]]) -> None:
    text, strict = CASES[number]
    try:
        python = {"output": expand(text, VARIABLES, strict=strict)}
    except EnvsubstError as error:
        python = {"error": str(error)}
    assert python == go_results[number]
