"""State shared by every sub-command: global options, consoles, the user-error type."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import typer
from rich.console import Console

from lockstep.kube import KubeClient

CLI_FIELD_MANAGER = "lockstep-cli"

console = Console(highlight=False, soft_wrap=True)
error_console = Console(stderr=True, highlight=False, soft_wrap=True)


class UserError(Exception):
    """Something the user can fix: printed as one line plus an optional hint; the
    process exits with ``code``."""

    def __init__(self, message: str, *, hint: str = "", code: int = 1) -> None:
        super().__init__(message)
        self.hint = hint
        self.code = code


@dataclass(frozen=True)
class CliState:
    """The global options, as given on the command line."""

    kubeconfig: Path | None
    context: str | None
    verbose: bool

    def kube_client(self) -> KubeClient:
        """A client whose writes are recorded under the CLI's own field manager, so that a
        ``lockstep create`` never takes fields away from what the engine applied."""
        return KubeClient.from_kubeconfig(
            self.kubeconfig, self.context, field_manager=CLI_FIELD_MANAGER
        )

    def engine_client(self) -> KubeClient:
        """A client with the engine's field manager: for ``lockstep run``, and for the
        dry-runs of ``lockstep diff``, which must see what the engine's apply would do."""
        return KubeClient.from_kubeconfig(self.kubeconfig, self.context)


def state(ctx: typer.Context) -> CliState:
    """The :class:`CliState` of the running command."""
    found = ctx.find_object(CliState)
    if found is None:
        raise RuntimeError("the lockstep command was not started through its main callback")
    return found
