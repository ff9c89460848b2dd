"""Semantic versions and ranges with the rules of Flux: Masterminds/semver v3 ranges and
the version parsing of fluxcd/pkg/version. A pure library: it imports nothing of lockstep.

Callers: :mod:`lockstep.images.policy` (``spec.policy.semver`` of an ImagePolicy),
:mod:`lockstep.sources.refs` (``spec.ref.semver`` of a GitRepository) and
:mod:`lockstep.sources.oci` (``spec.ref.semver`` of an OCIRepository). Each parses the
range once with :func:`parse_range` and the candidate tags with :func:`parse_version`;
:func:`highest_in_range` elects among tags.

Flux evaluates ranges with the Go library Masterminds/semver v3 (v3.5 in Flux 2.7), and
no Python package follows its rules, so this module implements them by hand; a golden
test compares it with the Go library (tests/golden/semver). node-semver (npm's rules)
has no ``!=``, no comma for "and", reads ``1.2 - 1.4`` as ``<1.5.0-0`` and admits a
pre-release only within the ``major.minor.patch`` of a comparator that names one;
python-semver has no caret, tilde or ranges; packaging follows PEP 440; semantic_version
differs on wildcards and pre-releases. A wrong answer here deploys the wrong release, so
Flux's answers, odd corners included, are the specification:

- A tag is a version when it has at least two dots and Masterminds reads it loosely:
  an optional leading ``v``, up to three numbers (leading zeros allowed, each below
  2^64), a pre-release and build metadata: ``v1.2.3``, ``2025.01.02``, and even
  ``1.2-rc.1`` (1.2.0-rc.1) are versions; ``1.2`` and ``latest`` are not. Versions
  longer than 256 characters are not read.
- A range is alternatives split by ``||`` (at most 32, the whole at most 512
  characters); an alternative is comparators split by spaces or commas, all of which
  must hold; ``A - B`` stands for ``>= A, <= B``.
- A comparator is an operator (``=``, ``!=``, ``>``, ``>=``, ``<``, ``<=``, ``~``,
  ``~>``, ``^``, or none for ``=``) and a partial version: ``1``, ``1.2``, ``1.2.3``,
  ``x``/``X``/``*`` for a part, a leading ``v``, a pre-release and build allowed.
- A wildcard or missing part widens ``=`` to ``~``; ``~`` keeps the minor (the major
  when only a major is given); ``^`` keeps the major, from ``^0.y`` the minor, and
  ``^0.0.z`` is exact.
- A pre-release version satisfies an alternative only when one of its comparators
  names a pre-release; it is then compared by precedence, whatever its
  ``major.minor.patch`` (Masterminds, unlike npm).
- Precedence ignores build metadata, so ``1.0.0`` and ``1.0.0+build.2`` tie; numeric
  pre-release identifiers compare as numbers when they fit in 64 bits, else as text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum

# The characters Go's "\s" matches, which Masterminds' patterns use.
_WHITESPACE = " \t\n\r\f"
_IDENTIFIERS = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
# A tag, as Masterminds' NewVersion reads it loosely; ParseVersion also wants two dots.
_VERSION = re.compile(
    r"v?(?P<major>[0-9]+)(?:\.(?P<minor>[0-9]+))?(?:\.(?P<patch>[0-9]+))?"
    rf"(?:-(?P<pre>{_IDENTIFIERS}))?(?:\+(?P<build>{_IDENTIFIERS}))?"
)
_UINT64_LIMIT = 2**64

MAX_VERSION_LENGTH = 256
"""Longer tags are not versions (Masterminds' MaxVersionLen)."""

MAX_RANGE_LENGTH = 512
"""Longer ranges are refused (Masterminds' MaxConstraintLen)."""

MAX_ALTERNATIVES = 32
"""Ranges with more ``||`` alternatives are refused (Masterminds' MaxConstraintGroups)."""
# A comparator's version. Parts match as loosely as in Masterminds ("|" included): the
# parts before the first wildcard must be numbers, and those after it are not read.
_LOOSE_PART = r"[0-9|xX*]+"
_PARTIAL_VERSION = re.compile(
    rf"v?(?P<major>{_LOOSE_PART})(?:\.(?P<minor>{_LOOSE_PART}))?(?:\.(?P<patch>{_LOOSE_PART}))?"
    rf"(?:-(?P<pre>{_IDENTIFIERS}))?(?:\+(?P<build>{_IDENTIFIERS}))?"
)
# A hyphen range "A - B", spaces around the hyphen required ("1.2-3" is a pre-release).
# Masterminds rewrites these as text before parsing, the spaces before A included;
# matching the same text keeps Flux's answers for odd input such as ">1 1.2 - 1.4",
# which it rejects.
_LOOSE_VERSION = (
    rf"v?{_LOOSE_PART}(?:\.{_LOOSE_PART}){{0,2}}(?:-{_IDENTIFIERS})?(?:\+{_IDENTIFIERS})?"
)
_HYPHEN_RANGE = re.compile(
    rf"[{_WHITESPACE}]*(?P<lower>{_LOOSE_VERSION})"
    rf"[{_WHITESPACE}]+-[{_WHITESPACE}]+(?P<upper>{_LOOSE_VERSION})[{_WHITESPACE}]*"
)
_WILDCARDS = ("x", "X", "*")
# Longest first, so that ">=" is not read as ">" followed by "=".
_OPERATORS = ("!=", ">=", "=>", "<=", "=<", "~>", ">", "<", "=", "~", "^")
_SAME_AS = {"": "=", "=>": ">=", "=<": "<=", "~>": "~"}
_RANGE_EXAMPLES = "write comparators like '>=1.2.0 <2.0.0', '^1.2' or '~1.2.3'"


class InvalidRangeError(ValueError):
    """A semver range that does not parse; the message names the range and what is wrong."""

    def __init__(self, text: str, problem: str) -> None:
        super().__init__(f"semver range {text!r} is invalid: {problem}; {_RANGE_EXAMPLES}")
        self.range = text
        self.problem = problem


@dataclass(frozen=True)
class Version:
    """A semantic version; compare versions by :attr:`precedence`, which ignores the build."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: str = ""

    @property
    def precedence(self) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
        """Sort key of SemVer precedence: a pre-release sorts before its release, and its
        numeric identifiers sort numerically and before alphanumeric ones."""
        if not self.prerelease:
            return (self.major, self.minor, self.patch, 1, ())
        identifiers = tuple(
            (0, int(part)) if part.isdigit() and int(part) < _UINT64_LIMIT else (1, part)
            for part in self.prerelease
        )
        return (self.major, self.minor, self.patch, 0, identifiers)


def parse_version(text: str) -> Version | None:
    """The version a tag names, or None when the tag is not one (``1.2``, ``latest``)."""
    if len(text) > MAX_VERSION_LENGTH or text.count(".") < 2:
        return None
    match = _VERSION.fullmatch(text)
    if match is None:
        return None
    numbers = [int(match[part] or 0) for part in ("major", "minor", "patch")]
    prerelease = _split_identifiers(match["pre"])
    if prerelease is None or any(number >= _UINT64_LIMIT for number in numbers):
        return None
    major, minor, patch = numbers
    return Version(major, minor, patch, prerelease, match["build"] or "")


def highest_in_range(versions: VersionRange, tags: Iterable[str]) -> str | None:
    """The tag with the highest version within `versions`; None when no tag is in it.

    Tags that are not versions are skipped. Of tags whose versions tie (they differ only
    in build metadata, a leading ``v`` or leading zeros) the first in `tags` wins.
    """
    best: tuple[Version, str] | None = None
    for tag in tags:
        version = parse_version(tag)
        if version is None or not versions.contains(version):
            continue
        if best is None or version.precedence > best[0].precedence:
            best = (version, tag)
    return best[1] if best else None


def _split_identifiers(text: str | None) -> tuple[str, ...] | None:
    """Pre-release identifiers, or None when a numeric one has a leading zero (``rc.01``)."""
    if not text:
        return ()
    parts = tuple(text.split("."))
    if any(part.isdigit() and len(part) > 1 and part.startswith("0") for part in parts):
        return None
    return parts


class Precision(IntEnum):
    """How many parts of a comparator's version were given as numbers."""

    NONE = 0
    """``*`` or ``x``: the major is a wildcard."""
    MAJOR = 1
    """``1`` or ``1.x``."""
    MINOR = 2
    """``1.2`` or ``1.2.x``."""
    PATCH = 3
    """``1.2.3``: an exact version."""


@dataclass(frozen=True)
class Comparator:
    """One operator and version of a range, e.g. ``^1.2`` or ``>=1.0.0-rc.1``."""

    operator: str
    """One of ``=``, ``!=``, ``>``, ``>=``, ``<``, ``<=``, ``~``, ``^``."""
    version: Version
    """The version with missing and wildcard parts as 0."""
    precision: Precision

    def admits(self, version: Version) -> bool:
        """Whether `version` satisfies this comparator, pre-release gating aside."""
        return _CHECKS[self.operator](version, self)


@dataclass(frozen=True)
class VersionRange:
    """A parsed range: alternatives of comparators that must all hold."""

    text: str
    alternatives: tuple[tuple[Comparator, ...], ...]

    def contains(self, version: Version) -> bool:
        """Whether `version` satisfies at least one alternative of the range."""
        return any(_alternative_admits(group, version) for group in self.alternatives)

    @property
    def names_prerelease(self) -> bool:
        """Whether some comparator names a pre-release, so pre-releases can match."""
        return any(c.version.prerelease for group in self.alternatives for c in group)


def _alternative_admits(group: tuple[Comparator, ...], version: Version) -> bool:
    # Masterminds 3.4 gates pre-releases per alternative: one comparator naming a
    # pre-release opens all comparators of its alternative to them.
    if version.prerelease and not any(c.version.prerelease for c in group):
        return False
    return all(comparator.admits(version) for comparator in group)


def parse_range(text: str) -> VersionRange:
    """Parse a range such as ``^1.2.x`` or ``>= 1.2, < 1.5 || 2.x``; raise InvalidRangeError."""
    if not text.strip(_WHITESPACE):
        raise InvalidRangeError(text, "it is empty")
    if len(text.encode()) > MAX_RANGE_LENGTH:
        raise InvalidRangeError(text, f"it is longer than {MAX_RANGE_LENGTH} bytes")
    rewritten = _HYPHEN_RANGE.sub(r">= \g<lower>, <= \g<upper> ", text)
    if rewritten.count("||") >= MAX_ALTERNATIVES:
        raise InvalidRangeError(text, f"it has more than {MAX_ALTERNATIVES} alternatives")
    try:
        alternatives = tuple(_parse_alternative(part) for part in rewritten.split("||"))
    except _Problem as problem:
        note = "" if rewritten == text else f" (read as {rewritten.strip(_WHITESPACE)!r})"
        raise InvalidRangeError(text, f"{problem}{note}") from None
    return VersionRange(text, alternatives)


class _Problem(Exception):
    """What is wrong in a range, before it is known which range."""


def _parse_alternative(part: str) -> tuple[Comparator, ...]:
    if not part.strip(_WHITESPACE):
        raise _Problem("an alternative beside '||' is empty")
    comparators: list[Comparator] = []
    position = _skip_space(part, 0)
    while position < len(part):
        operator, position = _read_operator(part, position)
        match = _PARTIAL_VERSION.match(part, _skip_space(part, position))
        if match is None:
            raise _Problem(f"expected a version at {part[position:].strip(_WHITESPACE)!r}")
        comparators.append(_comparator(operator, match))
        position = _skip_separator(part, match.end())
    return tuple(comparators)


def _skip_space(part: str, position: int) -> int:
    while position < len(part) and part[position] in _WHITESPACE:
        position += 1
    return position


def _read_operator(part: str, position: int) -> tuple[str, int]:
    for operator in _OPERATORS:
        if part.startswith(operator, position):
            return operator, position + len(operator)
    return "", position


def _skip_separator(part: str, position: int) -> int:
    """Skip the spaces or comma after a comparator; anything else glued to it is an error."""
    after_space = _skip_space(part, position)
    if after_space < len(part) and part[after_space] == ",":
        after_comma = _skip_space(part, after_space + 1)
        if after_comma == len(part):
            raise _Problem("a comma ends an alternative")
        return after_comma
    if after_space == position and position < len(part):
        rest = part[position:].strip(_WHITESPACE)
        raise _Problem(f"cannot read {rest!r}; separate comparators with a space or comma")
    return after_space


def _comparator(operator: str, match: re.Match[str]) -> Comparator:
    parts = (match["major"], match["minor"], match["patch"])
    precision = next(
        (Precision(i) for i, part in enumerate(parts) if part is None or part in _WILDCARDS),
        Precision.PATCH,
    )
    numbers = parts[:precision]
    if not all(part.isdigit() for part in numbers):
        raise _Problem(f"{match[0]!r} is not a version; use numbers, or x, X or * for a part")
    major, minor, patch = [int(part) for part in numbers] + [0] * (3 - len(numbers))
    if max(major, minor, patch) >= _UINT64_LIMIT:
        raise _Problem(f"{match[0]!r} has a number too large for a version")
    prerelease = _split_identifiers(match["pre"])
    if prerelease is None:
        raise _Problem(f"{match[0]!r} has a numeric pre-release identifier with a leading zero")
    version = Version(major, minor, patch, prerelease, match["build"] or "")
    return Comparator(_SAME_AS.get(operator, operator), version, precision)


def _compare(left: Version, right: Version) -> int:
    a, b = left.precedence, right.precedence
    return (a > b) - (a < b)


# One function per operator, after Masterminds' rules. A comparator with fewer than three
# numbers (1, 1.x, 1.2, *) widens "=", "!=", ">" and "<=" to the parts it leaves open.


def _equal(version: Version, c: Comparator) -> bool:
    if c.precision < Precision.PATCH:
        return _tilde(version, c)
    return _compare(version, c.version) == 0


def _not_equal(version: Version, c: Comparator) -> bool:
    if c.precision == Precision.PATCH:
        return _compare(version, c.version) != 0
    con = c.version
    if version.major != con.major:
        return True
    if c.precision == Precision.MAJOR:
        return False
    if version.minor != con.minor:
        return True
    if c.precision == Precision.MINOR:
        return version.prerelease != con.prerelease
    # A wildcard major ("!=*") only differs from 0.0.0.
    return version.patch != con.patch or _compare(version, con) != 0


def _greater(version: Version, c: Comparator) -> bool:
    con = c.version
    if c.precision in (Precision.PATCH, Precision.NONE) or version.major != con.major:
        return _compare(version, con) > 0
    # ">1" needs 2.0.0 or above; ">1.2" needs 1.3.0 or above.
    return c.precision == Precision.MINOR and version.minor > con.minor


def _greater_or_equal(version: Version, c: Comparator) -> bool:
    return _compare(version, c.version) >= 0


def _less(version: Version, c: Comparator) -> bool:
    return _compare(version, c.version) < 0


def _less_or_equal(version: Version, c: Comparator) -> bool:
    con = c.version
    if c.precision == Precision.PATCH:
        return _compare(version, con) <= 0
    # "<=1" admits all of 1.x.x and "<=1.2" all of 1.2.x; "<=*" only 0.0.x, as Masterminds.
    if version.major != con.major:
        return version.major < con.major
    return c.precision == Precision.MAJOR or version.minor <= con.minor


def _tilde(version: Version, c: Comparator) -> bool:
    con = c.version
    if _compare(version, con) < 0:
        return False
    # "~*" and "~0.0.0" admit everything; "~0" and "~0.0" keep their major or minor.
    exact_or_any = c.precision in (Precision.NONE, Precision.PATCH)
    if exact_or_any and (con.major, con.minor, con.patch) == (0, 0, 0):
        return True
    if version.major != con.major:
        return False
    return c.precision == Precision.MAJOR or version.minor == con.minor


def _caret(version: Version, c: Comparator) -> bool:
    con = c.version
    if _compare(version, con) < 0:
        return False
    if con.major > 0 or c.precision == Precision.MAJOR:
        return version.major == con.major
    if version.major > 0:
        return False
    if con.minor > 0 or c.precision == Precision.MINOR:
        return version.minor == con.minor
    if version.minor > 0:
        return False
    # "^0.0.3" is exactly 0.0.3; "^*" lands here too and so admits only 0.0.0, as in
    # Masterminds 3.4 (upstream issue 317).
    return version.patch == con.patch


_CHECKS: dict[str, Callable[[Version, Comparator], bool]] = {
    "=": _equal,
    "!=": _not_equal,
    ">": _greater,
    ">=": _greater_or_equal,
    "<": _less,
    "<=": _less_or_equal,
    "~": _tilde,
    "^": _caret,
}
