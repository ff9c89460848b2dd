"""Tokens of a Go text/template, cut as Go's lexer cuts them.

Text runs between ``{{ }}`` actions; ``{{- `` trims the spaces, tabs and newlines before
an action and `` -}}`` those after it (the marker needs its space); ``{{/* */}}`` is a
comment. Inside an action: fields ``.Name``, variables ``$x``, identifiers, keywords,
numbers in Go's syntax (``0x1F``, ``1_000``, ``1e3``, ``'a'``), interpreted and raw
strings, ``|``, ``(``, ``)``, ``:=``, ``=`` and ``,``. The parser (:mod:`.parser`) reads
the list :func:`lex` returns; a lexing error is the last token, of kind ``ERROR``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto

from lockstep.gotemplate.printer import quote

SPACE = " \t\r\n"
LEFT, RIGHT = "{{", "}}"


class Kind(Enum):
    ERROR = auto()
    EOF = auto()
    TEXT = auto()
    LEFT_DELIM = auto()
    RIGHT_DELIM = auto()
    SPACE = auto()
    FIELD = auto()
    IDENTIFIER = auto()
    VARIABLE = auto()
    BOOL = auto()
    NUMBER = auto()
    CHAR_CONSTANT = auto()
    STRING = auto()
    RAW_STRING = auto()
    PIPE = auto()
    ASSIGN = auto()
    DECLARE = auto()
    LEFT_PAREN = auto()
    RIGHT_PAREN = auto()
    CHAR = auto()
    # Keywords
    DOT = auto()
    NIL = auto()
    BLOCK = auto()
    BREAK = auto()
    CONTINUE = auto()
    DEFINE = auto()
    ELSE = auto()
    END = auto()
    IF = auto()
    RANGE = auto()
    TEMPLATE = auto()
    WITH = auto()


KEYWORDS = {
    ".": Kind.DOT,
    "nil": Kind.NIL,
    "block": Kind.BLOCK,
    "break": Kind.BREAK,
    "continue": Kind.CONTINUE,
    "define": Kind.DEFINE,
    "else": Kind.ELSE,
    "end": Kind.END,
    "if": Kind.IF,
    "range": Kind.RANGE,
    "template": Kind.TEMPLATE,
    "with": Kind.WITH,
}


@dataclass(frozen=True)
class Token:
    kind: Kind
    value: str
    pos: int
    line: int

    def __str__(self) -> str:
        if self.kind is Kind.EOF:
            return "EOF"
        if self.kind is Kind.ERROR:
            return self.value
        if self.kind in KEYWORDS.values():
            return f"<{self.value}>"
        if len(self.value) > 10:
            return _go_quote(self.value[:10]) + "..."
        return _go_quote(self.value)


def _go_quote(text: str) -> str:
    return quote(text)


def is_alphanumeric(char: str) -> bool:
    return char == "_" or char.isalpha() or char.isdecimal()


def lex(text: str) -> list[Token]:
    """The tokens of ``text``, ending with ``EOF`` or, at the first error, ``ERROR``."""
    return _Lexer(text).run()


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.start = 0
        self.tokens: list[Token] = []
        self.paren_depth = 0

    def run(self) -> list[Token]:
        while self._text_up_to_action() and self._action():
            pass
        return self.tokens

    # Positions and tokens

    def _line(self, pos: int) -> int:
        return self.text.count("\n", 0, pos) + 1

    def _emit(self, kind: Kind, value: str | None = None) -> None:
        if value is None:
            value = self.text[self.start : self.pos]
        self.tokens.append(Token(kind, value, self.start, self._line(self.start)))
        self.start = self.pos

    def _error(self, message: str) -> bool:
        self.tokens.append(Token(Kind.ERROR, message, self.start, self._line(self.start)))
        return False

    def _peek(self, offset: int = 0) -> str:
        at = self.pos + offset
        return self.text[at] if at < len(self.text) else ""

    def _accept(self, valid: str) -> bool:
        if self._peek() and self._peek() in valid:
            self.pos += 1
            return True
        return False

    def _accept_run(self, valid: str) -> None:
        while self._accept(valid):
            pass

    def _has_left_trim(self, at: int) -> bool:
        return self.text[at : at + 1] == "-" and self.text[at + 1 : at + 2] in tuple(SPACE)

    def _at_right_delim(self) -> tuple[bool, bool]:
        """Whether an action ends here, and whether it ends with the trim marker."""
        rest = self.text[self.pos :]
        if rest[:1] in tuple(SPACE) and rest[1:2] == "-" and rest[2:].startswith(RIGHT):
            return True, True
        return rest.startswith(RIGHT), False

    def _at_terminator(self) -> bool:
        char = self._peek()
        return (
            char in ("", ".", ",", "|", ":", ")", "(")
            or char in SPACE
            or (self.text.startswith(RIGHT, self.pos))
        )

    # Text and delimiters

    def _text_up_to_action(self) -> bool:
        """Emits the text before the next action; False at the end of the input."""
        found = self.text.find(LEFT, self.pos)
        if found < 0:
            self.pos = len(self.text)
            if self.pos > self.start:
                self._emit(Kind.TEXT)
            self._emit(Kind.EOF, "")
            return False
        text_end = found
        if self._has_left_trim(found + len(LEFT)):
            text_end = self.start + len(self.text[self.start : found].rstrip(SPACE))
        if text_end > self.start:
            self.pos = text_end
            self._emit(Kind.TEXT)
        self.pos = self.start = found
        return True

    def _action(self) -> bool:
        """Lexes one action or comment from its left delimiter on."""
        self.pos += len(LEFT)
        trim = self._has_left_trim(self.pos)
        after_marker = 2 if trim else 0
        if self.text.startswith("/*", self.pos + after_marker):
            return self._comment(after_marker)
        self._emit(Kind.LEFT_DELIM)
        self.pos += after_marker
        self.start = self.pos
        self.paren_depth = 0
        while True:
            at_delim, _ = self._at_right_delim()
            if at_delim:
                if self.paren_depth:
                    return self._error("unclosed left paren")
                return self._right_delim()
            if not self._inside_action():
                return False

    def _comment(self, after_marker: int) -> bool:
        self.pos += after_marker + 2
        self.start = self.pos - 2
        end = self.text.find("*/", self.pos)
        if end < 0:
            return self._error("unclosed comment")
        self.pos = end + 2
        at_delim, trim = self._at_right_delim()
        if not at_delim:
            return self._error("comment ends before closing delimiter")
        self.pos += (2 if trim else 0) + len(RIGHT)
        if trim:
            self.pos = len(self.text) - len(self.text[self.pos :].lstrip(SPACE))
        self.start = self.pos
        return True

    def _right_delim(self) -> bool:
        _, trim = self._at_right_delim()
        if trim:
            self.pos += 2
            self.start = self.pos
        self.pos += len(RIGHT)
        self._emit(Kind.RIGHT_DELIM)
        if trim:
            self.pos = len(self.text) - len(self.text[self.pos :].lstrip(SPACE))
            self.start = self.pos
        return True

    # Inside an action

    def _inside_action(self) -> bool:
        char = self._peek()
        if not char:
            return self._error("unclosed action")
        if char in SPACE:
            return self._space()
        self.pos += 1
        single = {"=": Kind.ASSIGN, "|": Kind.PIPE}
        if char in single:
            self._emit(single[char])
        elif char == ":":
            if not self._accept("="):
                return self._error("expected :=")
            self._emit(Kind.DECLARE)
        elif char == '"':
            return self._quoted('"', Kind.STRING, "unterminated quoted string")
        elif char == "`":
            return self._raw_string()
        elif char == "'":
            return self._quoted("'", Kind.CHAR_CONSTANT, "unterminated character constant")
        elif char == "$":
            return self._field_or_variable(Kind.VARIABLE)
        elif char == "." and not ("0" <= self._peek() <= "9" and self._peek()):
            return self._field_or_variable(Kind.FIELD)
        elif char in "+-." or "0" <= char <= "9":
            self.pos -= 1
            return self._number()
        elif is_alphanumeric(char):
            return self._identifier()
        elif char == "(":
            self.paren_depth += 1
            self._emit(Kind.LEFT_PAREN)
        elif char == ")":
            self.paren_depth -= 1
            if self.paren_depth < 0:
                return self._error("unexpected right paren")
            self._emit(Kind.RIGHT_PAREN)
        elif char.isascii() and char.isprintable():
            self._emit(Kind.CHAR)
        else:
            return self._error(f"unrecognized character in action: {_unicode_name(char)}")
        return True

    def _space(self) -> bool:
        spaces = 0
        while self._peek() and self._peek() in SPACE:
            self.pos += 1
            spaces += 1
        # A space that belongs to a closing " -}}" is not part of this run.
        if self.text.startswith("-" + RIGHT, self.pos):
            self.pos -= 1
            if spaces == 1:
                return True
        self._emit(Kind.SPACE)
        return True

    def _identifier(self) -> bool:
        while is_alphanumeric(self._peek()):
            self.pos += 1
        word = self.text[self.start : self.pos]
        if not self._at_terminator():
            return self._error(f"bad character {_unicode_name(self._peek())}")
        if word in KEYWORDS:
            self._emit(KEYWORDS[word])
        elif word in ("true", "false"):
            self._emit(Kind.BOOL)
        else:
            self._emit(Kind.IDENTIFIER)
        return True

    def _field_or_variable(self, kind: Kind) -> bool:
        if self._at_terminator():
            self._emit(Kind.VARIABLE if kind is Kind.VARIABLE else Kind.DOT)
            return True
        while is_alphanumeric(self._peek()):
            self.pos += 1
        if not self._at_terminator():
            return self._error(f"bad character {_unicode_name(self._peek())}")
        self._emit(kind)
        return True

    def _number(self) -> bool:
        valid = self._scan_number()
        # A sign right after a number makes a complex number, which must end in "i".
        if valid and self._peek() in ("+", "-") and self._peek():
            valid = self._scan_number() and self.text[self.pos - 1] == "i"
        if not valid:
            return self._error(f"bad number syntax: {_go_quote(self.text[self.start : self.pos])}")
        self._emit(Kind.NUMBER)
        return True

    def _scan_number(self) -> bool:
        self._accept("+-")
        digits = "0123456789_"
        if self._accept("0"):
            if self._accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif self._accept("oO"):
                digits = "01234567_"
            elif self._accept("bB"):
                digits = "01_"
        self._accept_run(digits)
        if self._accept("."):
            self._accept_run(digits)
        if len(digits) == 11 and self._accept("eE"):
            self._accept("+-")
            self._accept_run("0123456789_")
        if len(digits) == 23 and self._accept("pP"):
            self._accept("+-")
            self._accept_run("0123456789_")
        self._accept("i")
        if self._peek() and is_alphanumeric(self._peek()):
            self.pos += 1
            return False
        return True

    def _quoted(self, quote: str, kind: Kind, unterminated: str) -> bool:
        while True:
            char = self._peek()
            self.pos += 1
            if char == "\\":
                escaped = self._peek()
                self.pos += 1
                if escaped and escaped != "\n":
                    continue
                return self._error(unterminated)
            if not char or char == "\n":
                return self._error(unterminated)
            if char == quote:
                self._emit(kind)
                return True

    def _raw_string(self) -> bool:
        end = self.text.find("`", self.pos)
        if end < 0:
            return self._error("unterminated raw quoted string")
        self.pos = end + 1
        self._emit(Kind.RAW_STRING)
        return True


def _unicode_name(char: str) -> str:
    """Go's %#U: ``U+0022 '"'``."""
    if not char:
        return "U+FFFFFFFF"
    code = ord(char)
    return f"U+{code:04X} '{char}'" if char.isprintable() else f"U+{code:04X}"
