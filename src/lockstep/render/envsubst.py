"""Bash-style parameter expansion as Flux's postBuild substitution evaluates it.

Called by :mod:`lockstep.render.substitute` on the YAML text of each object. The
expressions, their quirks and the error messages are those of the envsubst library
Flux's kustomize-controller uses (a fork of drone/envsubst), checked against it by
``tests/unit/render/test_envsubst_against_go.py``:

- ``${var}``; ``${var:-x}``, ``${var:=x}``, ``${var=x}``, ``${var:+x}``, ``${var:?x}``
  all give the value, or ``x`` when the value is empty (not bash's meanings for
  ``+`` and ``?``); ``${var-x}`` is a syntax error ("missing closing brace");
- ``${#var}`` (length in bytes), ``${var^}``, ``${var^^}``, ``${var,}``, ``${var,,}``;
- ``${var:offset}``, ``${var:offset:length}`` (bytes, negative values as bash);
- ``${var#glob}``, ``${var##glob}``, ``${var%glob}``, ``${var%%glob}``;
- ``${var/old/new}``, ``${var//old/new}``, ``${var/#old/new}``, ``${var/%old/new}``;
- defaults and arguments may hold nested ``${...}`` expressions;
- ``$$`` is a literal ``$`` anywhere outside an expression (so ``$${var}`` is the text
  ``${var}``), and ``$var`` without braces is left alone;
- in strict mode a variable that is not defined is an error, except under the
  operators that supply a default (``-``, ``=``, ``+``, ``?`` with or without ``:``).

Texts are scanned character by character; offsets, lengths and glob matching count
UTF-8 bytes as Go does.

Why by hand: no Python library expands this grammar with these results —
``string.Template`` and ``os.path.expandvars`` know none of the operators, and the
PyPI envsubst packages follow bash or GNU gettext, not the Go library, so a
repository written for Flux would render differently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from lockstep.render.glob import GlobError, glob_match


class EnvsubstError(Exception):
    """The text holds an expression that cannot be parsed, or (strict mode) names an
    undefined variable; the message is the library's, e.g. ``missing closing brace``."""


class UndefinedVariable(EnvsubstError):
    """Strict mode met a variable that is not defined, used without a default."""

    def __init__(self, variable: str) -> None:
        super().__init__(f'variable not set (strict mode): "{variable}"')
        self.variable = variable


class ExpansionTooLong(EnvsubstError):
    """The text grew past the length its caller allows (values repeated many times)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the text grows past {limit} characters")
        self.limit = limit


BAD_SUBSTITUTION = "bad substitution"
MISSING_CLOSING_BRACE = "missing closing brace"
BAD_VARIABLE_NAME = "unable to parse variable name"
BAD_FUNCTION_ARGUMENT = "unable to parse substitution within function"

_DEFAULT_OPERATORS = frozenset({"-", "+", "=", "?", ":-", ":+", ":=", ":?"})
"""Operators that supply their own value when the variable is undefined."""


@dataclass
class _Expression:
    """``${variable<operator><arguments>}``; each argument is a list of texts and expressions."""

    variable: str
    operator: str = ""
    arguments: list[_Node] = field(default_factory=list)


_Node = str | _Expression


def expand(
    text: str, variables: Mapping[str, str], *, strict: bool, max_length: int | None = None
) -> str:
    """``text`` with its expressions evaluated against ``variables``.

    Undefined variables are empty unless ``strict``, where they raise `EnvsubstError`
    (outside the default operators); parse errors always raise it. A result, or any
    part of it, longer than ``max_length`` raises `ExpansionTooLong` before it is put
    together: replacements inside replacements grow a text exponentially.
    """
    if "$" not in text:
        return text
    return "".join(_evaluated(_Parser(text).parse(), variables, strict, max_length))


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def peek(self, ahead: int = 0) -> str:
        index = self.at + ahead
        return self.text[index] if index < len(self.text) else ""

    def opens_expression(self) -> bool:
        return self.text.startswith("${", self.at)

    def parse(self) -> list[_Node]:
        nodes: list[_Node] = []
        while self.at < len(self.text):
            if self.opens_expression():
                self.at += 2
                nodes.append(self.expression())
            else:
                nodes.append(self.plain_text())
        return nodes

    def plain_text(self) -> str:
        """Text up to the next ``${``; ``$$`` stands for ``$``."""
        text, out = self.text, []
        while self.at < len(text):
            dollar = text.find("$", self.at)
            if dollar < 0:
                dollar = len(text)
            out.append(text[self.at : dollar])
            self.at = dollar
            if dollar == len(text) or self.opens_expression():
                break
            out.append("$")
            self.at += 2 if text.startswith("$$", dollar) else 1
        return "".join(out)

    def expression(self) -> _Expression:
        """After ``${``: the variable, the operator and its arguments, up to ``}``."""
        if self.peek() == "#":
            self.at += 1
            name = self.identifier()
            if not name:
                raise EnvsubstError(BAD_SUBSTITUTION)
            self.closing_brace()
            return _Expression(name, "#")
        name = self.identifier()
        if not name:
            raise EnvsubstError(BAD_VARIABLE_NAME)
        following = self.peek()
        if following == ":":
            if not self.peek(1) or not self.peek(1).isascii():
                # The library's scanner steps back by the width of the character after
                # the colon, not of the colon: it fails at the end of the text and before
                # a character of more than one byte.
                raise EnvsubstError(BAD_SUBSTITUTION)
            if self.peek(1) in "=-?+":
                return self.with_default(name, self.take(2))
            return self.substring(name)
        if following == "=":
            return self.with_default(name, self.take(1))
        if following in (",", "^"):
            operator = self.operator(lambda c: c in ",^")
            self.closing_brace()
            return _Expression(name, operator)
        if following == "/":
            return self.replacement(name)
        if following in ("#", "%"):
            operator = self.operator(lambda c: c == following)
            expression = _Expression(name, operator, [self.argument(stop="}")])
            self.closing_brace()
            return expression
        if following != "}":
            raise EnvsubstError(MISSING_CLOSING_BRACE)
        self.at += 1
        return _Expression(name)

    def identifier(self) -> str:
        start = self.at
        while self.at < len(self.text) and _is_identifier(self.text[self.at]):
            self.at += 1
        return self.text[start : self.at]

    def take(self, count: int) -> str:
        self.at += count
        return self.text[self.at - count : self.at]

    def operator(self, accepts: Callable[[str], bool]) -> str:
        """One or two operator characters."""
        start = self.at
        while self.at - start < 2 and self.peek() and accepts(self.peek()):
            self.at += 1
        return self.text[start : self.at]

    def closing_brace(self) -> None:
        if self.peek() != "}":
            raise EnvsubstError(BAD_SUBSTITUTION)
        self.at += 1

    def argument(self, *, stop: str, escapes: bool = False) -> _Node:
        """A nested expression, or text up to a character of ``stop`` or a ``${``.

        With ``escapes`` (the arguments of ``/``), ``$$`` is ``$``, ``\\/`` is ``/`` and
        ``\\\\`` is ``\\``.
        """
        if self.opens_expression():
            self.at += 2
            return self.expression()
        if self.at >= len(self.text) or (self.peek() in stop and not (escapes and self.escaped())):
            raise EnvsubstError(BAD_FUNCTION_ARGUMENT)
        out = []
        while self.at < len(self.text) and not self.opens_expression():
            if escapes and self.escaped():
                self.at += 1
            elif self.peek() in stop:
                break
            out.append(self.text[self.at])
            self.at += 1
        return "".join(out)

    def escaped(self) -> bool:
        """Whether the next two characters are an escape of the ``/`` arguments."""
        pair = self.text[self.at : self.at + 2]
        return pair in ("$$", "\\/", "\\\\")

    def with_default(self, name: str, operator: str) -> _Expression:
        expression = _Expression(name, operator)
        while self.peek() != "}":
            expression.arguments.append(self.argument(stop="}"))
        self.at += 1
        return expression

    def substring(self, name: str) -> _Expression:
        self.at += 1
        expression = _Expression(name, ":", [self.argument(stop=":}")])
        if self.peek() == "}":
            self.at += 1
            return expression
        if self.peek() != ":":
            raise EnvsubstError(BAD_SUBSTITUTION)
        while self.peek() == ":":
            self.at += 1
        expression.arguments.append(self.argument(stop="}"))
        self.closing_brace()
        return expression

    def replacement(self, name: str) -> _Expression:
        self.at += 1
        operator = "/" + (self.take(1) if self.peek() and self.peek() in "/#%" else "")
        expression = _Expression(name, operator)
        expression.arguments.append(self.argument(stop="/", escapes=True))
        if self.peek() != "/":
            raise EnvsubstError(BAD_SUBSTITUTION)
        while self.peek() == "/":
            self.at += 1
        if self.peek() != "}":
            expression.arguments.append(self.argument(stop="}", escapes=True))
        self.closing_brace()
        return expression


def _is_identifier(character: str) -> bool:
    # Go's unicode.IsLetter / unicode.IsDigit: letters of any script, decimal digits.
    return character == "_" or character.isalpha() or character.isdecimal()


def _evaluated(
    nodes: list[_Node], variables: Mapping[str, str], strict: bool, max_length: int | None
) -> list[str]:
    """Each of ``nodes`` evaluated, at most ``max_length`` characters together."""
    parts = []
    length = 0
    for node in nodes:
        part = _evaluate(node, variables, strict, max_length)
        length += len(part)
        if max_length is not None and length > max_length:
            raise ExpansionTooLong(max_length)
        parts.append(part)
    return parts


def _evaluate(
    node: _Node, variables: Mapping[str, str], strict: bool, max_length: int | None
) -> str:
    if isinstance(node, str):
        return node
    arguments = _evaluated(node.arguments, variables, strict, max_length)
    defined = node.variable in variables
    if strict and not defined and node.operator not in _DEFAULT_OPERATORS:
        raise UndefinedVariable(node.variable)
    return _apply(node.operator, variables.get(node.variable, ""), arguments, max_length)


def _apply(operator: str, value: str, arguments: list[str], max_length: int | None) -> str:
    if operator == "#" and not arguments:
        return str(len(value.encode()))
    if operator in (",", ",,", "^", "^^"):
        return _change_case(operator, value)
    if operator == ":":
        return _substring(value, arguments)
    if operator in ("#", "##", "%", "%%"):
        return _trim(operator, value, arguments[0])
    if operator.startswith("/"):
        return _replace(operator, value, arguments, max_length)
    return value or "".join(arguments)


def _change_case(operator: str, value: str) -> str:
    convert = _lower if operator[0] == "," else _upper
    if len(operator) == 2:
        return "".join(map(convert, value))
    return convert(value[:1]) + value[1:]


def _lower(character: str) -> str:
    # One rune to one rune, as Go's unicode.ToLower: no multi-character expansions.
    lowered = character.lower()
    return lowered if len(lowered) == 1 else character


def _upper(character: str) -> str:
    raised = character.upper()
    return raised if len(raised) == 1 else character


def _atoi(text: str) -> int | None:
    """Go's strconv.Atoi: an optional sign and ASCII digits, nothing else."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not digits or not all("0" <= c <= "9" for c in digits):
        return None
    return int(text)


def _substring(value: str, arguments: list[str]) -> str:
    data = value.encode()
    size = len(data)
    position = _atoi(arguments[0])
    if position is None:
        return value
    if position < 0:
        position = max(size + position, 0)
    if len(arguments) == 1:
        return _text(data[position:])
    length = _atoi(arguments[1])
    if length is None:
        return value
    if length < 0:
        end = size + length
        return "" if end < position else _text(data[position:end])
    return _text(data[position : position + length])


def _text(data: bytes) -> str:
    return data.decode(errors="replace")


def _trim(operator: str, value: str, pattern: str) -> str:
    longest = len(operator) == 2
    if operator[0] == "#":
        return _trim_prefix(value, pattern, longest=longest)
    return _trim_prefix(value[::-1], pattern[::-1], longest=longest)[::-1]


def _trim_prefix(value: str, pattern: str, *, longest: bool) -> str:
    """``value`` without its longest or shortest non-empty prefix matching ``pattern``."""
    data, glob = value.encode(), pattern.encode()
    matched = b""
    for end in range(len(data), 0, -1):
        try:
            if not glob_match(glob, data[:end]):
                continue
        except GlobError:
            return value
        matched = data[:end]
        if longest:
            break
    return _text(data[len(matched) :]) if matched else value


def _replace(operator: str, value: str, arguments: list[str], max_length: int | None) -> str:
    old = arguments[0]
    new = arguments[1] if len(arguments) > 1 else ""
    if operator == "/#":
        if len(arguments) != 2 or not value.startswith(old):
            return value
        return new + value[len(old) :]
    if operator == "/%":
        if len(arguments) != 2 or not value.endswith(old):
            return value
        return value[: len(value) - len(old)] + new
    count = 1 if operator == "/" else value.count(old) if old else len(value) + 1
    if max_length is not None and len(value) + count * (len(new) - len(old)) > max_length:
        raise ExpansionTooLong(max_length)
    return value.replace(old, new, -1 if operator == "//" else 1)
