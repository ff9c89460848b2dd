"""Go's text/template with sprig's hermetic functions, in pure Python, for templates
written for Flux and Argo CD (ImageUpdateAutomation commit messages today; ApplicationSet
``goTemplate`` and Helm-style templating will use it too). A shared pure library: it
imports nothing of lockstep.

Why by hand: no maintained Python library implements Go's text/template (the one on
PyPI wraps Go through cgo), and Jinja-like engines differ in syntax and in what they
print. This package follows Go's documented behaviour and its source's observable
results: the same tokens and trimming (:mod:`.lexer`), the same parse tree and parse
errors (:mod:`.parser`, :mod:`.literals`), the same evaluation (:mod:`.executor`) on
Python stand-ins for Go values (:mod:`.values`), printed as Go's fmt prints them
(:mod:`.printer`), with the builtins (:mod:`.builtins`) and sprig's functions
(:mod:`.sprig`). A test renders the same templates with the Go engine and compares.

The caller describes its data as Go types (:class:`GoStruct` subclasses, :class:`GoMap`,
:class:`GoSlice`) and calls :func:`parse`, then :meth:`Template.execute`::

    template = parse("commit message", "{{ .Name | upper }}")
    template.execute(data)

Errors::

    ValueError
    ├── ParseError   the text is not a template (Go's message: ``template: NAME:LINE: ...``)
    └── ExecError    running it failed (``template: NAME:LINE:COL: executing ... at <...>: ...``)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lockstep.gotemplate.builtins import builtin_functions
from lockstep.gotemplate.executor import ExecError, Executor
from lockstep.gotemplate.parser import ListNode, ParseError
from lockstep.gotemplate.parser import parse as parse_templates
from lockstep.gotemplate.sprig import sprig_functions
from lockstep.gotemplate.values import Function, GoInt64, GoMap, GoSlice, GoStruct

__all__ = [
    "ExecError",
    "GoInt64",
    "GoMap",
    "GoSlice",
    "GoStruct",
    "ParseError",
    "Template",
    "parse",
]

# Functions given to a template take precedence over the builtins, as in Go: sprig's
# ``slice`` replaces the builtin one.
_FUNCTIONS: dict[str, Function] = {**builtin_functions(), **sprig_functions()}


@dataclass(frozen=True)
class Template:
    """A parsed template and the ones it defines."""

    name: str
    text: str
    templates: dict[str, ListNode]

    def execute(self, data: Any) -> str:
        """The template's output for ``data``; raises :class:`ExecError`."""
        return Executor(self.templates, self.name, self.text, _FUNCTIONS).run(self.name, data)


def parse(name: str, text: str) -> Template:
    """Parses ``text`` as the template ``name``; raises :class:`ParseError`."""
    return Template(name, text, parse_templates(name, text, _FUNCTIONS))
