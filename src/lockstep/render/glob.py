"""Glob patterns of postBuild's ``${var#pattern}`` family, matched as Flux's envsubst does.

Called by :mod:`lockstep.render.envsubst`. The rules are those of Go's ``path.Match``
before Go 1.16, as the envsubst library keeps them: ``*`` matches any bytes
(``/`` included), ``?`` one character, ``[a-z]`` / ``[^a-z]`` a class, ``\\``
escapes; a malformed pattern is an error only when the match reaches the bad part.
Patterns and names are UTF-8 bytes.

Why by hand: :mod:`fnmatch` translates a pattern to a regular expression up front, so
it neither fails on a malformed pattern the way Go does nor treats a trailing ``\\``
or an unclosed class as Go's matcher does.
"""

from __future__ import annotations


class GlobError(Exception):
    """The pattern is malformed where the match reached it."""


def glob_match(pattern: bytes, name: bytes) -> bool:
    """Whether all of ``name`` matches ``pattern``; raises `GlobError` for a bad pattern."""
    while pattern:
        star, chunk, pattern = _next_chunk(pattern)
        if star and not chunk:
            return True
        rest = _match_chunk(chunk, name)
        if rest is not None and (not rest or pattern):
            name = rest
            continue
        if star:
            for skipped in range(1, len(name) + 1):
                rest = _match_chunk(chunk, name[skipped:])
                if rest is None or (not pattern and rest):
                    continue
                name = rest
                break
            else:
                return False
            continue
        return False
    return not name


def _next_chunk(pattern: bytes) -> tuple[bool, bytes, bytes]:
    """Leading stars, then the literal/class chunk up to the next star outside a class."""
    stripped = pattern.lstrip(b"*")
    star = len(stripped) != len(pattern)
    in_class = False
    index = 0
    while index < len(stripped):
        byte = stripped[index : index + 1]
        if byte == b"\\":
            if index + 1 < len(stripped):
                index += 1
        elif byte == b"[":
            in_class = True
        elif byte == b"]":
            in_class = False
        elif byte == b"*" and not in_class:
            break
        index += 1
    return star, stripped[:index], stripped[index:]


def _match_chunk(chunk: bytes, name: bytes) -> bytes | None:
    """What is left of ``name`` after ``chunk`` matched its start, or ``None``."""
    while chunk:
        if not name:
            return None
        head = chunk[:1]
        if head == b"[":
            character, name = _split_rune(name)
            chunk = chunk[1:]
            negated = chunk[:1] == b"^"
            if negated:
                chunk = chunk[1:]
            matched, chunk = _match_class(chunk, character)
            if matched == negated:
                return None
        elif head == b"?":
            _, name = _split_rune(name)
            chunk = chunk[1:]
        else:
            if head == b"\\":
                chunk = chunk[1:]
                if not chunk:
                    raise GlobError("syntax error in pattern")
            if chunk[:1] != name[:1]:
                return None
            chunk, name = chunk[1:], name[1:]
    return name


def _match_class(chunk: bytes, character: str) -> tuple[bool, bytes]:
    """Whether ``character`` is in the class at the start of ``chunk`` (after ``[``/``[^``),
    and the chunk after the class's ``]``."""
    matched = False
    ranges = 0
    while True:
        if chunk[:1] == b"]" and ranges > 0:
            return matched, chunk[1:]
        low, chunk = _class_character(chunk)
        high = low
        if chunk[:1] == b"-":
            high, chunk = _class_character(chunk[1:])
        if low <= character <= high:
            matched = True
        ranges += 1


def _class_character(chunk: bytes) -> tuple[str, bytes]:
    if not chunk or chunk[:1] in (b"-", b"]"):
        raise GlobError("syntax error in pattern")
    if chunk[:1] == b"\\":
        chunk = chunk[1:]
        if not chunk:
            raise GlobError("syntax error in pattern")
    character, rest = _split_rune(chunk)
    if (character == "\ufffd" and not chunk.startswith("\ufffd".encode())) or not rest:
        raise GlobError("syntax error in pattern")
    return character, rest


def _split_rune(data: bytes) -> tuple[str, bytes]:
    """The first UTF-8 character of ``data`` (U+FFFD for an invalid byte) and the rest."""
    for size in (1, 2, 3, 4):
        try:
            return data[:size].decode(), data[size:]
        except UnicodeDecodeError:
            continue
    return "\ufffd", data[1:]
