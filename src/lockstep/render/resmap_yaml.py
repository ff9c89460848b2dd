"""Objects as YAML text, byte for byte as Kustomize prints a build (``ResMap.AsYaml``).

Flux's kustomize-controller keys each ``status.history`` entry by the sha256 of its
build as Kustomize prints it, after decryption and postBuild substitution and before
``commonMetadata``. lockstep keys its history the same way (:func:`build_digest`), so a
Kustomization taken over from Flux keeps counting up Flux's entry for the same objects.

Kustomize prints every object through ``sigs.k8s.io/yaml`` over go-yaml v2, whose
choices this module makes:

- keys in go-yaml's order: letters before other characters, runs of digits compared as
  numbers (``b9`` before ``b10``);
- a string is plain unless go-yaml would read it back as another type (the YAML 1.1
  booleans ``y``/``on``/``off``…, null, numbers in any base, timestamps, sexagesimal
  floats), then double-quoted; a string with a line break is a literal block;
- numbers as they come out of a round trip through JSON (a float without a fraction is
  an integer), floats in Go's shortest form (``1e+21``); integers as they are (Flux
  reads a substituted object back through ``float64``, which rounds integers beyond
  2**53; manifests do not hold such numbers);
- empty maps and lists in flow style, lines folded at 80 columns, objects separated by
  ``---``.

The writing itself is libyaml's (PyYAML's C emitter; go-yaml's emitter is a port of it),
which may still quote a plain string that cannot be written plain (``- x``, ``a: b``).
Written by hand because no Python library picks go-yaml v2's styles and key order;
``tests/golden/resmapyaml`` compares the output with Kustomize's own.

:func:`go_yaml_document` writes one document the same way but for its keys, sorted byte
by byte as Flux sorts a HelmRelease's values before it digests them
(:func:`lockstep.controllers.helm.values.config_digest`).
"""

from __future__ import annotations

import base64
import calendar
import functools
import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_WIDTH = 80

_TRUE = ("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON")
_FALSE = ("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF")
_NULL = ("", "~", "null", "Null", "NULL")
_SPECIAL_FLOATS = (".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF")
_NOT_STRINGS = frozenset(
    _TRUE
    + _FALSE
    + _NULL
    + _SPECIAL_FLOATS
    + tuple(f"{sign}{word}" for sign in "+-" for word in (".inf", ".Inf", ".INF"))
)
"""go-yaml v2's plain words that are not strings."""

_GO_INT = re.compile(r"[+-]?(?:0[bB][01]+|0[oO][0-7]+|0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
_YAML_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_DOT_FLOAT = re.compile(r"\.[0-9](?:_?[0-9])*(?:[eE][-+]?[0-9](?:_?[0-9])*)?")
_BASE60_FLOAT = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_DATE = r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})"
_CLOCK = r"([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:[.,][0-9]+)?"
_TIMESTAMPS = (
    re.compile(_DATE),
    re.compile(_DATE + " +" + _CLOCK),
    re.compile(_DATE + "[Tt]" + _CLOCK + r"(?:Z|[+-]([0-9]{2}):([0-9]{2}))"),
)
_INT64 = 1 << 63
_UINT64 = 1 << 64


class _Emitter(yaml.CSafeDumper):
    """libyaml's emitter with no implicit types: every scalar's style is chosen here."""


_Emitter.yaml_implicit_resolvers = {}


def build_digest(objects: Iterable[Mapping[str, Any]]) -> str:
    """``sha256:<hex>`` of the objects as Kustomize prints them: Flux's history digest."""
    return f"sha256:{hashlib.sha256(as_yaml(objects).encode()).hexdigest()}"


def as_yaml(objects: Iterable[Mapping[str, Any]]) -> str:
    """The objects as Kustomize's ``ResMap.AsYaml`` prints them."""
    return "---\n".join(_document(obj) for obj in objects)


def _document(obj: Mapping[str, Any], *, keys_bytewise: bool = False) -> str:
    text = yaml.serialize(
        _node(obj, keys_bytewise), Dumper=_Emitter, width=_WIDTH, allow_unicode=True
    )
    # libyaml ends a document whose last block keeps its trailing line breaks with
    # the end marker; go-yaml does not.
    return text.removesuffix("\n...\n") + "\n" if text.endswith("\n...\n") else text


def go_yaml_document(value: Mapping[str, Any]) -> str:
    """``value`` as go-yaml v2 writes a document of it whose maps were sorted byte by byte
    beforehand (a ``MapSlice``, as Flux sorts Helm values before digesting them)."""
    return _document(value, keys_bytewise=True)


def _node(value: Any, keys_bytewise: bool = False) -> Node:
    if isinstance(value, Mapping):
        order = None if keys_bytewise else functools.cmp_to_key(_key_order)
        keys = sorted((_key_text(key) for key in value), key=order)
        texts = {_key_text(key): item for key, item in value.items()}
        pairs = [(_string(key), _node(texts[key], keys_bytewise)) for key in keys]
        return MappingNode(_MAP, pairs, flow_style=not pairs)
    if isinstance(value, list | tuple):
        items = [_node(item, keys_bytewise) for item in value]
        return SequenceNode(_SEQ, items, flow_style=not items)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, bytes):
        # A ``!!binary`` value: Kustomize keeps the base64 text it was written as.
        return _string(base64.b64encode(value).decode())
    return ScalarNode(_STR, _scalar_text(value), style=None)


def _key_text(key: Any) -> str:
    """A key as JSON writes it: objects' keys are strings."""
    return key if isinstance(key, str) else _scalar_text(key)


def _scalar_text(value: Any) -> str:
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number_text(value)
    return str(value)


def _string(text: str) -> ScalarNode:
    if "\n" in text:
        style: str | None = "|"
    elif _reads_as_string(text) and not _BASE60_FLOAT.fullmatch(text):
        style = None
    else:
        style = '"'
    return ScalarNode(_STR, text, style=style)


def _reads_as_string(text: str) -> bool:
    """Whether go-yaml v2 reads ``text``, written plain, back as a string."""
    if text in _NOT_STRINGS:
        return False
    first = text[0]
    if first == ".":
        return not _is_float(text, _DOT_FLOAT)
    if not (first.isascii() and (first.isdigit() or first in "+-")):
        return True
    if _is_timestamp(text):
        return False
    plain = text.replace("_", "")
    if _GO_INT.fullmatch(plain) and _fits(plain):
        return False
    return not _is_float(plain, _YAML_FLOAT)


def _is_float(text: str, syntax: re.Pattern[str]) -> bool:
    """Whether Go's ParseFloat reads ``text`` (in ``syntax``) without a range error."""
    return bool(syntax.fullmatch(text)) and not math.isinf(float(text.replace("_", "")))


def _fits(plain: str) -> bool:
    """Whether the Go integer literal ``plain`` fits an int64, or a uint64 when unsigned."""
    value = int(plain, 0) if not re.fullmatch(r"[+-]?0[0-7]+", plain) else int(plain, 8)
    if plain[0] in "+-":
        return -_INT64 <= value < _INT64
    return value < _UINT64


def _is_timestamp(text: str) -> bool:
    """Whether Go's time.Parse reads ``text`` in one of go-yaml's timestamp layouts."""
    for layout in _TIMESTAMPS:
        match = layout.fullmatch(text)
        if match is None:
            continue
        year, month, day = (int(part) for part in match.groups()[:3])
        if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year or 2000, month)[1]):
            return False
        if layout is _TIMESTAMPS[0]:
            return True
        hour, minute, second = (int(part) for part in match.groups()[3:6])
        if hour > 23 or minute > 59 or second > 59:
            return False
        zone = match.groups()[6:]
        return not zone or zone[0] is None or (int(zone[0]) <= 24 and int(zone[1]) <= 60)
    return False


def _number_text(value: float) -> str:
    """A float after a round trip through JSON, as go-yaml writes it: Go's JSON text of
    it read back as an integer when it has no fraction and fits 64 bits, else Go's
    shortest ``%g``."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    sign = "-" if value < 0 else ""
    digits, point = _shortest_digits(abs(value))
    if value.is_integer() and abs(value) < 1e21:
        whole = digits + "0" * (point - len(digits)) if value else "0"
        number = int(sign + whole)
        if -_INT64 <= number < _UINT64:
            return str(number)
    if not -4 <= point - 1 < 6:
        power = point - 1
        fraction = "." + digits[1:] if len(digits) > 1 else ""
        return f"{sign}{digits[0]}{fraction}e{'-' if power < 0 else '+'}{abs(power):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _shortest_digits(value: float) -> tuple[str, int]:
    """The shortest digits that read back as ``value`` (as Go's and Python's float
    printing find them) and where the decimal point goes after the first ``point``."""
    _, digit_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    return digits, len(digits) + int(exponent)


def _key_order(a: str, b: str) -> int:
    """go-yaml v2's order of string keys, as a comparison."""
    if _key_less(a, b):
        return -1
    return 1 if _key_less(b, a) else 0


def _key_less(a: str, b: str) -> bool:
    """go-yaml v2's ``keyList.Less`` for two strings."""
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x == y:
            continue
        x_letter, y_letter = x.isalpha(), y.isalpha()
        if x_letter and y_letter:
            return x < y
        if x_letter or y_letter:
            return y_letter
        lead = 0
        if x == "0" or y == "0":
            j = i - 1
            while j >= 0 and a[j].isdecimal():
                if a[j] != "0":
                    lead = 1
                    break
                j -= 1
        x_end, x_number = _number_at(a, i, lead)
        y_end, y_number = _number_at(b, i, lead)
        if x_number != y_number:
            return x_number < y_number
        if x_end != y_end:
            return x_end < y_end
        return x < y
    return len(a) < len(b)


def _number_at(text: str, start: int, number: int) -> tuple[int, int]:
    """Where the run of digits at ``start`` ends, and its value after ``number``, as
    go-yaml reads it."""
    end = start
    while end < len(text) and text[end].isdecimal():
        number = number * 10 + ord(text[end]) - ord("0")
        end += 1
    return end, number
