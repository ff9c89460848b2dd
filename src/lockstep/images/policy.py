"""Which tag an ImagePolicy elects among the tags of its image repository, as Flux does.

The ImagePolicy controller turns the object's ``spec`` into a :class:`TagPolicy`
with :func:`policy_from_spec` (an unusable spec raises :class:`InvalidPolicyError`)
and calls :func:`select_tag` with the scanned tags; the result is the elected tag,
or None and a one-line reason for the object's status.

The steps follow Flux's image-reflector-controller:

1. ``filterTags``: tags the ``pattern`` (Python ``re``, searched, not anchored) does
   not match are dropped; ``extract`` (Go template syntax: ``$name``, ``${name}``,
   ``$1``, ``$$``) computes from the match the value the rule compares, while the
   original tag is what is elected. When two tags give the same value, the later wins.
2. The rule: ``semver`` elects the highest version within the range (see
   :mod:`lockstep.semver`; values that are not versions are skipped, and of
   equal versions the first wins); ``alphabetical`` elects the last value in
   ascending order, or with ``desc`` the first; ``numerical`` likewise by number,
   and fails when a value is not a decimal number. Numbers compare exactly, where
   Flux rounds them to float64.

Errors::

    ValueError
    └── InvalidPolicyError   the spec cannot be used: no rule, a bad range, order or pattern
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, TypeAlias

from lockstep.semver import (
    InvalidRangeError,
    Version,
    VersionRange,
    parse_range,
    parse_version,
)

SortOrder = Literal["asc", "desc"]
"""``asc`` elects the last tag in ascending order, ``desc`` the first."""

_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_TEMPLATE_REFERENCE = re.compile(r"\$(?:(?P<name>\w+)|\{(?P<braced>\w+)\}|(?P<dollar>\$))")


class InvalidPolicyError(ValueError):
    """The ImagePolicy spec cannot be used as written; the message names the field to fix."""


@dataclass(frozen=True)
class SemverRule:
    """``spec.policy.semver``: the highest version within a range."""

    range: str
    parsed: VersionRange = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "parsed", parse_range(self.range))
        except InvalidRangeError as err:
            raise InvalidPolicyError(f"spec.policy.semver.range: {err}") from err


@dataclass(frozen=True)
class AlphabeticalRule:
    """``spec.policy.alphabetical``: the last tag in alphabetical order (``desc``: the first)."""

    order: SortOrder = "asc"

    def __post_init__(self) -> None:
        _check_order(self.order, "alphabetical")


@dataclass(frozen=True)
class NumericalRule:
    """``spec.policy.numerical``: the highest number (``desc``: the lowest)."""

    order: SortOrder = "asc"

    def __post_init__(self) -> None:
        _check_order(self.order, "numerical")


def _check_order(order: str, rule: str) -> None:
    if order not in ("asc", "desc"):
        raise InvalidPolicyError(f"spec.policy.{rule}.order {order!r} is not 'asc' or 'desc'")


@dataclass(frozen=True)
class TagFilter:
    """``spec.filterTags``: keep the tags `pattern` matches, compare what `extract` makes of them."""

    pattern: str = ""
    """Regular expression searched in each tag; the empty pattern keeps every tag."""
    extract: str = ""
    """Template of the compared value, e.g. ``$ts``; the whole tag when empty."""
    compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "compiled", re.compile(self.pattern))
        except re.error as err:
            raise InvalidPolicyError(
                f"spec.filterTags.pattern {self.pattern!r} is not a valid regular expression: {err}"
            ) from err

    def apply(self, tags: Iterable[str]) -> dict[str, str]:
        """The kept tags as ``{compared value: tag}``, in the order the values first appear."""
        kept: dict[str, str] = {}
        for tag in tags:
            match = self.compiled.search(tag)
            if match is not None:
                kept[_expand(self.extract, match) if self.extract else tag] = tag
        return kept


def _expand(template: str, match: re.Match[str]) -> str:
    """`template` with Go's ``$name``, ``${name}`` and ``$1`` replaced by groups of `match`.

    As Go's ``Regexp.Expand``: an unknown or unmatched group gives the empty string,
    ``$$`` a dollar, and a ``$`` that starts no reference stays as it is.
    """

    def group_value(reference: re.Match[str]) -> str:
        if reference["dollar"]:
            return "$"
        name = reference["name"] or reference["braced"]
        key: int | str = int(name) if name.isdecimal() and name == str(int(name)) else name
        try:
            return match.group(key) or ""
        except IndexError:
            return ""

    return _TEMPLATE_REFERENCE.sub(group_value, template)


Rule: TypeAlias = SemverRule | AlphabeticalRule | NumericalRule


@dataclass(frozen=True)
class TagPolicy:
    """``spec.policy`` and ``spec.filterTags`` of an ImagePolicy."""

    rule: Rule
    filter_tags: TagFilter | None = None


@dataclass(frozen=True)
class TagSelection:
    """What :func:`select_tag` found: the elected tag, or None and why none was."""

    tag: str | None
    reason: str = ""


def select_tag(tags: Iterable[str], policy: TagPolicy) -> TagSelection:
    """Elect the tag `policy` picks among `tags`, or say why none qualifies."""
    scanned = list(tags)
    if not scanned:
        return TagSelection(None, "no tags to choose from")
    if policy.filter_tags is None:
        candidates = {tag: tag for tag in scanned}
    else:
        candidates = policy.filter_tags.apply(scanned)
        if not candidates:
            pattern = policy.filter_tags.pattern
            return TagSelection(
                None, f"none of the {len(scanned)} tags matches spec.filterTags.pattern {pattern!r}"
            )
    rule = policy.rule
    if isinstance(rule, SemverRule):
        return _highest_in_range(candidates, rule.parsed)
    if isinstance(rule, AlphabeticalRule):
        pick = max if rule.order == "asc" else min
        return TagSelection(candidates[pick(candidates)])
    return _by_number(candidates, rule.order)


def _highest_in_range(candidates: Mapping[str, str], versions: VersionRange) -> TagSelection:
    best: tuple[Version, str] | None = None
    highest: tuple[Version, str] | None = None
    for value, tag in candidates.items():
        version = parse_version(value)
        if version is None:
            continue
        if highest is None or version.precedence > highest[0].precedence:
            highest = (version, tag)
        in_range = versions.contains(version)
        if in_range and (best is None or version.precedence > best[0].precedence):
            best = (version, tag)
    if best is not None:
        return TagSelection(best[1])
    if highest is None:
        return TagSelection(
            None, f"none of the {len(candidates)} tags is a semantic version like 1.2.3 or v1.2.3"
        )
    reason = f"no tag matches the semver range {versions.text!r} (latest: {highest[1]})"
    if highest[0].prerelease and not versions.names_prerelease:
        reason += "; pre-releases match only a range that names one, like '>=1.0.0-0'"
    return TagSelection(None, reason)


def _by_number(candidates: Mapping[str, str], order: SortOrder) -> TagSelection:
    numbers: list[tuple[Decimal, str]] = []
    for value, tag in candidates.items():
        if _DECIMAL.fullmatch(value) is None:
            source = repr(tag) if value == tag else f"{tag!r} (extracted {value!r})"
            return TagSelection(
                None, f"tag {source} is not a number; keep only numbers with spec.filterTags"
            )
        numbers.append((Decimal(value), tag))
    # Of equal numbers the later tag wins, as in Flux; max and min keep the first they see.
    pick = max if order == "asc" else min
    return TagSelection(pick(reversed(numbers), key=lambda number: number[0])[1])


def policy_from_spec(spec: Mapping[str, Any]) -> TagPolicy:
    """The :class:`TagPolicy` of an ImagePolicy ``spec`` as the API returns it (camelCase keys).

    Of several rules set, the first of semver, alphabetical and numerical counts, as in Flux.
    """
    choice = _mapping(spec.get("policy"), "spec.policy")
    rule: Rule
    if choice.get("semver") is not None:
        semver = _mapping(choice["semver"], "spec.policy.semver")
        rule = SemverRule(_string(semver, "range", "spec.policy.semver"))
    elif choice.get("alphabetical") is not None:
        alphabetical = _mapping(choice["alphabetical"], "spec.policy.alphabetical")
        rule = AlphabeticalRule(_order(alphabetical, "alphabetical"))
    elif choice.get("numerical") is not None:
        numerical = _mapping(choice["numerical"], "spec.policy.numerical")
        rule = NumericalRule(_order(numerical, "numerical"))
    else:
        raise InvalidPolicyError(
            "spec.policy sets none of semver, alphabetical and numerical; set one"
        )
    if spec.get("filterTags") is None:
        return TagPolicy(rule)
    filter_tags = _mapping(spec["filterTags"], "spec.filterTags")
    return TagPolicy(
        rule,
        TagFilter(
            pattern=_string(filter_tags, "pattern", "spec.filterTags", default=""),
            extract=_string(filter_tags, "extract", "spec.filterTags", default=""),
        ),
    )


def _mapping(value: object, path: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidPolicyError(f"{path} must be an object, not {type(value).__name__}")
    return value


def _string(parent: Mapping[str, Any], key: str, path: str, default: str | None = None) -> str:
    value = parent.get(key)
    if value is None and default is not None:
        return default
    if value is None:
        raise InvalidPolicyError(f"{path}.{key} is missing")
    if not isinstance(value, str):
        raise InvalidPolicyError(f"{path}.{key} must be a string, not {type(value).__name__}")
    return value


def _order(parent: Mapping[str, Any], rule: str) -> SortOrder:
    # Flux upper-cases the order before checking it, so "ASC" works there too.
    order = _string(parent, "order", f"spec.policy.{rule}", default="asc")
    if order.lower() == "asc":
        return "asc"
    if order.lower() == "desc":
        return "desc"
    raise InvalidPolicyError(f"spec.policy.{rule}.order {order!r} is not 'asc' or 'desc'")
