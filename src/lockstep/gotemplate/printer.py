"""Go's fmt for template values: what ``{{ . }}``, ``print``, ``println`` and ``printf``
write, byte for byte as Go writes it.

``%v`` prints strings as they are, numbers in Go's shortest form (``1e+06``, ``0.5``),
``true``/``false``, slices as ``[a b]``, maps as ``map[k:v ...]`` sorted by key, structs
as ``{a b}`` (``%+v``: ``{Name:a}``), a nil inside them as ``<nil>``, and a value with a
``String()`` method through it. ``printf`` knows the verbs v s q d x X o b c U t e E f F
g G T and %%, the flags ``-+# 0``, width and precision (also ``*``), and reports misuse
as Go does: ``%!d(string=x)``, ``%!s(MISSING)``, ``%!(EXTRA int=1)``. Not supported:
argument indexes (``%[2]d`` prints ``%!d(BADINDEX)``) and Go syntax (``%#v`` prints as
``%v``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from lockstep.gotemplate.values import GoStruct, is_int, sort_key, type_name

_ESCAPES = {
    "\a": r"\a",
    "\b": r"\b",
    "\f": r"\f",
    "\n": r"\n",
    "\r": r"\r",
    "\t": r"\t",
    "\v": r"\v",
}
_FLAGS = {"#": "sharp", "0": "zero", "+": "plus", "-": "minus", " ": "space"}


@dataclass(frozen=True)
class _Spec:
    """One conversion's flags, width and precision."""

    minus: bool = False
    plus: bool = False
    sharp: bool = False
    space: bool = False
    zero: bool = False
    plus_v: bool = False
    width: int | None = None
    precision: int | None = None


_PLAIN = _Spec()


def format_value(value: Any) -> str:
    """``%v`` of one value, as ``{{ . }}`` prints it (no value prints as ``<no value>``)."""
    return "<no value>" if value is None else _arg(value, "v", _PLAIN)


def sprint(args: list[Any]) -> str:
    """Go's fmt.Sprint: a space between two operands when neither is a string."""
    out: list[str] = []
    previous_string = False
    for number, arg in enumerate(args):
        is_string = isinstance(arg, str)
        if number and not is_string and not previous_string:
            out.append(" ")
        out.append(_arg(arg, "v", _PLAIN))
        previous_string = is_string
    return "".join(out)


def sprintln(args: list[Any]) -> str:
    return " ".join(_arg(arg, "v", _PLAIN) for arg in args) + "\n"


def sprintf(template: str, args: list[Any]) -> str:
    """Go's fmt.Sprintf."""
    out: list[str] = []
    used = i = 0
    while (percent := template.find("%", i)) >= 0:
        out.append(template[i:percent])
        spec, indexed, i, used = _conversion(template, percent + 1, args, used, out)
        if i >= len(template):
            out.append("%!(NOVERB)")
            break
        verb = template[i]
        i += 1
        if verb == "%":
            out.append("%")
        elif indexed:
            out.append(f"%!{verb}(BADINDEX)")
        elif used >= len(args):
            out.append(f"%!{verb}(MISSING)")
        else:
            if verb == "v":
                spec = replace(spec, plus_v=spec.plus, plus=False, sharp=False)
            out.append(_arg(args[used], verb, spec))
            used += 1
    else:
        out.append(template[i:])
    if used < len(args):
        extra = ", ".join(
            "<nil>" if arg is None else f"{type_name(arg)}={_arg(arg, 'v', _PLAIN)}"
            for arg in args[used:]
        )
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _conversion(
    template: str, i: int, args: list[Any], used: int, out: list[str]
) -> tuple[_Spec, bool, int, int]:
    """The flags, width, precision and argument index after a ``%``: the spec, whether
    an index was given, where the verb is and how many arguments are used."""
    flags: dict[str, bool] = {}
    while i < len(template) and template[i] in _FLAGS:
        flags[_FLAGS[template[i]]] = True
        i += 1
    spec = _Spec(**flags)
    width, i, used, bad = _number(template, i, args, used)
    if bad:
        out.append("%!(BADWIDTH)")
    elif width is not None and width < 0:  # a negative * width pads on the right
        spec = replace(spec, minus=True, zero=False)
        width = -width
    spec = replace(spec, width=width)
    if i + 1 < len(template) and template[i] == ".":
        precision, i, used, bad = _number(template, i + 1, args, used)
        if bad:
            out.append("%!(BADPREC)")
        spec = replace(spec, precision=None if bad or (precision or 0) < 0 else precision or 0)
    indexed = i < len(template) and template[i] == "["
    if indexed:
        i = template.find("]", i) + 1 or len(template)
    return spec, indexed, i, used


def _number(text: str, i: int, args: list[Any], used: int) -> tuple[int | None, int, int, bool]:
    """A width or precision at ``text[i]``: digits, ``*`` taking an int argument, or none."""
    if i < len(text) and text[i] == "*":
        if used < len(args) and is_int(args[used]):
            return int(args[used]), i + 1, used + 1, False
        return None, i + 1, used + 1, True
    start = i
    while i < len(text) and text[i].isdigit() and text[i].isascii():
        i += 1
    return (int(text[start:i]) if i > start else None), i, used, False


def _arg(value: Any, verb: str, spec: _Spec, depth: int = 0) -> str:
    if value is None:
        if depth or verb in "vT":
            return _pad("<nil>", spec)
        return _bad_verb(value, verb)
    if verb == "T":
        return _pad(type_name(value), spec)
    if isinstance(value, GoStruct):
        text = value.go_string()
        if text is not None and verb in "vsxXq":
            return _string(text, verb, spec)
        if verb not in "vsxXqdboOcUeEfFgGt":
            return _bad_verb(value, verb)
        return _struct(value, verb, spec, depth)
    if isinstance(value, bool):
        return _pad("true" if value else "false", spec) if verb in "tv" else _bad_verb(value, verb)
    if isinstance(value, int):
        return _integer(value, verb, spec) if verb in "vdboOxXcqU" else _bad_verb(value, verb)
    if isinstance(value, float):
        return _float(value, verb, spec) if verb in "veEfFgG" else _bad_verb(value, verb)
    if isinstance(value, str):
        return _string(value, verb, spec) if verb in "vsqxX" else _bad_verb(value, verb)
    if isinstance(value, list):
        return "[" + " ".join(_arg(item, verb, spec, depth + 1) for item in value) + "]"
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda item: sort_key(item[0]))
        inner = (
            f"{_arg(k, verb, spec, depth + 1)}:{_arg(v, verb, spec, depth + 1)}" for k, v in items
        )
        return "map[" + " ".join(inner) + "]"
    raise TypeError(f"cannot print {value!r}")


def _struct(value: GoStruct, verb: str, spec: _Spec, depth: int) -> str:
    fields = (
        (f"{name}:" if spec.plus_v else "") + _arg(field, verb, spec, depth + 1)
        for name, field in value.go_fields()
    )
    return "{" + " ".join(fields) + "}"


def _bad_verb(value: Any, verb: str) -> str:
    if value is None:
        return f"%!{verb}(<nil>)"
    if isinstance(value, GoStruct):  # Go prints the bare struct here, not its String()
        shown = _struct(value, "v", _PLAIN, 0)
    else:
        shown = _arg(value, "v", _PLAIN)
    return f"%!{verb}({type_name(value)}={shown})"


def _pad(text: str, spec: _Spec, zero_allowed: bool = True) -> str:
    if spec.width is None or len(text) >= spec.width:
        return text
    fill = spec.width - len(text)
    if spec.minus:
        return text + " " * fill
    return ("0" if spec.zero and zero_allowed else " ") * fill + text


def _string(text: str, verb: str, spec: _Spec) -> str:
    if verb == "q":
        if spec.sharp and "`" not in text and all(c == "\t" or c.isprintable() for c in text):
            return _pad("`" + text + "`", spec)
        return _pad(quote(text), spec)
    if verb in "xX":
        data = text.encode()
        if spec.precision is not None:
            data = data[: spec.precision]
        digits = [f"{byte:02x}" if verb == "x" else f"{byte:02X}" for byte in data]
        prefix = ("0x" if verb == "x" else "0X") if spec.sharp else ""
        joined = " ".join(prefix + d for d in digits) if spec.space else prefix + "".join(digits)
        return _pad(joined, spec)
    if spec.precision is not None:
        text = text[: spec.precision]
    return _pad(text, spec)


def _integer(number: int, verb: str, spec: _Spec) -> str:
    if verb == "c":
        return _pad(chr(number) if 0 <= number <= 0x10FFFF else "\ufffd", spec)
    if verb == "q":
        return _pad(_quote_rune(number), spec)
    if verb == "U":
        shown = f"U+{number:04X}"
        if spec.sharp and 0 <= number <= 0x10FFFF and chr(number).isprintable():
            shown += f" '{chr(number)}'"
        return _pad(shown, spec)
    base = {"b": 2, "o": 8, "O": 8, "x": 16, "X": 16}.get(verb, 10)
    digits = {2: "b", 8: "o", 16: "x"}.get(base, "d")
    text = format(abs(number), "X" if verb == "X" else digits)
    precision = spec.precision
    if precision is None and spec.zero and not spec.minus and spec.width is not None:
        precision = spec.width - (1 if number < 0 or spec.plus or spec.space else 0)
    if precision == 0 and number == 0:
        return _pad("", spec, zero_allowed=False)
    if precision is not None:
        text = text.rjust(precision, "0")
    if spec.sharp:
        prefix = {
            2: "0b",
            8: "0" if not text.startswith("0") else "",
            16: "0X" if verb == "X" else "0x",
        }
        text = prefix.get(base, "") + text
    if verb == "O":
        text = "0o" + text
    sign = "-" if number < 0 else "+" if spec.plus else " " if spec.space else ""
    return _pad(sign + text, spec, zero_allowed=False)


def _float(number: float, verb: str, spec: _Spec) -> str:
    if number != number or number in (float("inf"), float("-inf")):
        text = "NaN" if number != number else "+Inf" if number > 0 else "-Inf"
        if text == "NaN":
            text = ("+" if spec.plus else " " if spec.space else "") + text
        elif text == "+Inf" and not spec.plus:
            text = " Inf" if spec.space else "Inf"
        return _pad(text, spec, zero_allowed=False)
    if verb in "vgG" and spec.precision is None:
        text = shortest_float(number, verb == "G")
    elif verb in "vgG":
        text = format(number, f".{spec.precision}{'G' if verb == 'G' else 'g'}")
    else:
        precision = 6 if spec.precision is None else spec.precision
        text = format(number, f".{precision}{'f' if verb in 'fF' else verb}")
    if not text.startswith("-") and (spec.plus or spec.space):
        text = ("+" if spec.plus else " ") + text
    if spec.zero and not spec.minus and spec.width is not None and len(text) < spec.width:
        sign = text[0] if text[0] in "+- " else ""
        return sign + text[len(sign) :].rjust(spec.width - len(sign), "0")
    return _pad(text, spec, zero_allowed=False)


def shortest_float(number: float, upper: bool = False) -> str:
    """Go's ``%v`` of a float64: the shortest digits that read back as the same number,
    in exponent form when the exponent is below -4 or from 6 on (``1e+06``)."""
    _, digits, exponent = Decimal(repr(abs(number))).normalize().as_tuple()
    assert isinstance(exponent, int)
    mantissa = "".join(map(str, digits))
    sign = "-" if str(number).startswith("-") else ""
    if mantissa == "0":
        return sign + "0"
    decimal_exponent = len(mantissa) + exponent - 1
    if decimal_exponent < -4 or decimal_exponent >= 6:
        fraction = "." + mantissa[1:] if len(mantissa) > 1 else ""
        mark = "E" if upper else "e"
        return f"{sign}{mantissa[0]}{fraction}{mark}{decimal_exponent:+03d}"
    if decimal_exponent < 0:
        return f"{sign}0.{'0' * (-decimal_exponent - 1)}{mantissa}"
    whole = mantissa[: decimal_exponent + 1].ljust(decimal_exponent + 1, "0")
    fraction = mantissa[decimal_exponent + 1 :]
    return sign + whole + ("." + fraction if fraction else "")


def quote(text: str) -> str:
    """Go's strconv.Quote."""
    return '"' + "".join(_escape(char, '"') for char in text) + '"'


def _quote_rune(number: int) -> str:
    if not 0 <= number <= 0x10FFFF or 0xD800 <= number <= 0xDFFF:
        number = 0xFFFD
    return "'" + _escape(chr(number), "'") + "'"


def _escape(char: str, quote_char: str) -> str:
    if char in (quote_char, "\\"):
        return "\\" + char
    if char.isprintable():
        return char
    if char in _ESCAPES:
        return _ESCAPES[char]
    code = ord(char)
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if 0xD800 <= code <= 0xDFFF:
        return "\\ufffd"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
