"""Sprig's list, dict, JSON and regular expression functions, as sprig v3 computes them.

Lists are any slice (``list``, ``splitList``, ``.Changed.Changes``); a function given
something else fails as sprig's would (``Cannot find first on type string``). JSON is
encoding/json's: keys sorted, ``<``, ``>`` and ``&`` escaped, structs by field name,
a map with struct keys unsupported (``toJson`` then gives ``""``). Regular expressions
are RE2 patterns run by Python's ``re`` (``$`` is the end of the text, ``\\d`` and
``\\w`` ASCII, as in Go) with Go's rules for empty matches and ``$1``/``${name}`` in
replacements. :mod:`.sprig` puts them in the function map.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

from lockstep.gotemplate.printer import quote, shortest_float
from lockstep.gotemplate.sprig_text import empty, strval, to_int
from lockstep.gotemplate.values import (
    INTERFACE,
    CallError,
    Function,
    GoSlice,
    GoStruct,
    deep_equal,
    kind,
)

MAP = "map[string]" + INTERFACE
_JSON_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
_HTML_UNSAFE = {"<", ">", "&", "\u2028", "\u2029"}
_QUOTE_META = set("\\.+*?()|[]{}^$")
_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7F",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1F\\x7F",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}


class _Unsupported(Exception):
    pass


def functions() -> dict[str, Function]:
    """Sprig's list, dict, JSON and regular expression functions, by name."""
    anything, string, integer = INTERFACE, "string", "int"
    table: dict[str, Function] = {
        "list": Function((), lambda *v: list(v), anything),
        "tuple": Function((), lambda *v: list(v), anything),
        "first": Function((anything,), lambda v: next(iter(_items(v, "find first")), None)),
        "last": Function((anything,), lambda v: (_items(v, "find last") or [None])[-1]),
        "rest": Function((anything,), lambda v: _items(v, "find rest")[1:]),
        "initial": Function((anything,), lambda v: _items(v, "find initial")[:-1]),
        "reverse": Function((anything,), lambda v: _items(v, "find reverse")[::-1]),
        "append": Function((anything, anything), lambda v, x: [*_items(v, "push"), x]),
        "prepend": Function((anything, anything), lambda v, x: [x, *_items(v, "prepend")]),
        "concat": Function((), _concat, anything),
        "compact": Function(
            (anything,), lambda v: [x for x in _items(v, "compact") if not empty(x)]
        ),
        "uniq": Function((anything,), _uniq),
        "without": Function((anything,), _without, anything),
        "has": Function((anything, anything), _has),
        "slice": Function((anything,), _slice, anything),
        "sortAlpha": Function((anything,), _sort_alpha),
        "join": Function((string, anything), lambda sep, v: sep.join(_strings(v))),
        "toStrings": Function((anything,), lambda v: GoSlice(_strings(v), "[]string")),
        "deepEqual": Function((anything, anything), deep_equal),
        "dict": Function((), _dict, anything),
        "get": Function((MAP, string), lambda d, k: d.get(k, "")),
        "set": Function((MAP, string, anything), _set),
        "unset": Function((MAP, string), _unset),
        "hasKey": Function((MAP, string), lambda d, k: k in d),
        "pluck": Function((string,), lambda k, *ds: [d[k] for d in ds if k in d], MAP),
        "keys": Function(
            (), lambda *ds: GoSlice([k for d in ds for k in sorted(d)], "[]string"), MAP
        ),
        "values": Function((MAP,), lambda d: [d[k] for k in sorted(d)]),
        "pick": Function((MAP,), lambda d, *ks: {k: d[k] for k in ks if k in d}, string),
        "omit": Function(
            (MAP,), lambda d, *ks: {k: v for k, v in d.items() if k not in ks}, string
        ),
        "fromJson": Function((string,), lambda s: _from_json(s, fail=False)),
        "mustFromJson": Function((string,), lambda s: _from_json(s, fail=True)),
        "toJson": Function((anything,), lambda v: _json_or_empty(v, None, escape_html=True)),
        "toPrettyJson": Function((anything,), lambda v: _json_or_empty(v, "  ", escape_html=True)),
        "toRawJson": Function((anything,), lambda v: _json_or_fail(v, None, escape_html=False)),
        "mustToJson": Function((anything,), lambda v: _json_or_fail(v, None, escape_html=True)),
        "mustToPrettyJson": Function(
            (anything,), lambda v: _json_or_fail(v, "  ", escape_html=True)
        ),
        "mustToRawJson": Function((anything,), lambda v: _json_or_fail(v, None, escape_html=False)),
        "regexMatch": Function((string, string), _regex_match),
        "mustRegexMatch": Function((string, string), lambda r, s: bool(_compile(r).search(s))),
        "regexFind": Function((string, string), lambda r, s: next(iter(_find_all(r, s, 1)), "")),
        "regexFindAll": Function(
            (string, string, integer), lambda r, s, n: GoSlice(_find_all(r, s, n), "[]string")
        ),
        "regexReplaceAll": Function(
            (string, string, string), lambda r, s, t: _replace_all(r, s, t, expand=True)
        ),
        "regexReplaceAllLiteral": Function(
            (string, string, string), lambda r, s, t: _replace_all(r, s, t, expand=False)
        ),
        "regexSplit": Function(
            (string, string, integer), lambda r, s, n: GoSlice(_split(r, s, n), "[]string")
        ),
        "regexQuoteMeta": Function(
            (string,), lambda s: "".join("\\" + c if c in _QUOTE_META else c for c in s)
        ),
    }
    aliases = {
        "push": "append",
        "mustPush": "append",
        "mustAppend": "append",
        "mustPrepend": "prepend",
    }
    for name in (
        "first",
        "last",
        "rest",
        "initial",
        "reverse",
        "compact",
        "uniq",
        "without",
        "has",
        "slice",
    ):
        aliases["must" + name[0].upper() + name[1:]] = name
    for name in ("FindAll", "Find", "ReplaceAll", "ReplaceAllLiteral", "Split"):
        aliases["mustRegex" + name] = "regex" + name
    table.update({alias: table[name] for alias, name in aliases.items()})
    return table


# Lists


def _items(value: Any, verb: str) -> list[Any]:
    if value is None:
        raise CallError("runtime error: invalid memory address or nil pointer dereference")
    if not isinstance(value, list):
        raise CallError(f"Cannot {verb} on type {kind(value)}")
    return list(value)


def _concat(*lists: Any) -> list[Any]:
    joined: list[Any] = []
    for value in lists:
        if not isinstance(value, list):
            raise CallError(f"Cannot concat type {kind(value)} as list")
        joined += value
    return joined


def _uniq(value: Any) -> list[Any]:
    unique: list[Any] = []
    for item in _items(value, "find uniq"):
        if not any(deep_equal(item, seen) for seen in unique):
            unique.append(item)
    return unique


def _without(value: Any, *omitted: Any) -> list[Any]:
    items = _items(value, "find without")
    return [item for item in items if not any(deep_equal(item, o) for o in omitted)]


def _has(needle: Any, haystack: Any) -> bool:
    if haystack is None:
        return False
    return any(deep_equal(needle, item) for item in _items(haystack, "find has"))


def _slice(value: Any, *indexes: Any) -> Any:
    if value is None or not isinstance(value, list):
        raise CallError(f"list should be type of slice or array but {kind(value)}")
    if not value:
        return None
    start = to_int(indexes[0]) if indexes else 0
    end = to_int(indexes[1]) if len(indexes) > 1 else len(value)
    if not 0 <= start <= end <= len(value):
        raise CallError("reflect: slice index out of range")
    part = value[start:end]
    return GoSlice(part, value.go_type) if isinstance(value, GoSlice) else list(part)


def _strings(value: Any) -> list[str]:
    """Sprig's strslice: the non-nil items of a list as strings, else the value alone."""
    if isinstance(value, list):
        return [strval(item) for item in value if item is not None]
    return [] if value is None else [strval(value)]


def _sort_alpha(value: Any) -> GoSlice:
    if isinstance(value, list):
        return GoSlice(sorted(_strings(value)), "[]string")
    return GoSlice([strval(value)], "[]string")


# Dicts


def _dict(*pairs: Any) -> dict[str, Any]:
    made: dict[str, Any] = {}
    for i in range(0, len(pairs), 2):
        made[strval(pairs[i])] = pairs[i + 1] if i + 1 < len(pairs) else ""
    return made


def _set(target: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    target[key] = value
    return target


def _unset(target: dict[str, Any], key: str) -> dict[str, Any]:
    target.pop(key, None)
    return target


# JSON


def _from_json(text: str, fail: bool) -> Any:
    """encoding/json into an interface {}: numbers are float64."""
    try:
        return json.loads(text, parse_int=float, parse_constant=_no_constant)
    except ValueError as error:
        if fail:
            raise CallError(str(error)) from None
        return None


def _no_constant(name: str) -> Any:
    raise ValueError(f"invalid character {name[0]!r} looking for beginning of value")


def _json_or_empty(value: Any, indent: str | None, escape_html: bool) -> str:
    try:
        return _json(value, indent, "", escape_html)
    except _Unsupported:
        return ""


def _json_or_fail(value: Any, indent: str | None, escape_html: bool) -> str:
    try:
        return _json(value, indent, "", escape_html)
    except _Unsupported as error:
        raise CallError(f"json: {error}") from None


def _json(value: Any, indent: str | None, prefix: str, escape_html: bool) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _json_float(value)
    if isinstance(value, str):
        return _json_string(value, escape_html)
    if isinstance(value, list):
        items = [_json(item, indent, _deeper(prefix, indent), escape_html) for item in value]
        return _json_container("[", "]", items, indent, prefix)
    pairs: list[tuple[str, Any]]
    if isinstance(value, GoStruct):
        pairs = _json_fields(value)
    elif isinstance(value, dict):
        if any(not isinstance(key, str) for key in value):
            raise _Unsupported("unsupported type: map with struct keys")
        pairs = sorted(value.items())
    else:
        raise _Unsupported(f"unsupported value {value!r}")
    separator = ": " if indent is not None else ":"
    members = [
        _json_string(key, escape_html)
        + separator
        + _json(item, indent, _deeper(prefix, indent), escape_html)
        for key, item in pairs
    ]
    return _json_container("{", "}", members, indent, prefix)


def _deeper(prefix: str, indent: str | None) -> str:
    return prefix + (indent or "")


def _json_container(
    opening: str, closing: str, items: list[str], indent: str | None, prefix: str
) -> str:
    if indent is None or not items:
        return opening + ",".join(items) + closing
    inner = prefix + indent
    return opening + "\n" + ",\n".join(inner + item for item in items) + "\n" + prefix + closing


def _json_fields(value: GoStruct) -> list[tuple[str, Any]]:
    """A struct's JSON members: Go field names unless tagged, embedded structs' fields
    promoted, empty ``omitempty`` fields left out."""
    members: list[tuple[str, Any]] = []
    for name, field in value.go_fields():
        if name in value.go_embedded:
            members += _json_fields(field)
            continue
        tag = value.go_json_names.get(name, name)
        json_name, _, options = tag.partition(",")
        if options == "omitempty" and empty(field):
            continue
        members.append((json_name or name, field))
    return members


def _json_string(text: str, escape_html: bool) -> str:
    out = ['"']
    for char in text:
        if char in _JSON_ESCAPES:
            out.append(_JSON_ESCAPES[char])
        elif char < " " or (escape_html and char in _HTML_UNSAFE):
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return "".join(out) + '"'


def _json_float(number: float) -> str:
    if not math.isfinite(number):
        raise _Unsupported(f"unsupported value: {shortest_float(number)}")
    text = shortest_float(number)
    magnitude = abs(number)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        return re.sub(r"e([+-])0(\d)$", r"e\1\2", text)
    if "e" in text:  # %v chose the exponent form, JSON writes this magnitude in full
        return _fixed(number)
    return text


def _fixed(number: float) -> str:
    return format(Decimal(repr(number)), "f").removesuffix(".0")


# Regular expressions


def _python_pattern(pattern: str) -> str:
    """An RE2 pattern in Python's syntax: ``$`` and ``\\z`` end the text (unless the
    pattern turns on multi-line mode), ``(?<name>`` names a group, POSIX classes."""
    multiline = re.search(r"\(\?[a-zA-Z]*m", pattern) is not None
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append("\\Z" if pattern[i + 1] == "z" else pattern[i : i + 2])
            i += 2
            continue
        if in_class and pattern.startswith("[:", i) and (end := pattern.find(":]", i)) > 0:
            out.append(_POSIX_CLASSES.get(pattern[i + 2 : end], pattern[i : end + 2]))
            i = end + 2
            continue
        if char == "[" and not in_class:
            in_class = True
            out.append(char)
            if pattern.startswith("^", i + 1):
                out.append("^")
                i += 1
            if pattern.startswith("]", i + 1):
                out.append("\\]")
                i += 1
        elif char == "]" and in_class:
            in_class = False
            out.append(char)
        elif char == "$" and not in_class and not multiline:
            out.append("\\Z")
        elif pattern.startswith("(?<", i) and pattern[i + 3 : i + 4] not in ("=", "!"):
            out.append("(?P<")
            i += 2
        else:
            out.append(char)
        i += 1
    return "".join(out)


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(_python_pattern(pattern), re.ASCII)
    except re.error as error:
        raise CallError(
            f"regexp: Compile({quote(pattern)}): error parsing regexp: {error}"
        ) from None


def _regex_match(pattern: str, text: str) -> bool:
    try:
        return bool(_compile(pattern).search(text))
    except CallError:
        return False


def _matches(regex: re.Pattern[str], text: str, limit: int) -> list[re.Match[str]]:
    """Go's successive non-overlapping matches: an empty match right after a match is
    skipped."""
    if limit < 0:
        limit = len(text) + 1
    found: list[re.Match[str]] = []
    pos, previous_end = 0, -1
    while len(found) < limit and pos <= len(text):
        match = regex.search(text, pos)
        if match is None:
            break
        accept = True
        if match.end() == pos:
            accept = match.start() != previous_end
            pos += 1
        else:
            pos = match.end()
        previous_end = match.end()
        if accept:
            found.append(match)
    return found


def _find_all(pattern: str, text: str, limit: int) -> list[str]:
    return [match.group() for match in _matches(_compile(pattern), text, limit)]


def _replace_all(pattern: str, text: str, template: str, expand: bool) -> str:
    regex = _compile(pattern)
    out: list[str] = []
    last_end = search = 0
    while search <= len(text):
        match = regex.search(text, search)
        if match is None:
            break
        out.append(text[last_end : match.start()])
        if match.end() > last_end or match.start() == 0:
            out.append(_expand(template, match) if expand else template)
        last_end = match.end()
        search = search + 1 if search + 1 > match.end() else match.end()
    out.append(text[last_end:])
    return "".join(out)


def _expand(template: str, match: re.Match[str]) -> str:
    """Go's Regexp.Expand: ``$1``, ``${1}``, ``$name``, ``${name}``, ``$$``."""
    out: list[str] = []
    i = 0
    while i < len(template):
        char = template[i]
        i += 1
        if char != "$":
            out.append(char)
            continue
        if template.startswith("$", i):
            out.append("$")
            i += 1
            continue
        name, i = _group_name(template, i)
        if name is None:
            out.append("$")
            continue
        out.append(_group(match, name))
    return "".join(out)


def _group_name(template: str, i: int) -> tuple[str | None, int]:
    braced = template.startswith("{", i)
    start = i + braced
    end = start
    while end < len(template) and (template[end].isalnum() or template[end] == "_"):
        end += 1
    if end == start or (braced and not template.startswith("}", end)):
        return None, i
    return template[start:end], end + braced


def _group(match: re.Match[str], name: str) -> str:
    if name.isdigit() and not (name.startswith("0") and len(name) > 1):
        number = int(name)
        return (match.group(number) or "") if number <= (match.re.groups) else ""
    if name in match.re.groupindex:
        return match.group(name) or ""
    return ""


def _split(pattern: str, text: str, limit: int) -> list[str]:
    """Go's Regexp.Split."""
    regex = _compile(pattern)
    if limit == 0:
        return []
    if pattern and not text:
        return [""]
    parts: list[str] = []
    begin = end = 0
    for match in _matches(regex, text, limit):
        if limit > 0 and len(parts) == limit - 1:
            break
        end = match.start()
        if match.end() != 0:
            parts.append(text[begin:end])
        begin = match.end()
    if end != len(text):
        parts.append(text[begin:])
    return parts
