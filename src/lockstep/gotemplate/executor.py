"""Runs a parsed Go text/template on data, as Go's text/template executes it.

Fields are looked up on structs (promoted through embedded ones) and maps, methods
called, a missing map key gives no value (printed ``<no value>``), a missing struct
field fails. Function arguments are checked and converted against the function's Go
parameter types; ``and``/``or`` stop at the first deciding argument; ``range`` walks
slices in order, maps sorted by key, and integers from 0. Errors read as Go's:
``template: NAME:LINE:COL: executing "NAME" at <NODE>: MESSAGE``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lockstep.gotemplate.parser import (
    ActionNode,
    BoolNode,
    BranchNode,
    BreakNode,
    ChainNode,
    CommandNode,
    ContinueNode,
    DotNode,
    FieldNode,
    IdentifierNode,
    ListNode,
    NilNode,
    Node,
    NumberNode,
    PipeNode,
    StringNode,
    TemplateNode,
    TextNode,
    VariableNode,
)
from lockstep.gotemplate.printer import format_value, quote
from lockstep.gotemplate.values import (
    INTERFACE,
    REFLECT_VALUE,
    CallError,
    Function,
    GoInt64,
    GoMap,
    GoStruct,
    assignable,
    can_be_nil,
    go_method,
    is_int,
    is_true,
    nil_of,
    sort_key,
    struct_field,
    type_name,
)

MAX_TEMPLATE_DEPTH = 40  # Go allows 100000 nested {{template}} calls; Python's stack is shallower


class ExecError(ValueError):
    """Running the template failed; the message is Go's."""


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _Missing:
    """No value piped in: distinct from a piped-in nil."""


MISSING: Any = _Missing()


class Executor:
    """One run of a template set: output, variables and the node being evaluated."""

    def __init__(
        self,
        templates: Mapping[str, ListNode],
        parse_name: str,
        text: str,
        functions: Mapping[str, Function],
    ) -> None:
        self.templates = templates
        self.parse_name = parse_name
        self.text = text
        self.functions = functions
        self.out: list[str] = []
        self.variables: list[list[Any]] = []
        self.name = parse_name
        self.node: Node | None = None
        self.depth = 0

    def run(self, name: str, data: Any) -> str:
        self.name = name
        self.variables = [["$", data]]
        try:
            self._walk(data, self.templates[name])
        except RecursionError:
            raise self._error("template nesting is too deep") from None
        return "".join(self.out)

    # Errors

    def _error(self, message: str) -> ExecError:
        if self.node is None:
            return ExecError(f"template: {self.name}: {message}")
        pos = self.node.pos
        line = self.text.count("\n", 0, pos) + 1
        column = pos - (self.text.rfind("\n", 0, pos) + 1)
        return ExecError(
            f"template: {self.parse_name}:{line}:{column}: executing {quote(self.name)} "
            f"at <{self.node}>: {message}"
        )

    # Statements

    def _walk(self, dot: Any, node: Node) -> None:
        self.node = node
        if isinstance(node, ActionNode):
            value = self._pipeline(dot, node.pipe)
            if not node.pipe.declarations:
                self.node = node
                self.out.append(format_value(value))
        elif isinstance(node, TextNode):
            self.out.append(node.text)
        elif isinstance(node, ListNode):
            for item in node.nodes:
                self._walk(dot, item)
        elif isinstance(node, BranchNode):
            if node.keyword == "range":
                self._range(dot, node)
            else:
                self._if_or_with(dot, node)
        elif isinstance(node, TemplateNode):
            self._template(dot, node)
        elif isinstance(node, BreakNode):
            raise _Break
        elif isinstance(node, ContinueNode):
            raise _Continue

    def _if_or_with(self, dot: Any, node: BranchNode) -> None:
        mark = len(self.variables)
        try:
            value = self._pipeline(dot, node.pipe)
            if is_true(value):
                self._walk(value if node.keyword == "with" else dot, node.body)
            elif node.else_body is not None:
                self._walk(dot, node.else_body)
        finally:
            del self.variables[mark:]

    def _range(self, dot: Any, node: BranchNode) -> None:
        outer = len(self.variables)
        try:
            value = self._pipeline(dot, node.pipe)
            if not self._range_over(value, node) and node.else_body is not None:
                self._walk(dot, node.else_body)
        except _Break:
            pass  # Go stops here even for a {{break}} in the else branch
        finally:
            del self.variables[outer:]

    def _range_over(self, value: Any, node: BranchNode) -> bool:
        """Runs the body once per element; False when there was none."""
        declarations = node.pipe.declarations
        if is_int(value):
            if len(declarations) > 1:
                raise self._error(f"can't use {value} to iterate over more than one variable")
            items: list[tuple[Any, Any]] = [(None, type(value)(i)) for i in range(value)]
        elif isinstance(value, list):
            items = list(enumerate(value))
        elif isinstance(value, dict):
            items = sorted(value.items(), key=lambda item: sort_key(item[0]))
        elif value is None:
            items = []
        else:
            raise self._error(f"range can't iterate over {format_value(value)}")
        mark = len(self.variables)
        for index, element in items:
            self._declare_range_variables(node.pipe, index, element)
            try:
                self._walk(element, node.body)
            except _Continue:
                pass
            finally:
                del self.variables[mark:]
        return bool(items)

    def _declare_range_variables(self, pipe: PipeNode, index: Any, element: Any) -> None:
        names = [declared.names[0] for declared in pipe.declarations]
        if pipe.is_assign:
            values = [index, element] if len(names) > 1 else [element]
            for name, value in zip(names, values, strict=True):
                self._set_variable(name, value)
        elif names:
            self.variables[-1][1] = element
            if len(names) > 1:
                self.variables[-2][1] = index

    def _template(self, dot: Any, node: TemplateNode) -> None:
        body = self.templates.get(node.name)
        if body is None:
            raise self._error(f"template {quote(node.name)} not defined")
        if self.depth >= MAX_TEMPLATE_DEPTH:
            raise self._error(f"exceeded maximum template depth ({MAX_TEMPLATE_DEPTH})")
        dot = self._pipeline(dot, node.pipe) if node.pipe is not None else None
        saved = self.variables, self.name
        self.variables, self.name = [["$", dot]], node.name
        self.depth += 1
        try:
            self._walk(dot, body)
        finally:
            self.variables, self.name = saved
            self.depth -= 1

    # Variables

    def _variable(self, name: str) -> Any:
        for variable_name, value in reversed(self.variables):
            if variable_name == name:
                return value
        raise self._error(f"undefined variable: {name}")

    def _set_variable(self, name: str, value: Any) -> None:
        for variable in reversed(self.variables):
            if variable[0] == name:
                variable[1] = value
                return
        raise self._error(f"undefined variable: {name}")

    # Pipelines and commands

    def _pipeline(self, dot: Any, pipe: PipeNode) -> Any:
        self.node = pipe
        value = MISSING
        for command in pipe.commands:
            value = self._command(dot, command, value)
        for declared in pipe.declarations:
            if pipe.is_assign:
                self._set_variable(declared.names[0], value)
            else:
                self.variables.append([declared.names[0], value])
        return value

    def _command(self, dot: Any, command: CommandNode, final: Any) -> Any:
        first = command.args[0]
        if isinstance(first, FieldNode):
            self.node = first
            return self._field_chain(dot, dot, first, first.names, command.args, final)
        if isinstance(first, ChainNode):
            return self._chain(dot, first, command.args, final)
        if isinstance(first, IdentifierNode):
            return self._function(dot, first, command, command.args, final)
        if isinstance(first, PipeNode):
            self._not_a_function(command.args, final)
            return self._pipeline(dot, first)
        if isinstance(first, VariableNode):
            return self._variable_node(dot, first, command.args, final)
        self.node = first
        self._not_a_function(command.args, final)
        if isinstance(first, BoolNode):
            return first.value
        if isinstance(first, DotNode):
            return dot
        if isinstance(first, NilNode):
            raise self._error("nil is not a command")
        if isinstance(first, NumberNode):
            return self._constant(first)
        if isinstance(first, StringNode):
            return first.text
        raise self._error(f"can't evaluate command {quote(str(first))}")

    def _not_a_function(self, args: list[Node], final: Any) -> None:
        if len(args) > 1 or final is not MISSING:
            raise self._error(f"can't give argument to non-function {args[0]}")

    def _constant(self, number: NumberNode) -> Any:
        self.node = number
        text = number.text
        hex_int = (
            len(text) > 2
            and text[0] == "0"
            and text[1] in "xX"
            and not any(c in "pP" for c in text)
        )
        if number.is_complex:
            raise self._error("complex numbers are not supported")
        if number.is_float and not hex_int and text[0] != "'" and any(c in ".eEpP" for c in text):
            return number.float_value
        if number.is_int:
            return number.int_value
        raise self._error(f"{text} overflows int")

    def _chain(self, dot: Any, chain: ChainNode, args: list[Node] | None, final: Any) -> Any:
        self.node = chain
        if isinstance(chain.node, NilNode):
            raise self._error(f"indirection through explicit nil in {chain}")
        receiver = self._argument(dot, None, chain.node)
        return self._field_chain(dot, receiver, chain, chain.fields, args, final)

    def _variable_node(
        self, dot: Any, node: VariableNode, args: list[Node] | None, final: Any
    ) -> Any:
        self.node = node
        value = self._variable(node.names[0])
        if len(node.names) == 1:
            self._not_a_function(args or [node], final)
            return value
        return self._field_chain(dot, value, node, node.names[1:], args, final)

    def _field_chain(
        self,
        dot: Any,
        receiver: Any,
        node: Node,
        names: tuple[str, ...],
        args: list[Node] | None,
        final: Any,
    ) -> Any:
        for name in names[:-1]:
            receiver = self._field(dot, name, node, None, MISSING, receiver)
        return self._field(dot, names[-1], node, args, final, receiver)

    def _field(
        self, dot: Any, name: str, node: Node, args: list[Node] | None, final: Any, receiver: Any
    ) -> Any:
        if receiver is None:
            return None
        if isinstance(receiver, GoStruct):
            method = go_method(receiver, name)
            if method is not None:
                return self._call(dot, Function((), method), node, name, args, final)
        has_args = (args is not None and len(args) > 1) or final is not MISSING
        if isinstance(receiver, GoStruct):
            found, value = struct_field(receiver, name)
            if found:
                if has_args:
                    raise self._error(f"{name} has arguments but cannot be invoked as function")
                return value
        elif isinstance(receiver, dict) and (
            not isinstance(receiver, GoMap) or receiver.key_type == "string"
        ):
            if has_args:
                raise self._error(f"{name} is not a method but has arguments")
            return receiver.get(name)
        raise self._error(f"can't evaluate field {name} in type {type_name(receiver)}")

    # Functions and arguments

    def _function(
        self, dot: Any, node: IdentifierNode, command: Node, args: list[Node] | None, final: Any
    ) -> Any:
        self.node = node
        return self._call(dot, self.functions[node.name], command, node.name, args, final)

    def _call(
        self,
        dot: Any,
        function: Function,
        node: Node,
        name: str,
        args: list[Node] | None,
        final: Any,
    ) -> Any:
        given = args[1:] if args else []
        count = len(given) + (final is not MISSING)
        params = function.params
        if function.variadic is not None:
            if count < len(params):
                raise self._error(
                    f"wrong number of args for {name}: want at least {len(params)} got {len(given)}"
                )
        elif count != len(params):
            raise self._error(f"wrong number of args for {name}: want {len(params)} got {count}")
        if function.lazy:
            value = None
            for arg in given:
                value = self._argument(dot, REFLECT_VALUE, arg)
                if is_true(value) == (name == "or"):
                    return value
            return final if final is not MISSING else value
        values = [
            self._argument(dot, params[i] if i < len(params) else function.variadic, arg)
            for i, arg in enumerate(given)
        ]
        if final is not MISSING:
            if function.variadic is not None and count - 1 >= len(params):
                final_type: str = function.variadic
            else:
                final_type = params[count - 1]
            values.append(self._check_type(final, final_type))
        try:
            return function.call(*values)
        except CallError as error:
            self.node = node
            raise self._error(f"error calling {name}: {error}") from None

    def _check_type(self, value: Any, go_type: str | None) -> Any:
        if value is None:
            if go_type is None:
                return None
            if can_be_nil(go_type):
                return nil_of(go_type)
            raise self._error(f"invalid value; expected {go_type}")
        if go_type is not None and not assignable(value, go_type):
            raise self._error(f"wrong type for value; expected {go_type}; got {type_name(value)}")
        return value

    def _argument(self, dot: Any, go_type: str | None, node: Node) -> Any:
        self.node = node
        if isinstance(node, DotNode):
            return self._check_type(dot, go_type)
        if isinstance(node, NilNode):
            if go_type is not None and can_be_nil(go_type):
                return nil_of(go_type)
            raise self._error(f"cannot assign nil to {go_type}")
        if isinstance(node, FieldNode):
            value = self._field_chain(dot, dot, node, node.names, [node], MISSING)
            return self._check_type(value, go_type)
        if isinstance(node, VariableNode):
            return self._check_type(self._variable_node(dot, node, None, MISSING), go_type)
        if isinstance(node, PipeNode):
            return self._check_type(self._pipeline(dot, node), go_type)
        if isinstance(node, IdentifierNode):
            return self._check_type(self._function(dot, node, node, None, MISSING), go_type)
        if isinstance(node, ChainNode):
            return self._check_type(self._chain(dot, node, None, MISSING), go_type)
        if go_type in (INTERFACE, REFLECT_VALUE):
            if isinstance(node, BoolNode):
                return node.value
            if isinstance(node, NumberNode):
                return self._constant(node)
            if isinstance(node, StringNode):
                return node.text
        if go_type == "bool":
            if isinstance(node, BoolNode):
                return node.value
            raise self._error(f"expected bool; found {node}")
        if go_type == "string":
            if isinstance(node, StringNode):
                return node.text
            raise self._error(f"expected string; found {node}")
        if go_type in ("int", "int64"):
            if isinstance(node, NumberNode) and node.is_int:
                return GoInt64(node.int_value) if go_type == "int64" else node.int_value
            raise self._error(f"expected integer; found {node}")
        if go_type == "float64":
            if isinstance(node, NumberNode) and node.is_float:
                return node.float_value
            raise self._error(f"expected float; found {node}")
        raise self._error(f"can't handle {node} for arg of type {go_type}")
