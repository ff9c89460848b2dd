"""Go literals inside actions: numbers as Go's parser reads them (one literal may serve
as an int, an unsigned int and a float at once) and quoted strings (strconv.Unquote)."""

from __future__ import annotations

import re
from typing import NamedTuple

from lockstep.gotemplate.printer import quote

_INT64 = range(-(2**63), 2**63)
_UINT64 = range(2**64)
_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
}
_DECIMAL_INT = re.compile(r"[+-]?(?:0|[1-9](?:_?[0-9])*)")
_PREFIXED_INT = re.compile(
    r"[+-]?0(?:[xX](?:_?[0-9a-fA-F])+|[oO](?:_?[0-7])+|[bB](?:_?[01])+|(?:_?[0-7])+)"
)
_DECIMAL_FLOAT = re.compile(
    r"[+-]?(?:(?:[0-9](?:_?[0-9])*)?\.(?:[0-9](?:_?[0-9])*)?|[0-9](?:_?[0-9])*)"
    r"(?:[eE][+-]?[0-9](?:_?[0-9])*)?"
)
_HEX_FLOAT = re.compile(
    r"[+-]?0[xX](?:_?[0-9a-fA-F])*(?:\.(?:[0-9a-fA-F](?:_?[0-9a-fA-F])*)?)?[pP][+-]?[0-9](?:_?[0-9])*"
)


class Number(NamedTuple):
    """What a number literal can stand for."""

    is_int: bool
    is_uint: bool
    is_float: bool
    is_complex: bool
    int_value: int
    float_value: float


def parse_number(text: str, is_char: bool) -> Number:
    """A number or character literal, as Go's template parser reads it.

    Raises ValueError with Go's message for a literal that is no number.
    """
    if is_char:
        code = ord(_unquote_char_constant(text))
        return Number(True, True, True, False, code, float(code))
    if text.endswith("i"):
        imaginary = parse_float(text[:-1])
        if imaginary is not None:
            return Number(imaginary == 0, False, imaginary == 0, True, 0, 0.0)
    integer = parse_int(text)
    unsigned = integer is not None and integer in _UINT64 and text[:1] != "+"
    if integer is not None and (integer in _INT64 or unsigned):
        return Number(integer in _INT64, unsigned, True, False, integer, float(integer))
    value = parse_float(text)
    if value is None:
        raise ValueError(f"illegal number syntax: {_quote(text)}")
    if not any(mark in text for mark in ".eEpP"):
        raise ValueError(f"integer overflow: {_quote(text)}")
    whole = value.is_integer()
    as_int = int(value) if whole else 0
    return Number(
        whole and as_int in _INT64, whole and as_int in _UINT64, True, False, as_int, value
    )


def parse_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, ...) without the size limit: decimal, or with a 0x, 0o,
    0b or 0 (octal) prefix; an underscore may separate digits."""
    if _DECIMAL_INT.fullmatch(text):
        return int(text.replace("_", ""))
    if _PREFIXED_INT.fullmatch(text):
        sign = -1 if text.startswith("-") else 1
        digits = text.lstrip("+-").replace("_", "")
        base = {"x": 16, "o": 8, "b": 2}.get(digits[1:2].lower(), 8)
        return sign * int(
            digits[2:] if base != 8 or digits[1:2] in "oO" else digits[1:] or "0", base
        )
    return None


def parse_float(text: str) -> float | None:
    """strconv.ParseFloat's syntax: decimal or hexadecimal (with a ``p`` exponent)."""
    if _DECIMAL_FLOAT.fullmatch(text) and any(c.isdigit() for c in text):
        return float(text.replace("_", ""))
    if _HEX_FLOAT.fullmatch(text):
        return float.fromhex(text.replace("_", ""))
    return None


def unquote(quoted: str) -> str:
    """strconv.Unquote of a "double-quoted" or `raw` Go string."""
    if quoted.startswith("`"):
        return quoted[1:-1].replace("\r", "")
    body = quoted[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        char, i = _unquote_one(body, i, '"')
        out.append(char)
    return "".join(out)


def _unquote_char_constant(quoted: str) -> str:
    body = quoted[1:-1]
    if not body:
        raise ValueError("invalid syntax")
    char, end = _unquote_one(body, 0, "'")
    if end != len(body):
        raise ValueError(f"malformed character constant: {quoted}")
    return char


def _unquote_one(body: str, i: int, quote: str) -> tuple[str, int]:
    char = body[i]
    if char != "\\":
        if char == quote:
            raise ValueError("invalid syntax")
        return char, i + 1
    escape = body[i + 1 : i + 2]
    if escape in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[escape], i + 2
    if escape == quote:
        return quote, i + 2
    width = {"x": 2, "u": 4, "U": 8}.get(escape)
    if width is not None:
        digits = body[i + 2 : i + 2 + width]
        if len(digits) == width and all(c in "0123456789abcdefABCDEF" for c in digits):
            code = int(digits, 16)
            if escape == "x" or (code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF):
                return chr(code), i + 2 + width
    elif escape and escape in "01234567":
        digits = body[i + 1 : i + 4]
        if len(digits) == 3 and all(c in "01234567" for c in digits) and int(digits, 8) < 256:
            return chr(int(digits, 8)), i + 4
    raise ValueError("invalid syntax")


def _quote(text: str) -> str:
    return quote(text)
