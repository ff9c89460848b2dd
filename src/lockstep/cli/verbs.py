"""Per-kind commands generated from the kind table, so a new kind gets every verb for free.

``reconcile``, ``suspend``, ``resume``, ``delete`` and ``export`` act on one object
of any kind in :data:`~lockstep.cli.objects.FLUX_KINDS`, spelled as ``flux``
spells it: ``kustomization`` (alias ``ks``), ``source git``, ``image policy``,
``receiver``. :func:`register_per_kind` makes the sub-groups (``source``,
``image``) and one command per kind on a verb's Typer app, from a factory that
builds the command for a kind.

Used by :mod:`lockstep.cli.reconcile`, :mod:`lockstep.cli.delete` and
:mod:`lockstep.cli.export`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Any

import typer

from lockstep.cli.objects import FluxKind

NameArgument = Annotated[str, typer.Argument(help="Name of the object.")]

GROUP_NOUNS = {"source": "a source", "image": "an image automation object"}
"""How a verb's help names the kinds of a sub-group."""

CommandFactory = Callable[[FluxKind], Callable[..., None]]


def register_per_kind(
    app: typer.Typer, verb: str, kinds: Iterable[FluxKind], factory: CommandFactory
) -> None:
    """Add ``factory(kind)`` to ``app`` for each kind, under the kind's command words."""
    groups: dict[str, typer.Typer] = {}
    for kind in kinds:
        *parents, last = kind.command.split()
        target = app
        for word in parents:
            if word not in groups:
                groups[word] = typer.Typer(
                    help=f"{verb.capitalize()} {GROUP_NOUNS.get(word, word)}.",
                    no_args_is_help=True,
                )
                target.add_typer(groups[word], name=word)
            target = groups[word]
        command = factory(kind)
        target.command(last)(command)
        for alias in kind.aliases:
            target.command(alias, hidden=True)(command)


def described(command: Callable[..., Any], summary: str, kind: FluxKind, verb: str) -> None:
    """Give a generated command its help: a summary line and an example."""
    alias = f" (alias: {', '.join(kind.aliases)})" if kind.aliases else ""
    command.__doc__ = (
        f"{summary}{alias}\n\nExample:\n\n  lockstep {verb} {kind.command} NAME -n flux-system"
    )
