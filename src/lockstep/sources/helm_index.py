"""Helm repository indexes as Flux's source-controller reads, stores and searches them.

:mod:`lockstep.sources.helm_repository` hands `parse_index` the ``index.yaml`` it
downloaded; the HelmChart reconciler reads the stored artifact back with `load_index`
and picks a chart version with `select_chart`.

What Flux does, and this module with it (source-controller v1, ``internal/helm/repository``):

- The index is read as JSON when it is valid JSON, else as YAML; it must have an
  ``apiVersion``. A chart version without ``apiVersion`` gets ``v1``; one that Helm's
  ``Metadata.Validate`` refuses is dropped (no name, a name with a slash, no version or
  one that is not semantic, an unknown type, an empty maintainer or dependency, an
  alias with other characters than letters, digits, ``_`` and ``-``), and the text
  fields it sanitizes (description, keywords, maintainers...) are stored sanitized:
  whitespace made plain spaces, unprintable characters removed.
- Each chart's versions are sorted newest first (Helm's ``SortEntries``): by semantic
  version, those that are not versions last. Go's sort is not stable; this one is, so
  versions equal but for build metadata keep the order of the index.
- The artifact is the sorted index written as JSON (Go's ``json.MarshalIndent`` with two
  spaces, of Helm's ``IndexFile``: its fields in Go's order, map keys sorted, times in
  RFC 3339, ``<``, ``>`` and ``&`` escaped as Go escapes them), stored as
  ``index-<hex>.yaml`` although it holds JSON. Its revision is the sha256 of
  ``index.yaml`` *as the server sent it*; the artifact's digest is the sha256 of the
  JSON. The same index always gives the same JSON, so an unchanged index writes nothing.
- `select_chart`: an exact version string wins; else ``""`` and ``*`` mean the latest
  stable version, and any other value is a Masterminds range (prereleases only when
  the range names one); of versions that tie, the one created last wins.

Where lockstep differs: unknown fields are dropped (Flux refuses a YAML index that has
any), and a YAML index whose aliases expand it past its own size is refused (an alias
bomb). Scalars are read as text unless a field wants a boolean, so ``version: 1.10``
stays ``1.10``, as Go's YAML-to-JSON conversion keeps it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from lockstep.semver import InvalidRangeError, Version, parse_range, parse_version
from lockstep.sources.errors import InvalidIndex, InvalidRef, NoSemverMatch, RefNotFound, TooLarge

MAX_INDEX_BYTES = 50 * 1024 * 1024
"""Flux's ``--helm-index-max-size`` default: 50 MiB."""

ZERO_TIME = "0001-01-01T00:00:00Z"
"""How Go writes a time that the index leaves out."""

LATEST_STABLE = ("", "*")
"""Version ranges that mean the highest version without a prerelease."""

MAX_LISTED = 10
"""Charts or versions named at most in a message about a chart or version not found."""

CHART_TYPES = ("", "application", "library")

_STORED_NAME = re.compile(r"^index-([0-9a-f]{64})\.yaml$")
_ALIAS = re.compile(r"^[a-zA-Z0-9_-]+$")
_GO_LATIN1_SPACES = frozenset("\t\n\v\f\r \x85\xa0")
_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$")
_LOOSE_CORE = re.compile(r"^(v?\d+(?:\.\d+)?(?:\.\d+)?)((?:[-+].*)?)$")
_GO_HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}
_GO_LINE_ESCAPES = {"\u2028": "\\u2028", "\u2029": "\\u2029"}


@dataclass(frozen=True)
class ChartVersion:
    """One version of a chart as the index lists it."""

    name: str
    version: str
    urls: tuple[str, ...]
    """Where the package is, relative to the repository URL or absolute; the first is used."""
    digest: str
    """The package's sha256 in hex as the index gives it; empty when it gives none."""
    created: str
    """RFC 3339, as Go writes it; `ZERO_TIME` when the index leaves it out."""
    app_version: str
    deprecated: bool
    fields: Mapping[str, Any] = field(repr=False, compare=False)
    """Every field kept, in the order and form the stored JSON has them."""


@dataclass(frozen=True)
class ChartIndex:
    """A repository index: chart versions newest first, and the artifact it is stored as."""

    url: str
    """The repository, for messages."""
    api_version: str
    entries: Mapping[str, tuple[ChartVersion, ...]]
    raw: bytes = field(repr=False)
    """The artifact's bytes: the sorted index as JSON, the same for the same index."""
    digest: str
    """``sha256:<hex>`` of `raw`: the artifact's digest."""
    revision: str
    """Flux's revision, ``sha256:<hex>`` of index.yaml as the server sent it; the file
    is stored as ``index-<hex>.yaml`` (`artifact_filename`)."""
    warnings: tuple[str, ...] = ()
    """Chart versions dropped because Helm's validation refuses them, and why."""

    @property
    def artifact_filename(self) -> str:
        return f"index-{self.revision.removeprefix('sha256:')}.yaml"


def parse_index(data: bytes, url: str, revision: str | None = None) -> ChartIndex:
    """The index in `data` (YAML or JSON) of the repository at `url`; raises `InvalidIndex`.

    `revision` defaults to the sha256 of `data`, which is Flux's revision for a download.
    """
    if not data.strip():
        raise InvalidIndex(f"index.yaml of {url} is empty; check that {url} is a Helm repository")
    document = _load(data, url)
    _check_expansion(document, len(data), url)
    if not isinstance(document, dict):
        raise InvalidIndex(f"index.yaml of {url} is not a mapping; it is no Helm repository index")
    api_version = document.get("apiVersion")
    if not api_version or not isinstance(api_version, str):
        raise InvalidIndex(
            f"index.yaml of {url} has no apiVersion; it is no Helm repository index, "
            "correct spec.url"
        )
    warnings: list[str] = []
    entries = _entries(document.get("entries"), url, warnings)
    stored = _index_fields(document, api_version, entries, url)
    raw = _go_json(stored)
    return ChartIndex(
        url=url,
        api_version=api_version,
        entries={
            name: tuple(_chart_version(item) for item in items or ()) for name, items in entries
        },
        raw=raw,
        digest=_sha256(raw),
        revision=revision or _sha256(data),
        warnings=tuple(warnings),
    )


def load_index(path: Path, url: str = "", max_bytes: int = MAX_INDEX_BYTES) -> ChartIndex:
    """A stored index read back; its revision is the hex of its ``index-<hex>.yaml`` name.

    `url` names the repository in messages (the file's path when empty).
    """
    where = url or str(path)
    if path.stat().st_size > max_bytes:
        raise TooLarge(f"index {where} is larger than {max_bytes} bytes; raise the index limit")
    named = _STORED_NAME.match(path.name)
    return parse_index(path.read_bytes(), where, f"sha256:{named[1]}" if named else None)


def select_chart(index: ChartIndex, chart: str, version_range: str) -> ChartVersion:
    """The version of `chart` that `version_range` picks, with Flux's rules (see above)."""
    versions = index.entries.get(chart)
    if not versions:
        known = ", ".join(sorted(index.entries)[:MAX_LISTED]) or "none"
        raise RefNotFound(
            f"chart '{chart}' not found in {index.url} (charts there: {known}); "
            "correct spec.chart or push the chart"
        )
    if version_range:
        for candidate in versions:
            if candidate.version == version_range:
                return candidate
    try:
        wanted = parse_range("*" if version_range in LATEST_STABLE else version_range)
    except InvalidRangeError as error:
        raise InvalidRef(f"spec.version of chart '{chart}' in {index.url}: {error}") from error
    matching = [
        (parsed, candidate)
        for candidate in versions
        if (parsed := parse_version(candidate.version)) is not None and wanted.contains(parsed)
    ]
    if not matching:
        available = ", ".join(v.version for v in versions[:MAX_LISTED])
        more = ", ..." if len(versions) > MAX_LISTED else ""
        raise NoSemverMatch(
            f"no chart version of '{chart}' in {index.url} matches '{version_range or '*'}': "
            f"available {available}{more}; widen spec.version or push a matching version"
        )
    return max(matching, key=lambda found: (found[0].precedence, _instant(found[1].created)))[1]


class _IndexLoader(yaml.CSafeLoader):
    """YAML whose numbers and times stay the text they are written as, so ``1.10`` is not
    the number 1.1 and times keep their nanoseconds; null and booleans are read as such."""


def _written_text(loader: _IndexLoader, node: yaml.Node) -> str:
    return str(node.value)


for _tag in ("int", "float", "timestamp"):
    _IndexLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _written_text)


def _load(data: bytes, url: str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        pass
    try:
        return yaml.load(data, Loader=_IndexLoader)  # a CSafeLoader: no Python objects
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or type(error).__name__
        raise InvalidIndex(
            f"index.yaml of {url} is neither JSON nor YAML ({problem}{where}); check the repository"
        ) from error


def _check_expansion(document: Any, size: int, url: str) -> None:
    """Refuse a document with more nodes than bytes: only aliases make one that large."""
    budget = size + 16
    pending = [document]
    while pending:
        node = pending.pop()
        budget -= 1
        if budget < 0:
            raise InvalidIndex(
                f"index.yaml of {url} expands through YAML aliases to more than its own "
                "size; lockstep refuses it"
            )
        if isinstance(node, dict):
            pending.extend(node.keys())
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)


def _entries(
    value: Any, url: str, warnings: list[str]
) -> list[tuple[str, list[dict[str, Any]] | None]]:
    """Each chart's versions as stored, newest first, charts by name."""
    if value is None:
        return []
    if not isinstance(value, dict):
        raise InvalidIndex(f"index.yaml of {url}: entries is not a mapping of chart names")
    charts: list[tuple[str, list[dict[str, Any]] | None]] = []
    by_name = {str(key): items for key, items in value.items()}
    for name in sorted(by_name):
        items = by_name[name]
        if items is None:
            charts.append((name, None))  # Go writes a chart without versions as null
            continue
        if not isinstance(items, list):
            raise InvalidIndex(f"index.yaml of {url}: entries.{name} is not a list of versions")
        kept = []
        for position, item in enumerate(items):
            if item is None:
                continue
            what = f"index.yaml of {url}: entries.{name}[{position}]"
            raw = _mapping(item, what)
            fields = _version_fields(raw, what)
            problem = _invalid(raw, fields)
            if problem is not None:
                warnings.append(f"{what} is skipped: {problem}")
                continue
            kept.append(fields)
        charts.append((name, _newest_first(kept)))
    return charts


def _newest_first(versions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Helm's order: highest version first, those that are not versions last."""

    def key(fields: dict[str, Any]) -> tuple[int, Any]:
        parsed = _loose_version(fields["version"])
        return (1, parsed.precedence) if parsed is not None else (0, ())

    return sorted(versions, key=key, reverse=True)


def _invalid(item: Mapping[str, Any], fields: Mapping[str, Any]) -> str | None:
    """Why Helm's ``Metadata.Validate`` refuses a chart version, or None: Flux drops those."""
    name, version = fields.get("name", ""), fields.get("version", "")
    if not name:
        return "it has no name"
    if name in (".", "..") or "/" in name:
        return f"its name {name!r} is not a file name"
    if not version:
        return "it has no version"
    if _loose_version(version) is None:
        return f"its version {version!r} is not a semantic version"
    if fields.get("type", "") not in CHART_TYPES:
        return f"its type {fields['type']!r} is neither application nor library"
    for listed in ("maintainers", "dependencies"):
        if None in (item.get(listed) or ()):
            return f"its {listed} hold an empty entry"
    for dependency in fields.get("dependencies", ()):
        if dependency.get("alias") and not _ALIAS.match(dependency["alias"]):
            return f"the alias of its dependency {dependency['name']!r} has disallowed characters"
    return None


def _instant(created: str) -> datetime:
    """The moment an RFC 3339 time names, to the microsecond, whatever its offset."""
    return datetime.fromisoformat(created)


def _loose_version(text: str) -> Version | None:
    """A version as Masterminds' NewVersion reads it: ``1.2`` is 1.2.0."""
    match = _LOOSE_CORE.match(text)
    if match is None:
        return None
    core, rest = match.groups()
    return parse_version(core + ".0" * (2 - core.count(".")) + rest)


def _chart_version(fields: Mapping[str, Any]) -> ChartVersion:
    return ChartVersion(
        name=fields["name"],
        version=fields["version"],
        urls=tuple(fields["urls"] or ()),
        digest=fields.get("digest", ""),
        created=fields["created"],
        app_version=fields.get("appVersion", ""),
        deprecated=fields.get("deprecated", False),
        fields=fields,
    )


# --- the stored form: Helm's Go structs, written as encoding/json writes them ----------

_Reader = Callable[[Any, str], Any]


def _index_fields(
    document: dict[str, Any],
    api_version: str,
    entries: list[tuple[str, list[dict[str, Any]] | None]],
    url: str,
) -> dict[str, Any]:
    what = f"index.yaml of {url}"
    written: dict[str, Any] = {}
    server_info = document.get("serverInfo")
    if server_info:
        written["serverInfo"] = _sorted_value(_mapping(server_info, f"{what}: serverInfo"))
    written["apiVersion"] = api_version
    written["generated"] = _time(document.get("generated"), f"{what}: generated")
    written["entries"] = dict(entries)
    public_keys = _strings(document.get("publicKeys"), f"{what}: publicKeys")
    if public_keys:
        written["publicKeys"] = public_keys
    annotations = _string_map(document.get("annotations"), f"{what}: annotations")
    if annotations:
        written["annotations"] = annotations
    return written


def _text(value: Any, what: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise InvalidIndex(f"{what} is not text; correct the repository index")


def _sanitized(value: Any, what: str) -> str:
    """Text as Helm's ``sanitizeString`` leaves it: spaces made plain, unprintables gone."""
    return "".join(_sanitized_character(character) for character in _text(value, what))


def _sanitized_character(character: str) -> str:
    if character in _GO_LATIN1_SPACES or (ord(character) > 0xFF and character.isspace()):
        return " "
    return character if character.isprintable() else ""


def _sanitized_strings(value: Any, what: str) -> list[str]:
    return [_sanitized(item, what) for item in _strings(value, what)]


def _flag(value: Any, what: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    raise InvalidIndex(f"{what} is not true or false; correct the repository index")


def _strings(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidIndex(f"{what} is not a list; correct the repository index")
    return [_text(item, what) for item in value]


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidIndex(f"{what} is not a mapping; correct the repository index")
    return value


def _string_map(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    items = _mapping(value, what)
    return {str(key): _text(items[key], what) for key in sorted(items, key=str)}


def _sorted_value(value: Any) -> Any:
    """Free-form data as Go writes an ``interface{}``: mapping keys sorted."""
    if isinstance(value, dict):
        return {str(key): _sorted_value(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, list):
        return [_sorted_value(item) for item in value]
    return value


def _time(value: Any, what: str) -> str:
    """An RFC 3339 time as Go's RFC3339Nano writes it: fraction trimmed, +00:00 as Z."""
    if value is None:
        return ZERO_TIME
    match = _TIME.match(_text(value, what))
    if match is None:
        raise InvalidIndex(f"{what} {value!r} is not an RFC 3339 time; correct the index")
    seconds, fraction, offset = match.groups()
    fraction = (fraction or "").rstrip("0")
    zone = "Z" if offset in ("Z", "+00:00", "-00:00") else offset
    return f"{seconds}{'.' + fraction if fraction else ''}{zone}"


def _fields(
    item: dict[str, Any], layout: tuple[tuple[str, _Reader, bool], ...], what: str
) -> dict[str, Any]:
    """`item`'s fields in the order of `layout`: (name, reader, written when empty)."""
    written = {}
    for name, read, always in layout:
        value = read(item.get(name), f"{what}.{name}")
        if always or value:
            written[name] = value
    return written


def _listed(layout: tuple[tuple[str, _Reader, bool], ...]) -> _Reader:
    def read(value: Any, what: str) -> list[dict[str, Any]]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise InvalidIndex(f"{what} is not a list; correct the repository index")
        return [
            _fields(_mapping(item, f"{what}[{at}]"), layout, f"{what}[{at}]")
            for at, item in enumerate(value)
            if item is not None
        ]

    return read


def _import_values(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidIndex(f"{what} is not a list; correct the repository index")
    return [_sorted_value(item) for item in value]


def _urls(value: Any, what: str) -> list[str] | None:
    return None if value is None else _strings(value, what)


# Helm's Validate sanitizes the fields read with _sanitized: they are stored that way.
_MAINTAINER = (
    ("name", _sanitized, False),
    ("email", _sanitized, False),
    ("url", _sanitized, False),
)
_DEPENDENCY = (
    ("name", _sanitized, True),
    ("version", _sanitized, False),
    ("repository", _sanitized, True),
    ("condition", _sanitized, False),
    ("tags", _sanitized_strings, False),
    ("enabled", _flag, False),
    ("import-values", _import_values, False),
    ("alias", _text, False),
)
_CHART_VERSION: tuple[tuple[str, _Reader, bool], ...] = (
    # Helm's chart.Metadata, embedded first ...
    ("name", _sanitized, False),
    ("home", _sanitized, False),
    ("sources", _sanitized_strings, False),
    ("version", _text, False),
    ("description", _sanitized, False),
    ("keywords", _sanitized_strings, False),
    ("maintainers", _listed(_MAINTAINER), False),
    ("icon", _sanitized, False),
    ("apiVersion", _text, False),
    ("condition", _sanitized, False),
    ("tags", _sanitized, False),
    ("appVersion", _sanitized, False),
    ("deprecated", _flag, False),
    ("annotations", _string_map, False),
    ("kubeVersion", _sanitized, False),
    ("dependencies", _listed(_DEPENDENCY), False),
    ("type", _text, False),
    # ... then repo.ChartVersion's own fields.
    ("urls", _urls, True),
    ("created", _time, True),
    ("removed", _flag, False),
    ("digest", _text, False),
    ("checksum", _text, False),
    ("engine", _text, False),
    ("tillerVersion", _text, False),
    ("url", _text, False),
)


def _version_fields(item: dict[str, Any], what: str) -> dict[str, Any]:
    """A chart version as stored; one without ``apiVersion`` is a v1 chart, as in Flux."""
    return _fields({**item, "apiVersion": item.get("apiVersion") or "v1"}, _CHART_VERSION, what)


def _go_json(value: Any) -> bytes:
    """`value` as Go's json.MarshalIndent(value, "", "  ") writes it."""
    text = json.dumps(value, indent=2, ensure_ascii=False)
    for table in (_GO_HTML_ESCAPES, _GO_LINE_ESCAPES):
        for character, escape in table.items():
            text = text.replace(character, escape)
    return text.encode("utf-8", errors="replace")


def _sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"
