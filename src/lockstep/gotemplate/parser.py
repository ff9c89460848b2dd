"""The parse tree of a Go text/template, built from :mod:`.lexer` tokens as Go's parser
builds it, with Go's parse errors (``function "x" not defined``, ``undefined variable
"$x"``, ``unexpected {{end}}``...).

:func:`parse` returns every template the text defines: the main one under its name,
and one per ``{{define}}`` and ``{{block}}``. The executor (:mod:`.executor`) walks them.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field

from lockstep.gotemplate.lexer import Kind, Token, lex
from lockstep.gotemplate.literals import parse_number, unquote
from lockstep.gotemplate.printer import quote

MAX_PAREN_DEPTH = 100  # Go allows 10000; Python's stack is shallower


class ParseError(ValueError):
    """The template text is not a valid template; the message is Go's."""


@dataclass
class Node:
    pos: int


@dataclass
class TextNode(Node):
    text: str


@dataclass
class DotNode(Node):
    def __str__(self) -> str:
        return "."


@dataclass
class NilNode(Node):
    def __str__(self) -> str:
        return "nil"


@dataclass
class BoolNode(Node):
    value: bool

    def __str__(self) -> str:
        return "true" if self.value else "false"


@dataclass
class NumberNode(Node):
    text: str
    is_int: bool = False
    is_uint: bool = False
    is_float: bool = False
    is_complex: bool = False
    int_value: int = 0
    float_value: float = 0.0

    def __str__(self) -> str:
        return self.text


@dataclass
class StringNode(Node):
    quoted: str
    text: str

    def __str__(self) -> str:
        return self.quoted


@dataclass
class IdentifierNode(Node):
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass
class FieldNode(Node):
    names: tuple[str, ...]

    def __str__(self) -> str:
        return "".join("." + name for name in self.names)


@dataclass
class VariableNode(Node):
    names: tuple[str, ...]  # the variable, then fields

    def __str__(self) -> str:
        return ".".join(self.names)


@dataclass
class ChainNode(Node):
    node: Node
    fields: tuple[str, ...]

    def __str__(self) -> str:
        inner = f"({self.node})" if isinstance(self.node, PipeNode) else str(self.node)
        return inner + "".join("." + name for name in self.fields)


@dataclass
class CommandNode(Node):
    args: list[Node] = field(default_factory=list)

    def __str__(self) -> str:
        return " ".join(f"({arg})" if isinstance(arg, PipeNode) else str(arg) for arg in self.args)


@dataclass
class PipeNode(Node):
    line: int
    declarations: list[VariableNode] = field(default_factory=list)
    is_assign: bool = False
    commands: list[CommandNode] = field(default_factory=list)

    def __str__(self) -> str:
        declared = ", ".join(map(str, self.declarations))
        if declared:
            declared += " = " if self.is_assign else " := "
        return declared + " | ".join(map(str, self.commands))


@dataclass
class ListNode(Node):
    nodes: list[Node] = field(default_factory=list)


@dataclass
class ActionNode(Node):
    pipe: PipeNode

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


@dataclass
class BranchNode(Node):
    """``if``, ``range`` and ``with``."""

    keyword: str
    pipe: PipeNode
    body: ListNode
    else_body: ListNode | None

    def __str__(self) -> str:
        return "{{" + self.keyword + " " + str(self.pipe) + "}}"


@dataclass
class BreakNode(Node):
    def __str__(self) -> str:
        return "{{break}}"


@dataclass
class ContinueNode(Node):
    def __str__(self) -> str:
        return "{{continue}}"


@dataclass
class TemplateNode(Node):
    name: str
    pipe: PipeNode | None

    def __str__(self) -> str:
        return "{{template " + quote(self.name) + (f" {self.pipe}" if self.pipe else "") + "}}"


@dataclass
class _End(Node):
    def __str__(self) -> str:
        return "{{end}}"


@dataclass
class _Else(Node):
    def __str__(self) -> str:
        return "{{else}}"


def parse(name: str, text: str, functions: Container[str]) -> dict[str, ListNode]:
    """The templates ``text`` defines, by name; the main one is ``name``.

    Raises :class:`ParseError` with Go's message: ``template: NAME:LINE: ...``.
    """
    try:
        return _Parser(name, text, functions).parse()
    except RecursionError:
        raise ParseError(f"template: {name}: max expression depth exceeded") from None


def is_empty(node: Node | None) -> bool:
    """Whether a template is only space and comments: a later definition may replace it."""
    if node is None:
        return True
    if isinstance(node, ListNode):
        return all(is_empty(item) for item in node.nodes)
    return isinstance(node, TextNode) and not node.text.strip(" \t\r\n\v\f")


class _Parser:
    def __init__(self, name: str, text: str, functions: Container[str]) -> None:
        self.name = name
        self.text = text
        self.functions = functions
        self.tokens = lex(text)
        self.current = self.tokens[0]
        self.index = 0
        self.templates: dict[str, ListNode] = {}
        self.variables: list[str] = ["$"]
        self.range_depth = 0
        self.paren_depth = 0

    # Tokens

    def _next(self) -> Token:
        token = self.tokens[min(self.index, len(self.tokens) - 1)]
        self.index += 1
        self.current = token
        return token

    def _backup(self, count: int = 1) -> None:
        self.index -= count

    def _peek(self) -> Token:
        token = self._next()
        self._backup()
        return token

    def _next_non_space(self) -> Token:
        token = self._next()
        while token.kind is Kind.SPACE:
            token = self._next()
        return token

    def _peek_non_space(self) -> Token:
        token = self._next_non_space()
        self._backup()
        return token

    def _error(self, message: str) -> ParseError:
        return ParseError(f"template: {self.name}:{self.current.line}: {message}")

    def _expect(self, kind: Kind, context: str) -> Token:
        token = self._next_non_space()
        if token.kind is not kind:
            raise self._unexpected(token, context)
        return token

    def _unexpected(self, token: Token, context: str) -> ParseError:
        if token.kind is Kind.ERROR:
            return self._error(str(token))
        return self._error(f"unexpected {token} in {context}")

    # Templates

    def parse(self) -> dict[str, ListNode]:
        root = ListNode(self._peek().pos)
        while self._peek().kind is not Kind.EOF:
            if self._peek().kind is Kind.LEFT_DELIM:
                mark = self.index
                self._next()
                if self._next_non_space().kind is Kind.DEFINE:
                    self._definition()
                    continue
                self.index = mark
            node = self._text_or_action()
            if isinstance(node, _End | _Else):
                raise self._error(f"unexpected {node}")
            root.nodes.append(node)
        self._add(self.name, root)
        return self.templates

    def _add(self, name: str, root: ListNode) -> None:
        if name not in self.templates or is_empty(self.templates[name]):
            self.templates[name] = root
        elif not is_empty(root):
            raise self._error(f"template: multiple definition of template {quote(name)}")

    def _definition(self) -> None:
        token = self._next_non_space()
        if token.kind not in (Kind.STRING, Kind.RAW_STRING):
            raise self._unexpected(token, "define clause")
        name = self._unquote(token)
        self._expect(Kind.RIGHT_DELIM, "define clause")
        outer = self.variables, self.range_depth
        self.variables, self.range_depth = ["$"], 0
        body, end = self._item_list()
        if not isinstance(end, _End):
            raise self._error(f"unexpected {end} in define clause")
        self.variables, self.range_depth = outer
        self._add(name, body)

    def _item_list(self) -> tuple[ListNode, Node]:
        body = ListNode(self._peek_non_space().pos)
        while self._peek_non_space().kind is not Kind.EOF:
            node = self._text_or_action()
            if isinstance(node, _End | _Else):
                return body, node
            body.nodes.append(node)
        raise self._error("unexpected EOF")

    def _text_or_action(self) -> Node:
        token = self._next_non_space()
        if token.kind is Kind.TEXT:
            return TextNode(token.pos, token.value)
        if token.kind is Kind.LEFT_DELIM:
            return self._action()
        raise self._unexpected(token, "input")

    def _action(self) -> Node:
        token = self._next_non_space()
        if token.kind is Kind.BLOCK:
            return self._block()
        if token.kind in (Kind.BREAK, Kind.CONTINUE):
            word = token.value
            after = self._next_non_space()
            if after.kind is not Kind.RIGHT_DELIM:
                raise self._unexpected(after, "{{" + word + "}}")
            if not self.range_depth:
                raise self._error("{{" + word + "}} outside {{range}}")
            return BreakNode(token.pos) if word == "break" else ContinueNode(token.pos)
        if token.kind is Kind.ELSE:
            following = self._peek_non_space()
            if following.kind in (Kind.IF, Kind.WITH):
                return _Else(following.pos)
            return _Else(self._expect(Kind.RIGHT_DELIM, "else").pos)
        if token.kind is Kind.END:
            return _End(self._expect(Kind.RIGHT_DELIM, "end").pos)
        if token.kind in (Kind.IF, Kind.RANGE, Kind.WITH):
            return self._control(token.value)
        if token.kind is Kind.TEMPLATE:
            return self._template_call()
        self._backup()
        return ActionNode(self._peek().pos, self._pipeline("command", Kind.RIGHT_DELIM))

    def _control(self, keyword: str) -> BranchNode:
        depth = len(self.variables)
        pipe = self._pipeline(keyword, Kind.RIGHT_DELIM)
        if keyword == "range":
            self.range_depth += 1
        body, next_node = self._item_list()
        if keyword == "range":
            self.range_depth -= 1
        else_body = None
        if isinstance(next_node, _Else):
            chained = {"if": Kind.IF, "with": Kind.WITH}.get(keyword)
            if chained is not None and self._peek().kind is chained:
                self._next()
                else_body = ListNode(next_node.pos, [self._control(keyword)])
            else:
                else_body, end = self._item_list()
                if not isinstance(end, _End):
                    raise self._error(f"expected end; found {end}")
        del self.variables[depth:]
        return BranchNode(pipe.pos, keyword, pipe, body, else_body)

    def _block(self) -> TemplateNode:
        token = self._next_non_space()
        name = self._template_name(token, "block clause")
        pipe = self._pipeline("block clause", Kind.RIGHT_DELIM)
        outer = self.variables, self.range_depth
        self.variables, self.range_depth = ["$"], 0
        body, end = self._item_list()
        if not isinstance(end, _End):
            raise self._error(f"unexpected {end} in block clause")
        self.variables, self.range_depth = outer
        self._add(name, body)
        return TemplateNode(token.pos, name, pipe)

    def _template_call(self) -> TemplateNode:
        token = self._next_non_space()
        name = self._template_name(token, "template clause")
        pipe = None
        if self._next_non_space().kind is not Kind.RIGHT_DELIM:
            self._backup()
            pipe = self._pipeline("template clause", Kind.RIGHT_DELIM)
        return TemplateNode(token.pos, name, pipe)

    def _template_name(self, token: Token, context: str) -> str:
        if token.kind not in (Kind.STRING, Kind.RAW_STRING):
            raise self._unexpected(token, context)
        return self._unquote(token)

    # Pipelines

    def _pipeline(self, context: str, end: Kind) -> PipeNode:
        token = self._peek_non_space()
        pipe = PipeNode(token.pos, token.line)
        self._declarations(pipe, context)
        while True:
            token = self._next_non_space()
            if token.kind is end:
                if not pipe.commands:
                    raise self._error(f"missing value for {context}")
                for number, command in enumerate(pipe.commands[1:], start=2):
                    if isinstance(
                        command.args[0], BoolNode | DotNode | NilNode | NumberNode | StringNode
                    ):
                        raise self._error(f"non executable command in pipeline stage {number}")
                return pipe
            if token.kind in _OPERAND_STARTS:
                self._backup()
                pipe.commands.append(self._command())
            else:
                raise self._unexpected(token, context)

    def _declarations(self, pipe: PipeNode, context: str) -> None:
        while (variable := self._peek_non_space()).kind is Kind.VARIABLE:
            self._next_non_space()
            after_variable = self._peek()
            following = self._peek_non_space()
            if following.kind in (Kind.ASSIGN, Kind.DECLARE):
                pipe.is_assign = following.kind is Kind.ASSIGN
                self._next_non_space()
                pipe.declarations.append(VariableNode(variable.pos, (variable.value,)))
                self.variables.append(variable.value)
                return
            if following.kind is Kind.CHAR and following.value == ",":
                self._next_non_space()
                pipe.declarations.append(VariableNode(variable.pos, (variable.value,)))
                self.variables.append(variable.value)
                if context == "range" and len(pipe.declarations) < 2:
                    if self._peek_non_space().kind in (
                        Kind.VARIABLE,
                        Kind.RIGHT_DELIM,
                        Kind.RIGHT_PAREN,
                    ):
                        continue
                    raise self._error("range can only initialize variables")
                raise self._error(f"too many declarations in {context}")
            # Not a declaration: put the variable (and a space after it) back.
            self._backup(2 if after_variable.kind is Kind.SPACE else 1)
            return

    def _command(self) -> CommandNode:
        command = CommandNode(self._peek_non_space().pos)
        while True:
            self._peek_non_space()
            operand = self._operand()
            if operand is not None:
                command.args.append(operand)
            token = self._next()
            if token.kind is Kind.SPACE:
                continue
            if token.kind in (Kind.RIGHT_DELIM, Kind.RIGHT_PAREN):
                self._backup()
            elif token.kind is not Kind.PIPE:
                raise self._unexpected(token, "operand")
            break
        if not command.args:
            raise self._error("empty command")
        return command

    def _operand(self) -> Node | None:
        node = self._term()
        if node is None or self._peek().kind is not Kind.FIELD:
            return node
        # Go places a chain at its first chained field: errors point there.
        pos = self._peek().pos
        fields: list[str] = []
        while self._peek().kind is Kind.FIELD:
            fields.append(self._next().value[1:])
        if isinstance(node, FieldNode):
            return FieldNode(pos, node.names + tuple(fields))
        if isinstance(node, VariableNode):
            return VariableNode(pos, node.names + tuple(fields))
        if isinstance(node, BoolNode | StringNode | NumberNode | NilNode | DotNode):
            raise self._error(f"unexpected . after term {quote(str(node))}")
        return ChainNode(pos, node, tuple(fields))

    def _term(self) -> Node | None:
        token = self._next_non_space()
        kind = token.kind
        if kind is Kind.IDENTIFIER:
            if token.value not in self.functions:
                raise self._error(f"function {quote(token.value)} not defined")
            return IdentifierNode(token.pos, token.value)
        if kind is Kind.DOT:
            return DotNode(token.pos)
        if kind is Kind.NIL:
            return NilNode(token.pos)
        if kind is Kind.VARIABLE:
            names = tuple(token.value.split("."))
            if names[0] not in self.variables:
                raise self._error(f"undefined variable {quote(names[0])}")
            return VariableNode(token.pos, names)
        if kind is Kind.FIELD:
            return FieldNode(token.pos, tuple(token.value[1:].split(".")))
        if kind is Kind.BOOL:
            return BoolNode(token.pos, token.value == "true")
        if kind in (Kind.NUMBER, Kind.CHAR_CONSTANT):
            return self._number(token)
        if kind is Kind.LEFT_PAREN:
            if self.paren_depth >= MAX_PAREN_DEPTH:
                raise self._error("max expression depth exceeded")
            self.paren_depth += 1
            pipe = self._pipeline("parenthesized pipeline", Kind.RIGHT_PAREN)
            self.paren_depth -= 1
            return pipe
        if kind in (Kind.STRING, Kind.RAW_STRING):
            return StringNode(token.pos, token.value, self._unquote(token))
        self._backup()
        return None

    def _number(self, token: Token) -> NumberNode:
        try:
            number = parse_number(token.value, token.kind is Kind.CHAR_CONSTANT)
        except ValueError as error:
            raise self._error(str(error)) from None
        return NumberNode(token.pos, token.value, *number)

    def _unquote(self, token: Token) -> str:
        try:
            return unquote(token.value)
        except ValueError as error:
            raise self._error(str(error)) from None


_OPERAND_STARTS = frozenset(
    {
        Kind.BOOL,
        Kind.CHAR_CONSTANT,
        Kind.DOT,
        Kind.FIELD,
        Kind.IDENTIFIER,
        Kind.NUMBER,
        Kind.NIL,
        Kind.RAW_STRING,
        Kind.STRING,
        Kind.VARIABLE,
        Kind.LEFT_PAREN,
    }
)
