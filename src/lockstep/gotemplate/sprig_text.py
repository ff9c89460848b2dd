"""Sprig's string, number and path functions, and the conversions every sprig function
shares (``strval``, ``empty``, spf13/cast's ``toInt64``), as sprig v3 computes them.
:mod:`.sprig` puts them in the function map."""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import posixpath
import re
import unicodedata
import zlib
from collections.abc import Callable
from typing import Any

from lockstep.gotemplate.literals import parse_float, parse_int
from lockstep.gotemplate.printer import quote, sprintf
from lockstep.gotemplate.values import (
    INTERFACE,
    CallError,
    Function,
    GoInt64,
    GoMap,
    GoSlice,
    GoStruct,
    is_int,
    kind,
    type_name,
)

GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_INT64_MIN, _INT64_SPAN = -(2**63), 2**64
_DECIMAL = re.compile(r"[+-]?[0-9]+")
_ALPHABETS = {
    "base64": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n",
    "base32": "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567=\r\n",
}


def functions() -> dict[str, Function]:
    """Sprig's string, number, encoding and path functions, by name."""
    string, anything, integer = "string", INTERFACE, "int"
    s1, s2, s3 = (string,), (string, string), (string, string, string)
    functions: dict[str, Function] = {
        "hello": Function((), lambda: "Hello!"),
        "upper": Function(s1, lambda s: "".join(map(_upper, s))),
        "lower": Function(s1, lambda s: "".join(map(_lower, s))),
        "title": Function(s1, _title),
        "untitle": Function(s1, _untitle),
        "trim": Function(s1, lambda s: s.strip(GO_SPACE)),
        "trimAll": Function(s2, lambda cut, s: s.strip(cut)),
        "trimall": Function(s2, lambda cut, s: s.strip(cut)),
        "trimPrefix": Function(s2, lambda prefix, s: s.removeprefix(prefix)),
        "trimSuffix": Function(s2, lambda suffix, s: s.removesuffix(suffix)),
        "trunc": Function((integer, string), _trunc),
        "abbrev": Function((integer, string), _abbrev),
        "substr": Function((integer, integer, string), _substr),
        "repeat": Function((integer, string), _repeat),
        "nospace": Function(s1, lambda s: "".join(c for c in s if c not in GO_SPACE)),
        "initials": Function(s1, _initials),
        "snakecase": Function(s1, lambda s: _lower_words(s, "_")),
        "kebabcase": Function(s1, lambda s: _lower_words(s, "-")),
        "camelcase": Function(s1, _pascal_case),
        "contains": Function(s2, lambda part, s: part in s),
        "hasPrefix": Function(s2, lambda prefix, s: s.startswith(prefix)),
        "hasSuffix": Function(s2, lambda suffix, s: s.endswith(suffix)),
        "quote": Function(
            (), lambda *v: " ".join(quote(strval(x)) for x in v if x is not None), anything
        ),
        "squote": Function(
            (), lambda *v: " ".join(f"'{sprintf('%v', [x])}'" for x in v if x is not None), anything
        ),
        "cat": Function(
            (), lambda *v: " ".join(sprintf("%v", [x]) for x in v if x is not None), anything
        ),
        "indent": Function((integer, string), _indent),
        "nindent": Function((integer, string), lambda n, s: "\n" + _indent(n, s)),
        "replace": Function(s3, lambda old, new, s: s.replace(old, new)),
        "plural": Function((string, string, integer), lambda one, many, n: one if n == 1 else many),
        "sha1sum": Function(s1, lambda s: hashlib.sha1(s.encode()).hexdigest()),
        "sha256sum": Function(s1, lambda s: hashlib.sha256(s.encode()).hexdigest()),
        "sha512sum": Function(s1, lambda s: hashlib.sha512(s.encode()).hexdigest()),
        "adler32sum": Function(s1, lambda s: str(zlib.adler32(s.encode()))),
        "toString": Function((anything,), strval),
        "atoi": Function(s1, _atoi),
        "int": Function((anything,), to_int),
        "int64": Function((anything,), lambda v: GoInt64(to_int(v))),
        "float64": Function((anything,), to_float),
        "split": Function(s2, lambda sep, s: _numbered(_split(s, sep, -1))),
        "splitn": Function(
            (string, integer, string), lambda sep, n, s: _numbered(_split(s, sep, n))
        ),
        "splitList": Function(s2, lambda sep, s: GoSlice(_split(s, sep, -1), "[]string")),
        "until": Function((integer,), lambda n: _until(0, n, 1 if n >= 0 else -1)),
        "untilStep": Function((integer, integer, integer), _until),
        "add1": Function((anything,), lambda v: _int64(to_int(v) + 1)),
        "add": Function((), lambda *v: _int64(sum(map(to_int, v))), anything),
        "sub": Function((anything, anything), lambda a, b: _int64(to_int(a) - to_int(b))),
        "mul": Function(
            (anything,), lambda a, *v: _int64(math.prod(map(to_int, (a, *v)))), anything
        ),
        "div": Function(
            (anything, anything), lambda a, b: _int64(_divide(to_int(a), to_int(b))[0])
        ),
        "mod": Function(
            (anything, anything), lambda a, b: _int64(_divide(to_int(a), to_int(b))[1])
        ),
        "max": Function((anything,), lambda a, *v: _int64(max(map(to_int, (a, *v)))), anything),
        "biggest": Function((anything,), lambda a, *v: _int64(max(map(to_int, (a, *v)))), anything),
        "min": Function((anything,), lambda a, *v: _int64(min(map(to_int, (a, *v)))), anything),
        "default": Function(
            (anything,), lambda d, *g: d if not g or empty(g[0]) else g[0], anything
        ),
        "empty": Function((anything,), empty),
        "coalesce": Function((), lambda *v: next((x for x in v if not empty(x)), None), anything),
        "all": Function((), lambda *v: not any(map(empty, v)), anything),
        "any": Function((), lambda *v: not all(map(empty, v)), anything),
        "ternary": Function(
            (anything, anything, "bool"), lambda yes, no, cond: yes if cond else no
        ),
        "typeOf": Function((anything,), type_name),
        "kindOf": Function((anything,), kind),
        "kindIs": Function((string, anything), lambda k, v: kind(v) == k),
        "typeIs": Function((string, anything), lambda t, v: type_name(v) == t),
        "typeIsLike": Function(
            (string, anything), lambda t, v: t in (type_name(v), "*" + type_name(v))
        ),
        "b64enc": Function(s1, lambda s: base64.b64encode(s.encode()).decode()),
        "b64dec": Function(s1, lambda s: _decode("base64", s)),
        "b32enc": Function(s1, lambda s: base64.b32encode(s.encode()).decode()),
        "b32dec": Function(s1, lambda s: _decode("base32", s)),
        "base": Function(s1, _path_base),
        "dir": Function(s1, lambda p: _path_clean(p[: p.rfind("/") + 1])),
        "clean": Function(s1, _path_clean),
        "ext": Function(s1, _path_ext),
        "isAbs": Function(s1, lambda p: p.startswith("/")),
        "fail": Function(s1, _fail),
        "floor": Function((anything,), lambda v: _whole(math.floor, to_float(v))),
        "ceil": Function((anything,), lambda v: _whole(math.ceil, to_float(v))),
        "round": Function((anything, integer), _round, "float64"),
    }
    for name in ("base", "dir", "clean", "ext", "isAbs"):
        functions["os" + name[0].upper() + name[1:]] = functions[name]
    return functions


def _whole(rounding: Callable[[float], int], number: float) -> float:
    return float(rounding(number)) if math.isfinite(number) else number


def _round(value: Any, places: int, *round_on: float) -> float:
    """Sprig's round: away from zero from ``round_on`` (0.5) of the last place up."""
    number = to_float(value)
    scale = 10.0**places
    scaled = scale * number
    fraction = math.modf(scaled)[0]
    threshold = round_on[0] if round_on else 0.5
    return _whole(math.ceil if fraction >= threshold else math.floor, scaled) / scale


def _fail(message: str) -> Any:
    raise CallError(message)


# Conversions


def strval(value: Any) -> str:
    """Sprig's strval: a string as it is, a Stringer through String(), else ``%v``."""
    if isinstance(value, str):
        return value
    if isinstance(value, GoStruct) and value.go_string() is not None:
        return str(value.go_string())
    return sprintf("%v", [value])


def empty(value: Any) -> bool:
    """Sprig's empty: nil, zero, false, empty, but never a struct."""
    if value is None:
        return True
    if isinstance(value, GoStruct):
        return False
    return not value


def _int64(number: int) -> GoInt64:
    """Wraps around as Go's int64 does."""
    return GoInt64((number - _INT64_MIN) % _INT64_SPAN + _INT64_MIN)


def to_int(value: Any) -> int:
    """spf13/cast's ToInt64: numbers truncated, booleans 1 or 0, strings in Go's integer
    syntax (``0x1F``, ``010`` octal, a ``.0`` tail dropped), anything else 0."""
    if isinstance(value, bool):
        return int(value)
    if is_int(value):
        return int(value)
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else _INT64_MIN
    if isinstance(value, str):
        number = parse_int(_trim_zero_decimal(value))
        return number if number is not None and -(2**63) <= number < 2**63 else 0
    return 0


def to_float(value: Any) -> float:
    """spf13/cast's ToFloat64: strings as strconv.ParseFloat reads them, else 0."""
    if isinstance(value, bool | int | float):
        return float(value)
    if not isinstance(value, str):
        return 0.0
    if value.lower().lstrip("+-") in ("inf", "infinity", "nan"):
        return float(value)
    number = parse_float(value)
    return 0.0 if number is None or math.isinf(number) else number


def _trim_zero_decimal(text: str) -> str:
    """``1.000`` -> ``1``; anything else unchanged."""
    whole, point, fraction = text.rpartition(".")
    if point and fraction and set(fraction) == {"0"}:
        return whole
    return text


def _atoi(text: str) -> int:
    """strconv.Atoi, 0 on error as sprig's atoi gives."""
    if not _DECIMAL.fullmatch(text):
        return 0
    number = int(text)
    return number if -(2**63) <= number < 2**63 else 0


def _divide(dividend: int, divisor: int) -> tuple[int, int]:
    """Go's integer division: truncated toward zero, remainder of the dividend's sign."""
    if divisor == 0:
        raise CallError("runtime error: integer divide by zero")
    quotient = abs(dividend) // abs(divisor) * (1 if (dividend < 0) == (divisor < 0) else -1)
    return quotient, dividend - quotient * divisor


def _decode(encoding: str, text: str) -> str:
    """Decoded text, or as sprig gives it, the decoding error's message."""
    alphabet = _ALPHABETS[encoding]
    data = text.replace("\r", "").replace("\n", "")
    try:
        if encoding == "base64":
            raw = base64.b64decode(data.encode(), validate=True)
        else:
            raw = base64.b32decode(data.encode())
        return raw.decode(errors="replace")
    except (binascii.Error, ValueError):
        bad = next((i for i, c in enumerate(text) if c not in alphabet), len(text))
        return f"illegal {encoding} data at input byte {bad}"


# Strings


def _upper(char: str) -> str:
    upper = char.upper()
    return upper if len(upper) == 1 else char


def _lower(char: str) -> str:
    lower = char.lower()
    return lower if len(lower) == 1 else char


def _title(text: str) -> str:
    """strings.Title: the first letter of every word in title case."""
    out: list[str] = []
    previous = " "
    for char in text:
        title = char.title()
        out.append(title if _is_separator(previous) and len(title) == 1 else char)
        previous = char
    return "".join(out)


def _is_separator(char: str) -> bool:
    if char.isascii():
        return not (char.isalnum() or char == "_")
    if char.isalpha() or char.isdecimal():
        return False
    return char in GO_SPACE


def _untitle(text: str) -> str:
    out: list[str] = []
    word_start = True
    for char in text:
        if char in GO_SPACE:
            word_start = True
            out.append(char)
        else:
            out.append(_lower(char) if word_start else char)
            word_start = False
    return "".join(out)


def _initials(text: str) -> str:
    out: list[str] = []
    after_space = True
    for char in text:
        if char in GO_SPACE:
            after_space = True
        elif after_space:
            out.append(char)
            after_space = False
    return "".join(out)


def _byte_slice(text: str, start: int | None, end: int | None) -> str:
    return text.encode()[start:end].decode(errors="replace")


def _trunc(count: int, text: str) -> str:
    size = len(text.encode())
    if count < 0 and size + count > 0:
        return _byte_slice(text, size + count, None)
    if count >= 0 and size > count:
        return _byte_slice(text, None, count)
    return text


def _abbrev(width: int, text: str) -> str:
    if width < 4 or len(text.encode()) <= width:
        return text
    return _byte_slice(text, None, width - 3) + "..."


def _substr(start: int, end: int, text: str) -> str:
    size = len(text.encode())
    if start < 0:
        start = 0
    elif end < 0 or end > size:
        end = size
    if not 0 <= start <= end <= size:
        raise CallError(f"runtime error: slice bounds out of range [{start}:{end}]")
    return _byte_slice(text, start, end)


def _repeat(count: int, text: str) -> str:
    if count < 0:
        raise CallError("strings: negative Repeat count")
    return text * count


def _indent(spaces: int, text: str) -> str:
    pad = _repeat(spaces, " ")
    return pad + text.replace("\n", "\n" + pad)


def _split(text: str, separator: str, limit: int) -> list[str]:
    """strings.SplitN: an empty separator splits between characters; 0 parts is none."""
    if limit == 0:
        return []
    if separator == "":
        parts = list(text)
        if 0 < limit < len(parts):
            parts = [*parts[: limit - 1], "".join(parts[limit - 1 :])]
        return parts
    return text.split(separator, limit - 1 if limit > 0 else -1)


def _numbered(parts: list[str]) -> GoMap:
    return GoMap({f"_{i}": part for i, part in enumerate(parts)}, "map[string]string", elem_zero="")


def _until(start: int, stop: int, step: int) -> GoSlice:
    if (stop < start and step >= 0) or (stop >= start and step <= 0):
        return GoSlice([], "[]int")
    return GoSlice(range(start, stop, step), "[]int")


# Case conversion (huandu/xstrings, which sprig uses)


def _is_connector(char: str) -> bool:
    return char in "-_" or char in GO_SPACE


def _category(char: str) -> str:
    return unicodedata.category(char)[0]


def _next_word(text: str) -> tuple[str, str, str]:
    """The first word of ``text``, its type and the rest: xstrings cuts ``HTTPServer``
    into ``HTTP`` + ``Server`` and keeps runs of digits, punctuation or connectors."""
    if not text:
        return "invalid", "", ""
    first, end = text[0], 1
    checks: dict[str, Callable[[str], bool]] = {
        "connector": _is_connector,
        "punct": lambda c: _category(c) == "P",
        "alphabet": lambda c: c.isalpha() and not c.isupper(),
        "number": lambda c: _category(c) == "N",
    }
    if _is_connector(first):
        kind_name = "connector"
    elif _category(first) == "P":
        kind_name = "punct"
    elif first.isupper():
        if len(text) > 1 and text[1].isupper():
            end = 2
            while end < len(text) and text[end].isupper():
                end += 1
            if end < len(text) and text[end].isalpha():
                end -= 1  # the last capital starts the next word: HTTP|Server
        elif len(text) > 1 and text[1].isalpha():
            while end < len(text) and checks["alphabet"](text[end]):
                end += 1
        return "upper", text[:end], text[end:]
    elif first.isalpha():
        kind_name = "alphabet"
    elif _category(first) == "N":
        kind_name = "number"
    else:
        while end < len(text) and not any(
            check(text[end]) or text[end].isalpha() for check in checks.values()
        ):
            end += 1
        return "other", text[:end], text[end:]
    while end < len(text) and checks[kind_name](text[end]):
        end += 1
    return kind_name, text[:end], text[end:]


def _write_lower(out: list[str], word_type: str, word: str, connector: str) -> None:
    if word_type not in ("upper", "connector"):
        out.append(word)
        return
    out.extend(connector if _is_connector(c) else _lower(c) if c.isupper() else c for c in word)


def _lower_words(text: str, connector: str) -> str:
    """xstrings' ToSnakeCase / ToKebabCase: ``FirstName`` -> ``first_name``,
    ``HTTPServer`` -> ``http_server``, ``http2xx`` -> ``http_2xx``."""
    out: list[str] = []
    word_type, word, rest = _next_word(text)
    separators = ("invalid", "punct", "connector")
    while rest:
        if word_type != "connector":
            _write_lower(out, word_type, word, connector)
        previous, last = word_type, word
        word_type, word, rest = _next_word(rest)
        if previous == "number":
            while word_type in ("alphabet", "number"):
                _write_lower(out, word_type, word, connector)
                word_type, word, rest = _next_word(rest)
            if word_type not in separators:
                out.append(connector)
        elif previous == "connector":
            _write_lower(out, previous, last, connector)
        elif previous != "punct":
            if word_type != "number":
                if word_type not in ("connector", "punct"):
                    out.append(connector)
                continue
            if not rest:
                continue
            last = word
            word_type, word, rest = _next_word(rest)
            if word_type != "alphabet":  # digits end the word before them: Bld4|Floor
                _write_lower(out, "number", last, connector)
                if word_type not in ("connector", "punct"):
                    out.append(connector)
                continue
            out.append(connector)  # digits then lower case start a word: HTTP|2xx
            _write_lower(out, "number", last, connector)
            while word_type in ("alphabet", "number"):
                _write_lower(out, word_type, word, connector)
                word_type, word, rest = _next_word(rest)
            if word_type not in separators:
                out.append(connector)
    _write_lower(out, word_type, word, connector)
    return "".join(out)


def _pascal_case(text: str) -> str:
    """xstrings' ToPascalCase, which sprig's camelcase is: ``foo_bar`` -> ``FooBar``."""
    if not text:
        return ""
    out: list[str] = []
    chars = iter(text)
    current = ""
    first_upper = False
    for current in chars:
        if not _is_connector(current):
            first_upper = current.isupper()
            current = _upper(current)
            break
        out.append(current)
    for char in chars:
        previous, current = current, char
        if _is_connector(current) and _is_connector(previous):
            out.append(previous)
            continue
        if _is_connector(previous):
            first_upper = current.isupper()
            current = _upper(current)
        else:
            if first_upper:
                if current.isupper():
                    current = _lower(current)
                else:
                    first_upper = False
            out.append(previous)
    out.append(current)
    return "".join(out)


# Paths (Go's path package: always slash-separated)


def _path_clean(path: str) -> str:
    if not path:
        return "."
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def _path_base(path: str) -> str:
    if not path:
        return "."
    stripped = path.rstrip("/")
    return stripped[stripped.rfind("/") + 1 :] if stripped else "/"


def _path_ext(path: str) -> str:
    for i in range(len(path) - 1, -1, -1):
        if path[i] == "/":
            break
        if path[i] == ".":
            return path[i:]
    return ""
