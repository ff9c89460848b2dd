"""Setter markers: find ``# {"$imagepolicy": "ns:policy"}`` comments in YAML text and
rewrite the values they mark to the image an ImagePolicy picked, every other byte kept.

This is the ``Setters`` update strategy of ImageUpdateAutomation. The image automation
controller and the CLI call :func:`rewrite` once per file, with the file's text and the
latest image of each ImagePolicy, write back the text it returns when it lists changes,
and hand the :class:`Change` entries to the commit message template (Flux's
``.Changed.Changes``; ``Change.object`` groups them into ``.Changed.Objects``).
:func:`find_markers` answers "what is marked where" without rewriting anything.

Markers, as Flux reads them:

- A marker is a YAML line comment, written after the scalar value it sets, on the same
  line: ``image: ghcr.io/acme/app:1.2.1 # {"$imagepolicy": "flux-system:app"}``. The
  comment is a JSON object (spaces anywhere JSON allows them); ``"ns:policy"`` names an
  ImagePolicy. The value may sit in any field of any document of a multi-document file:
  a container image, a HelmRelease's ``values.image.tag``, a list item, a member of a
  flow collection (``[a, b]`` written over several lines, the marker after ``a,``).
- ``ns:policy`` sets the whole reference, ``name:tag``, or ``name:tag@digest`` when the
  policy reflects digests (Flux always writes the tag, never ``name@digest``);
  ``ns:policy:name``, ``:tag`` and ``:digest`` set one part.

Where this is stricter than Flux, which skips what it cannot use without a word: a
marker naming a policy that is not given, a ``:digest`` marker for a policy without a
digest (Flux would write an empty value), a marker that is malformed or is not after a
single-line value (a block scalar ``|``/``>``, a value folded over lines, a key, a
collection) are all reported, with the file's line, and the file is left unchanged.

Why by hand: Flux edits through kyaml, which re-serialises the file; no Python YAML
library writes a document back unchanged outside one value (PyYAML has no round trip,
ruamel.yaml's still normalises some spacing and quoting). So PyYAML only *locates* the
scalars (``compose`` marks each node's character span), comments are found on the raw
lines, and each edit splices one value's span: comments, indentation, line endings,
anchors, separators and the value's own quote character all stay. A plain value stays
plain when YAML reads it back as the same string, and is double-quoted otherwise (a tag
``1.10`` would read back as the number 1.1). PyYAML refuses tabs where YAML allows them,
so it reads a copy with tabs as spaces: same length, same positions.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

import yaml

__all__ = [
    "Change",
    "ImageRef",
    "Marker",
    "MarkerField",
    "MarkerProblem",
    "ObjectRef",
    "PolicyKey",
    "Rewritten",
    "SetterError",
    "find_markers",
    "rewrite",
]

_MARKER_KEY = "$imagepolicy"


class PolicyKey(NamedTuple):
    """An ImagePolicy's namespace and name; equal to the plain tuple ``(namespace, name)``."""

    namespace: str
    name: str


class MarkerField(StrEnum):
    """Which part of the image a marker sets."""

    IMAGE = "image"  # the whole reference, no suffix in the marker
    NAME = "name"
    TAG = "tag"
    DIGEST = "digest"


@dataclass(frozen=True)
class ImageRef:
    """An ImagePolicy's latest image (``status.latestRef``); ``digest`` is empty unless
    the policy reflects digests."""

    name: str
    tag: str
    digest: str = ""

    def __post_init__(self) -> None:
        if not self.name or not self.tag:
            raise ValueError(f"image reference {self!r} needs a name and a tag")
        if any(_UNWRITABLE.search(part) for part in (self.name, self.tag, self.digest)):
            raise ValueError(f"image reference {self!r} holds whitespace or control characters")

    def __str__(self) -> str:
        reference = f"{self.name}:{self.tag}"
        return f"{reference}@{self.digest}" if self.digest else reference


@dataclass(frozen=True)
class ObjectRef:
    """The Kubernetes object a marked value belongs to; empty strings for absent fields."""

    api_version: str
    kind: str
    name: str
    namespace: str


@dataclass(frozen=True)
class Marker:
    """A marked value: ``text[start:end]`` is the scalar as written, quotes included;
    ``value`` is what it reads as. ``line`` counts from 1."""

    line: int
    policy: PolicyKey
    field: MarkerField
    value: str
    start: int
    end: int
    quote: str  # "", "'" or '"'
    object: ObjectRef | None

    @property
    def setter(self) -> str:
        return _setter_name(self.policy, self.field)


@dataclass(frozen=True)
class Change:
    """One value rewritten: what a commit message template lists."""

    line: int
    policy: PolicyKey
    field: MarkerField
    old_value: str
    new_value: str
    object: ObjectRef | None

    @property
    def setter(self) -> str:
        return _setter_name(self.policy, self.field)


@dataclass(frozen=True)
class Rewritten:
    """The new text of a file and its changes; no changes means the very same text."""

    text: str
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class MarkerProblem:
    """Why a marker cannot be applied, at a line (from 1) of the named file."""

    line: int
    message: str
    source_name: str | None = None
    policy: PolicyKey | None = None

    def __str__(self) -> str:
        where = f"{self.source_name}:{self.line}" if self.source_name else f"line {self.line}"
        return f"{where}: {self.message}"


class SetterError(Exception):
    """Markers of one file that cannot be applied; the file must be left as it is."""

    def __init__(self, problems: Sequence[MarkerProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(problem) for problem in self.problems))


def find_markers(text: str, *, source_name: str | None = None) -> list[Marker]:
    """The markers of a YAML text, in the order they are written.

    Raises :class:`SetterError` for text that is not YAML or markers that are malformed
    or not after a single-line value; ``source_name`` only names the file in messages.
    """
    markers, problems = _scan(text, source_name)
    if problems:
        raise SetterError(problems)
    return markers


def rewrite(
    text: str,
    policies: Mapping[tuple[str, str], ImageRef],
    *,
    source_name: str | None = None,
    in_scope: Callable[[PolicyKey], bool] | None = None,
) -> Rewritten:
    """Set every marked value of ``text`` from the latest images of ``policies``, keyed
    by ``(namespace, name)``.

    Markers naming a policy that ``in_scope`` rejects are another automation's (another
    namespace, a policy its selector leaves out): they are left as written, unreported.
    Raises :class:`SetterError`, listing every problem of the file, when any other marker
    cannot be applied: the caller then keeps the file unchanged.
    """
    markers, problems = _scan(text, source_name)
    edits: list[tuple[Marker, str]] = []
    for marker in markers:
        if in_scope is not None and not in_scope(marker.policy):
            continue
        image = policies.get(marker.policy)
        if image is None:
            problems.append(_problem(marker.line, _NO_POLICY, source_name, marker.policy))
            continue
        new_value = _part(image, marker.field)
        if new_value is None:
            problems.append(_problem(marker.line, _NO_DIGEST, source_name, marker.policy))
        elif new_value != marker.value:
            edits.append((marker, new_value))
    if problems:
        raise SetterError(sorted(problems, key=lambda problem: problem.line))

    pieces: list[str] = []
    written = 0
    for marker, new_value in edits:
        pieces += [text[written : marker.start], _render(new_value, marker.quote)]
        written = marker.end
    pieces.append(text[written:])
    changes = tuple(
        Change(marker.line, marker.policy, marker.field, marker.value, new_value, marker.object)
        for marker, new_value in edits
    )
    return Rewritten("".join(pieces) if edits else text, changes)


# Messages: ``{policy}`` is filled in with ``namespace/name``.
_NO_POLICY = (
    "marker names ImagePolicy {policy}, which has no latest image: "
    "check the policy exists in the automation's namespace and is Ready"
)
_NO_DIGEST = (
    "marker asks for the digest of ImagePolicy {policy}, which has none: "
    "set spec.digestReflectionPolicy on the policy or drop the :digest marker"
)
_NOT_AFTER_VALUE = (
    "marker for ImagePolicy {policy} does not follow a value on its line: "
    "put it after the single-line value it sets"
)
_ON_BLOCK_SCALAR = (
    "marker for ImagePolicy {policy} is on a block scalar (| or >): "
    "write the value on one line after the key"
)
_ON_FOLDED_VALUE = (
    "marker for ImagePolicy {policy} follows a value written over several lines: "
    "write the value on one line"
)
_BAD_JSON = 'marker comment is not a JSON object: write # {"$imagepolicy": "NAMESPACE:POLICY"}'
_BAD_SETTER = (
    "marker value {setter} is not NAMESPACE:POLICY, optionally followed by :name, :tag or :digest"
)


def _problem(
    line: int, template: str, source_name: str | None, policy: PolicyKey | None = None
) -> MarkerProblem:
    named = f"{policy.namespace}/{policy.name}" if policy else ""
    return MarkerProblem(line, template.format(policy=named), source_name, policy)


def _setter_name(policy: PolicyKey, field: MarkerField) -> str:
    setter = f"{policy.namespace}:{policy.name}"
    return setter if field is MarkerField.IMAGE else f"{setter}:{field}"


def _part(image: ImageRef, field: MarkerField) -> str | None:
    match field:
        case MarkerField.IMAGE:
            return str(image)
        case MarkerField.NAME:
            return image.name
        case MarkerField.TAG:
            return image.tag
        case MarkerField.DIGEST:
            return image.digest or None


# --- writing a value ------------------------------------------------------------------

_UNWRITABLE = re.compile(r"[\s\x00-\x1f\x7f]")
# Characters a plain scalar may hold in block and flow context alike, none of them an
# indicator at the start; a trailing ":" would read as a key.
_PLAIN = re.compile(r"[A-Za-z0-9_./][A-Za-z0-9_./@:+-]*(?<!:)")
# YAML 1.2 core schema non-strings (what Go's yaml.v3 resolves); YAML 1.1, which
# sigs.k8s.io/yaml follows, is asked of PyYAML's safe loader.
_YAML12_NOT_STRING = re.compile(
    r"~|null|Null|NULL|true|True|TRUE|false|False|FALSE"
    r"|[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+"
    r"|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN"
)


def _render(value: str, quote: str) -> str:
    """``value`` as a scalar in the original's quoting style."""
    if quote == "'":
        return "'" + value.replace("'", "''") + "'"
    if quote == '"' or not _reads_back_plain(value):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def _reads_back_plain(value: str) -> bool:
    return (
        _PLAIN.fullmatch(value) is not None
        and _YAML12_NOT_STRING.fullmatch(value) is None
        and isinstance(yaml.safe_load(value), str)
    )


# --- locating markers -----------------------------------------------------------------

_LINE_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")  # the breaks PyYAML counts
_NODE_PROPERTIES = re.compile(r"(?:[&!]\S*\s+)*")  # anchor and tag before a value
_BLOCK_STYLES = ("|", ">")
_PART_FIELDS = frozenset({"name", "tag", "digest"})


class _Lines:
    """Line numbers (from 0) and line extents of a text, counted the way PyYAML does."""

    def __init__(self, text: str) -> None:
        breaks = list(_LINE_BREAK.finditer(text))
        self.starts = [0, *(found.end() for found in breaks)]
        self.ends = [*(found.start() for found in breaks), len(text)]

    def of(self, index: int) -> int:
        return bisect.bisect_right(self.starts, index) - 1


@dataclass(frozen=True)
class _Scalar:
    value: str
    start: int  # where the value is written, after any anchor or tag
    end: int
    style: str | None  # None for plain, else the quote or block indicator
    is_key: bool
    in_flow: bool
    object: ObjectRef | None


def _scan(text: str, source_name: str | None) -> tuple[list[Marker], list[MarkerProblem]]:
    if _MARKER_KEY not in text:
        return [], []
    lines = _Lines(text)
    try:
        scalars = _scalars(text)
    except yaml.YAMLError as error:
        return [], [_yaml_problem(error, lines, source_name)]

    on_line, protected = _index(scalars, lines)
    markers: list[Marker] = []
    problems: list[MarkerProblem] = []
    mentions = {lines.of(found.start()) for found in re.finditer(re.escape(_MARKER_KEY), text)}
    for line in sorted(mentions):
        comment = _comment_start(text, lines.starts[line], lines.ends[line], protected)
        if comment is None:
            continue
        parsed = _parse_marker(text[comment + 1 : lines.ends[line]], line + 1, source_name)
        if parsed is None:
            continue
        if isinstance(parsed, MarkerProblem):
            problems.append(parsed)
            continue
        policy, field = parsed
        scalar = _marked_scalar(text, on_line.get(line, []), comment, lines)
        if isinstance(scalar, str):
            problems.append(_problem(line + 1, scalar, source_name, policy))
            continue
        markers.append(
            Marker(
                line + 1,
                policy,
                field,
                scalar.value,
                scalar.start,
                scalar.end,
                scalar.style or "",
                scalar.object,
            )
        )
    markers.sort(key=lambda marker: marker.start)
    return markers, problems


def _index(
    scalars: list[_Scalar], lines: _Lines
) -> tuple[dict[int, list[_Scalar]], list[tuple[int, int]]]:
    """The scalars by the line a marker for each would be on (a block scalar's header
    line, the last line of others), and the spans where a ``#`` is content."""
    on_line: dict[int, list[_Scalar]] = {}
    protected: list[tuple[int, int]] = []
    for scalar in scalars:
        if scalar.style in _BLOCK_STYLES:
            header = lines.of(scalar.start)
            on_line.setdefault(header, []).append(scalar)
            protected.append((lines.ends[header], scalar.end))
        else:
            on_line.setdefault(lines.of(scalar.end), []).append(scalar)
            if scalar.style:
                protected.append((scalar.start, scalar.end))
    protected.sort()
    return on_line, protected


def _marked_scalar(text: str, on_line: list[_Scalar], comment: int, lines: _Lines) -> _Scalar | str:
    """The value a marker comment at ``comment`` sets: the last scalar written before it
    on its line; or, when that is no single-line value, the message template saying so."""
    before = [scalar for scalar in on_line if _marker_anchor(scalar) <= comment]
    if not before:
        return _NOT_AFTER_VALUE
    scalar = max(before, key=_marker_anchor)
    if scalar.style in _BLOCK_STYLES:
        return _ON_BLOCK_SCALAR
    if scalar.is_key or scalar.start >= scalar.end:
        return _NOT_AFTER_VALUE
    if lines.of(scalar.start) != lines.of(scalar.end):
        return _ON_FOLDED_VALUE
    between = text[scalar.end : comment].strip(" \t")
    if between == "" or (between == "," and scalar.in_flow):
        return scalar
    return _NOT_AFTER_VALUE


def _marker_anchor(scalar: _Scalar) -> int:
    """Where a marker's comment must come after: a block scalar's indicator, or the
    end of any other scalar."""
    return scalar.start if scalar.style in _BLOCK_STYLES else scalar.end


def _comment_start(text: str, start: int, end: int, protected: list[tuple[int, int]]) -> int | None:
    """Where the comment of the line ``text[start:end]`` begins: the first ``#`` that
    starts the line or follows a blank and is not inside a quoted or block scalar."""
    for found in re.finditer("#", text[start:end]):
        at = start + found.start()
        if at > start and text[at - 1] not in " \t":
            continue
        inside = bisect.bisect_right(protected, (at, len(text))) - 1
        if inside >= 0 and protected[inside][0] <= at < protected[inside][1]:
            continue
        return at
    return None


def _parse_marker(
    comment: str, line: int, source_name: str | None
) -> tuple[PolicyKey, MarkerField] | MarkerProblem | None:
    """The policy and field a comment (after its ``#``) names; None for comments that
    merely mention the marker key, a problem for a marker written wrong."""
    body = comment.lstrip("#").strip()
    if not body.startswith("{"):
        return None
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        return MarkerProblem(line, _BAD_JSON, source_name)
    if not isinstance(data, dict) or _MARKER_KEY not in data:
        return None
    setter = data[_MARKER_KEY]
    parts = setter.split(":") if isinstance(setter, str) else []
    if len(parts) == 2 and all(parts):
        return PolicyKey(parts[0], parts[1]), MarkerField.IMAGE
    if len(parts) == 3 and parts[0] and parts[1] and parts[2] in _PART_FIELDS:
        return PolicyKey(parts[0], parts[1]), MarkerField(parts[2])
    return MarkerProblem(line, _BAD_SETTER.format(setter=json.dumps(setter)), source_name)


def _yaml_problem(error: yaml.YAMLError, lines: _Lines, source_name: str | None) -> MarkerProblem:
    line = 0
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        line = error.problem_mark.line
    elif isinstance(error, yaml.reader.ReaderError):
        line = lines.of(error.position)
    reason = getattr(error, "problem", None) or getattr(error, "reason", None) or "unreadable"
    return MarkerProblem(
        line + 1,
        f"not valid YAML ({reason}), so its image policy markers cannot be applied: fix the file",
        source_name,
    )


def _scalars(text: str) -> list[_Scalar]:
    """Every scalar of every document of ``text``, each once even when aliased.

    Tabs are read as spaces: PyYAML refuses them even where YAML allows them, between a
    value and its comment or after ``key:``; a space takes the same one character, so
    every position found still holds in ``text``.
    """
    readable = text.replace("\t", " ")
    found: list[_Scalar] = []
    for root in yaml.compose_all(readable, Loader=yaml.SafeLoader):
        document = _object_of(root)
        for node, is_key, in_flow in _walk(root):
            written = readable[node.start_mark.index : node.end_mark.index]
            properties = _NODE_PROPERTIES.match(written)
            start = node.start_mark.index + (properties.end() if properties else 0)
            found.append(
                _Scalar(
                    node.value, start, node.end_mark.index, node.style, is_key, in_flow, document
                )
            )
    return found


def _walk(root: yaml.Node) -> Iterator[tuple[yaml.ScalarNode, bool, bool]]:
    """Scalar nodes under ``root`` with whether each is a mapping key and whether it
    sits in a flow collection."""
    seen: set[int] = set()
    pending: list[tuple[yaml.Node, bool, bool]] = [(root, False, False)]
    while pending:
        node, is_key, in_flow = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            yield node, is_key, in_flow
        elif isinstance(node, yaml.MappingNode):
            flow = bool(node.flow_style)
            for key, value in node.value:
                pending += [(key, True, flow), (value, False, flow)]
        elif isinstance(node, yaml.SequenceNode):
            flow = bool(node.flow_style)
            pending += [(item, False, flow) for item in node.value]


def _object_of(root: yaml.Node) -> ObjectRef | None:
    """The identity of a document that is a Kubernetes object, read from its nodes."""
    fields = _scalar_fields(root)
    if not fields.get("kind"):
        return None
    metadata = next(
        (value for key, value in root.value if key.value == "metadata"),
        None,
    )
    meta = _scalar_fields(metadata) if metadata is not None else {}
    return ObjectRef(
        api_version=fields.get("apiVersion", ""),
        kind=fields["kind"],
        name=meta.get("name", ""),
        namespace=meta.get("namespace", ""),
    )


def _scalar_fields(node: yaml.Node) -> dict[str, str]:
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {
        key.value: value.value
        for key, value in node.value
        if isinstance(key, yaml.ScalarNode) and isinstance(value, yaml.ScalarNode)
    }
