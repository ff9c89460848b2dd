"""Which objects a rule is for: Flux's kustomize ``Selector`` over plain object dictionaries.

``group``, ``version``, ``kind``, ``name`` and ``namespace`` are regular
expressions that must match the whole value (``web`` selects ``web``, not
``web-2``; ``web-.*`` selects both); ``label_selector`` and
``annotation_selector`` are Kubernetes label-selector expressions
(``app=web,tier in (front,back),!legacy``) evaluated against the object's labels
and annotations. An empty field selects every object.

Called by :mod:`lockstep.apply.ignore` to pick the objects an ignore rule covers.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Operator = Literal["=", "!=", "in", "notin", "exists", "!", ">", "<"]

_TOKEN = re.compile(r"\s*(?:(?P<operator>==|!=|=|!|<|>|\(|\)|,)|(?P<word>[^\s,()=!<>]+))")
_KEY = re.compile(r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_INTEGER = re.compile(r"-?[0-9]+")


@dataclass(frozen=True)
class Requirement:
    """One term of a label selector, e.g. ``tier in (front,back)``."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key, "")
        match self.operator:
            case "=" | "in":
                return present and value in self.values
            case "!=" | "notin":
                return not present or value not in self.values
            case "exists":
                return present
            case "!":
                return not present
            case ">" | "<":
                if not present or not _INTEGER.fullmatch(value):
                    return False
                bound = int(self.values[0])
                return int(value) > bound if self.operator == ">" else int(value) < bound


@functools.lru_cache(maxsize=256)
def parse_label_selector(expression: str) -> tuple[Requirement, ...]:
    """The requirements of a label-selector expression, all of which must hold.

    Raises ValueError naming the expression when it cannot be read.
    """
    try:
        return _Parser(expression).requirements()
    except ValueError as error:
        raise ValueError(f'label selector "{expression}" is invalid: {error}') from None


def matches_label_selector(expression: str, labels: Mapping[str, str]) -> bool:
    return all(requirement.matches(labels) for requirement in parse_label_selector(expression))


@dataclass(frozen=True)
class Selector:
    """Objects chosen by kind, name, namespace, labels and annotations; empty fields match all.

    Raises ValueError on construction when a regular expression or selector
    expression cannot be read.
    """

    group: str = ""
    version: str = ""
    kind: str = ""
    name: str = ""
    namespace: str = ""
    label_selector: str = ""
    annotation_selector: str = ""

    def __post_init__(self) -> None:
        for field in ("group", "version", "kind", "name", "namespace"):
            pattern = getattr(self, field)
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(
                    f'selector {field} "{pattern}" is not a regular expression: {error}'
                ) from None
        parse_label_selector(self.label_selector)
        parse_label_selector(self.annotation_selector)

    def matches(self, obj: Mapping[str, Any]) -> bool:
        group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
        metadata = obj.get("metadata") or {}
        return (
            _matches_whole(self.group, group)
            and _matches_whole(self.version, version)
            and _matches_whole(self.kind, str(obj.get("kind", "")))
            and _matches_whole(self.name, str(metadata.get("name", "")))
            and _matches_whole(self.namespace, str(metadata.get("namespace", "") or ""))
            and matches_label_selector(self.label_selector, metadata.get("labels") or {})
            and matches_label_selector(self.annotation_selector, metadata.get("annotations") or {})
        )


def _matches_whole(pattern: str, value: str) -> bool:
    return not pattern or re.fullmatch(pattern, value) is not None


class _Parser:
    """A recursive-descent reader of label-selector expressions, one requirement at a time."""

    def __init__(self, expression: str) -> None:
        self._tokens = _tokenize(expression)
        self._position = 0

    def requirements(self) -> tuple[Requirement, ...]:
        if not self._tokens:
            return ()
        requirements = [self._requirement()]
        while self._peek() == ",":
            self._position += 1
            requirements.append(self._requirement())
        if self._peek() is not None:
            raise ValueError(f'unexpected "{self._peek()}"')
        return tuple(requirements)

    def _requirement(self) -> Requirement:
        if self._peek() == "!":
            self._position += 1
            return Requirement(self._key(), "!")
        key = self._key()
        operator = self._peek()
        if operator in (None, ","):
            return Requirement(key, "exists")
        self._position += 1
        if operator in ("=", "==", "!="):
            value = self._value() if self._peek() not in (None, ",") else ""
            return Requirement(key, "!=" if operator == "!=" else "=", (value,))
        if operator in ("in", "notin"):
            return Requirement(key, "in" if operator == "in" else "notin", self._value_set())
        if operator in (">", "<"):
            bound = self._take("an integer")
            if not _INTEGER.fullmatch(bound):
                raise ValueError(f'"{bound}" after "{operator}" is not an integer')
            return Requirement(key, ">" if operator == ">" else "<", (bound,))
        raise ValueError(f'"{operator}" after "{key}" is not an operator')

    def _value_set(self) -> tuple[str, ...]:
        self._expect("(")
        values = [self._value()]
        while self._peek() == ",":
            self._position += 1
            values.append(self._value())
        self._expect(")")
        return tuple(values)

    def _key(self) -> str:
        key = self._take("a key")
        if not _KEY.fullmatch(key):
            raise ValueError(f'"{key}" is not a label key')
        return key

    def _value(self) -> str:
        value = self._take("a value")
        if not _VALUE.fullmatch(value):
            raise ValueError(f'"{value}" is not a label value')
        return value

    def _expect(self, token: str) -> None:
        if self._take(f'"{token}"') != token:
            raise ValueError(f'expected "{token}"')

    def _take(self, what: str) -> str:
        token = self._peek()
        if token is None:
            raise ValueError(f"expected {what} at the end")
        self._position += 1
        return token

    def _peek(self) -> str | None:
        return self._tokens[self._position] if self._position < len(self._tokens) else None


def _tokenize(expression: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    while expression[position:].strip():
        token = _TOKEN.match(expression, position)
        if token is None:
            raise ValueError(f'unexpected "{expression[position:].strip()}"')
        tokens.append(token.group("operator") or token.group("word"))
        position = token.end()
    return tokens
