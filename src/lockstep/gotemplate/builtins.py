"""The functions every Go template has: and, or, not, len, index, print, printf,
println, eq, ne, lt, le, gt, ge, html, js, urlquery and call, with Go's semantics
(``eq`` takes several right-hand values, comparing an int with a string fails,
``index`` of a missing map key gives the element type's zero value)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote_plus

from lockstep.gotemplate.printer import format_value, sprint, sprintf, sprintln
from lockstep.gotemplate.values import (
    INTERFACE,
    REFLECT_VALUE,
    CallError,
    Function,
    GoMap,
    GoStruct,
    assignable,
    is_int,
    is_true,
    type_name,
    zero_of_elem,
)

_HTML = {'"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;", "\0": "\ufffd"}
_JS = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "<": "\\u003C",
    ">": "\\u003E",
    "&": "\\u0026",
    "=": "\\u003D",
}


def builtin_functions() -> dict[str, Function]:
    any_value, anything = (REFLECT_VALUE,), INTERFACE
    return {
        "and": Function(any_value, _unreachable, variadic=REFLECT_VALUE, lazy=True),
        "or": Function(any_value, _unreachable, variadic=REFLECT_VALUE, lazy=True),
        "not": Function(any_value, lambda value: not is_true(value)),
        "len": Function(any_value, _length),
        "index": Function(any_value, _index, variadic=REFLECT_VALUE),
        "print": Function((), lambda *args: sprint(list(args)), variadic=anything),
        "printf": Function(("string",), lambda f, *args: sprintf(f, list(args)), variadic=anything),
        "println": Function((), lambda *args: sprintln(list(args)), variadic=anything),
        "eq": Function(any_value, _eq, variadic=REFLECT_VALUE),
        "ne": Function(any_value * 2, lambda a, b: not _eq(a, b)),
        "lt": Function(any_value * 2, _lt),
        "le": Function(any_value * 2, lambda a, b: _lt(a, b) or _eq(a, b)),
        "gt": Function(any_value * 2, lambda a, b: not (_lt(a, b) or _eq(a, b))),
        "ge": Function(any_value * 2, lambda a, b: not _lt(a, b)),
        "html": Function((), lambda *args: _html(_joined(args)), variadic=anything),
        "js": Function((), lambda *args: _js(_joined(args)), variadic=anything),
        "urlquery": Function(
            (), lambda *args: quote_plus(_joined(args), safe="~"), variadic=anything
        ),
        "call": Function(any_value, _call, variadic=REFLECT_VALUE),
    }


def _unreachable(*_: Any) -> Any:
    raise AssertionError("and/or are evaluated by the executor")


def _call(function: Any, *_: Any) -> Any:
    if function is None:
        raise CallError("call of nil")
    raise CallError(f"non-function of type {type_name(function)}")


def _length(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, list | dict):
        return len(value)
    if value is None:
        raise CallError("len of nil pointer")
    raise CallError(f"len of type {type_name(value)}")


def _index(item: Any, *indexes: Any) -> Any:
    if item is None:
        raise CallError("index of untyped nil")
    for index in indexes:
        if item is None:
            raise CallError("index of nil pointer")
        if isinstance(item, list | str):
            item = _index_sequence(item, index)
        elif isinstance(item, dict):
            key_type = item.key_type if isinstance(item, GoMap) else "string"
            if index is None:
                index = "" if key_type == "string" else None
            if not assignable(index, key_type):
                raise CallError(f"value has type {type_name(index)}; should be {key_type}")
            item = item[index] if index in item else zero_of_elem(item)
        else:
            raise CallError(f"can't index item of type {type_name(item)}")
    return item


def _index_sequence(item: list[Any] | str, index: Any) -> Any:
    if index is None:
        raise CallError("cannot index slice/array with nil")
    if not is_int(index):
        raise CallError(f"cannot index slice/array with type {type_name(index)}")
    sequence = item.encode() if isinstance(item, str) else item
    if not 0 <= index < len(sequence):
        raise CallError(f"index out of range: {index}")
    return sequence[index]


def _basic_kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return None


def _eq(first: Any, *others: Any) -> bool:
    if not others:
        raise CallError("missing argument for comparison")
    first_kind = _basic_kind(first)
    for other in others:
        other_kind = _basic_kind(other)
        if first_kind != other_kind:
            if first is not None and other is not None:
                raise CallError(
                    f"incompatible types for comparison: {type_name(first)} and {type_name(other)}"
                )
            equal = False
        elif first_kind is not None:
            equal = first == other
        elif first is None or other is None:
            equal = first is None and other is None
        else:
            if isinstance(other, list | dict) or isinstance(first, list | dict):
                shown = format_value(other)
                raise CallError(f"non-comparable type {shown}: {type_name(other)}")
            equal = isinstance(first, GoStruct) and type(first) is type(other) and first == other
        if equal:
            return True
    return False


def _lt(left: Any, right: Any) -> bool:
    left_kind, right_kind = _basic_kind(left), _basic_kind(right)
    if left_kind is None or right_kind is None:
        raise CallError("invalid type for comparison")
    if left_kind != right_kind:
        raise CallError(
            f"incompatible types for comparison: {type_name(left)} and {type_name(right)}"
        )
    if left_kind == "bool":
        raise CallError("invalid type for comparison")
    return bool(left < right)


def _joined(args: tuple[Any, ...]) -> str:
    """The text html, js and urlquery escape: their arguments printed together."""
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return sprint(["<no value>" if arg is None else arg for arg in args])


def _html(text: str) -> str:
    return "".join(_HTML.get(char, char) for char in text)


def _js(text: str) -> str:
    out: list[str] = []
    for char in text:
        if char in _JS:
            out.append(_JS[char])
        elif char < " ":
            out.append(f"\\u00{ord(char):02X}")
        elif char.isascii() or char.isprintable():
            out.append(char)
        else:
            out.append(f"\\u{ord(char):04X}")
    return "".join(out)
