"""JSON pointers (RFC 6901) into plain object dictionaries: parse, read, copy, remove.

``/metadata/annotations/example.com~1owner`` names the annotation
``example.com/owner``: ``~1`` stands for ``/`` and ``~0`` for ``~`` inside a
token. Array items are addressed by their index (``/spec/containers/0/image``).

Called by :mod:`lockstep.apply.ignore`, which copies ignored fields from the
live object into the desired one.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import Any

_INVALID_ESCAPE = re.compile(r"~(?![01])")
_INDEX = re.compile(r"0|[1-9][0-9]*")

Tokens = tuple[str, ...]

_MISSING = object()


def parse_pointer(pointer: str) -> Tokens:
    """The unescaped tokens of ``pointer``; raises ValueError when it is not a JSON pointer.

    The empty pointer (the whole document) is refused too: a rule cannot ignore an
    entire object.
    """
    if not pointer.startswith("/"):
        raise ValueError(f'"{pointer}" is not a JSON pointer: it must start with "/"')
    if _INVALID_ESCAPE.search(pointer):
        raise ValueError(f'"{pointer}" is not a JSON pointer: "~" must be followed by 0 or 1')
    # ~1 is replaced before ~0, so "~01" becomes "~1" and not "/".
    return tuple(token.replace("~1", "/").replace("~0", "~") for token in pointer[1:].split("/"))


def value_at(document: Any, tokens: Sequence[str]) -> tuple[bool, Any]:
    """``(True, value)`` at ``tokens`` in ``document``; ``(False, None)`` when nothing is there."""
    node = document
    for token in tokens:
        node = _child(node, token)
        if node is _MISSING:
            return False, None
    return True, node


def copy_at(source: Any, target: dict[str, Any], tokens: Sequence[str]) -> bool:
    """Copy the value at ``tokens`` in ``source`` to the same place in ``target``; whether it was.

    Maps missing in ``target`` on the way are added where ``source`` has maps. A
    missing array, or an index past the end of one, is not invented: an item alone
    at index 3 means nothing, so nothing is copied then.
    """
    found, value = value_at(source, tokens)
    if not found:
        return False
    node: Any = target
    for depth, token in enumerate(tokens[:-1]):
        child = _child(node, token)
        if child is _MISSING and isinstance(node, dict):
            _, counterpart = value_at(source, tokens[: depth + 1])
            if not isinstance(counterpart, dict):
                return False
            child = node[token] = {}
        if not isinstance(child, dict | list):
            return False
        node = child
    last = tokens[-1]
    if isinstance(node, dict):
        node[last] = copy.deepcopy(value)
        return True
    if isinstance(node, list) and (index := _index(node, last)) is not None:
        node[index] = copy.deepcopy(value)
        return True
    return False


def remove_at(document: dict[str, Any], tokens: Sequence[str]) -> bool:
    """Remove whatever is at ``tokens``; whether there was something to remove."""
    found, parent = value_at(document, tokens[:-1])
    last = tokens[-1]
    if found and isinstance(parent, dict) and last in parent:
        del parent[last]
        return True
    if found and isinstance(parent, list) and (index := _index(parent, last)) is not None:
        del parent[index]
        return True
    return False


def _child(node: Any, token: str) -> Any:
    if isinstance(node, dict):
        return node.get(token, _MISSING)
    if isinstance(node, list) and (index := _index(node, token)) is not None:
        return node[index]
    return _MISSING


def _index(items: list[Any], token: str) -> int | None:
    """The array index ``token`` names, if it is one and within ``items``."""
    if not _INDEX.fullmatch(token) or int(token) >= len(items):
        return None
    return int(token)
