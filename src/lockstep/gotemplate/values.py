"""Go values as a template sees them: the Python stand-ins for Go's types, their names,
truth, ordering and equality.

Python values stand for Go values: ``None`` for a nil interface or a missing value,
``bool``, ``int`` (Go ``int``), :class:`GoInt64`, ``float`` (``float64``), ``str``;
``list`` and ``dict`` for ``[]interface {}`` and ``map[string]interface {}``, and
:class:`GoSlice` / :class:`GoMap` when the element type matters (a function expecting
``map[string]interface {}`` refuses a ``map[string]string``, indexing a missing key of
a ``map[string]string`` gives ``""`` where an ``interface {}`` map gives no value).
Structs subclass :class:`GoStruct`.

Used by the executor, the printer (:mod:`.printer`) and the function maps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

INTERFACE = "interface {}"
REFLECT_VALUE = "reflect.Value"  # a builtin's parameter that takes any value, even none


class GoInt64(int):
    """An ``int64``: prints as an ``int`` does, but is not assignable to an ``int``."""

    __slots__ = ()


class GoSlice(list[Any]):
    """A slice whose Go type is not ``[]interface {}``."""

    def __init__(self, items: Any = (), go_type: str = "[]" + INTERFACE) -> None:
        super().__init__(items)
        self.go_type = go_type


class GoMap(dict[Any, Any]):
    """A map whose Go type is not ``map[string]interface {}``; ``elem_zero`` is what
    indexing a missing key gives."""

    def __init__(
        self,
        items: Any = (),
        go_type: str = "map[string]" + INTERFACE,
        key_type: str = "string",
        elem_zero: Any = None,
    ) -> None:
        super().__init__(items)
        self.go_type = go_type
        self.key_type = key_type
        self.elem_zero = elem_zero


class GoStruct:
    """A Go struct, usually a frozen dataclass whose field names are the Go field names
    (else it overrides :meth:`go_fields`).

    ``go_embedded`` names the fields that are embedded structs (their fields are
    promoted); ``go_methods`` the methods a template may call, without arguments;
    ``go_json_names`` the JSON tags of fields that have one (``"name,omitempty"``).
    """

    go_type: ClassVar[str]
    go_embedded: ClassVar[tuple[str, ...]] = ()
    go_methods: ClassVar[tuple[str, ...]] = ()
    go_json_names: ClassVar[dict[str, str]] = {}

    def go_fields(self) -> list[tuple[str, Any]]:
        """The fields in declaration order, by Go name."""
        return [(f.name, getattr(self, f.name)) for f in dataclasses.fields(self)]  # type: ignore[arg-type]

    def go_string(self) -> str | None:
        """What the value's ``String()`` method gives, or None when it has none."""
        return None


def go_method(value: GoStruct, name: str) -> Callable[[], Any] | None:
    if name in value.go_methods:
        method: Callable[[], Any] = getattr(value, name)
        return method
    return None


def struct_field(value: GoStruct, name: str) -> tuple[bool, Any]:
    """The field ``name`` of a struct, looked up like Go: the shallowest depth wins,
    and two fields at the same depth hide each other."""
    level: list[GoStruct] = [value]
    while level:
        fields = [dict(item.go_fields()) for item in level]
        found = [item_fields[name] for item_fields in fields if name in item_fields]
        if len(found) == 1:
            return True, found[0]
        if found:
            return False, None
        level = [
            item_fields[embedded]
            for item, item_fields in zip(level, fields, strict=True)
            for embedded in item.go_embedded
        ]
    return False, None


def type_name(value: Any) -> str:
    """The Go type of a value, as Go prints it in messages."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, GoInt64):
        return "int64"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, GoSlice | GoMap):
        return value.go_type
    if isinstance(value, list):
        return "[]" + INTERFACE
    if isinstance(value, dict):
        return "map[string]" + INTERFACE
    if isinstance(value, GoStruct):
        return value.go_type
    raise TypeError(f"no Go type for {value!r}")


def kind(value: Any) -> str:
    """The Go reflect kind of a value: bool, int, int64, float64, string, slice, map,
    struct or invalid."""
    if value is None:
        return "invalid"
    if isinstance(value, list):
        return "slice"
    if isinstance(value, dict):
        return "map"
    if isinstance(value, GoStruct):
        return "struct"
    return type_name(value)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_true(value: Any) -> bool:
    """Go template truth: the zero value of its type is false, structs are true."""
    if value is None:
        return False
    if isinstance(value, GoStruct):
        return True
    return bool(value)


def can_be_nil(go_type: str) -> bool:
    return go_type in (INTERFACE, REFLECT_VALUE) or go_type.startswith(("[]", "map["))


def nil_of(go_type: str) -> Any:
    """The zero value of a type that can be nil."""
    if go_type.startswith("[]"):
        return [] if go_type == "[]" + INTERFACE else GoSlice(go_type=go_type)
    if go_type.startswith("map["):
        return {} if go_type == "map[string]" + INTERFACE else GoMap(go_type=go_type)
    return None


def zero_of_elem(container: Any) -> Any:
    """What indexing a missing key of a map gives."""
    return container.elem_zero if isinstance(container, GoMap) else None


def assignable(value: Any, go_type: str) -> bool:
    return go_type in (INTERFACE, REFLECT_VALUE) or type_name(value) == go_type


def sort_key(value: Any) -> Any:
    """A key ordering map keys as Go's fmtsort does: numbers and strings naturally,
    false before true, structs field by field."""
    if isinstance(value, GoStruct):
        return tuple(sort_key(field) for _, field in value.go_fields())
    if value is None:
        return ()
    return value


def deep_equal(left: Any, right: Any) -> bool:
    """Go's reflect.DeepEqual: same type and same contents."""
    if type_name(left) != type_name(right):
        return False
    if isinstance(left, list):
        return len(left) == len(right) and all(map(deep_equal, left, right))
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(deep_equal(left[k], right[k]) for k in left)
    return bool(left == right)


class CallError(Exception):
    """A function failed; the template reports ``error calling NAME: <message>``."""


@dataclass(frozen=True)
class Function:
    """A function a template can call: Go's parameter types, so arguments are checked
    and converted as Go converts them, and the Python implementation.

    ``variadic`` is the element type of a trailing ``...`` parameter; ``lazy`` marks
    ``and`` and ``or``, which evaluate their arguments only as far as needed.
    """

    params: tuple[str, ...]
    call: Callable[..., Any]
    variadic: str | None = None
    lazy: bool = False
