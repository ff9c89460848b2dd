"""``lockstep logs``: the engine's log lines, filtered by object and level, as ``flux logs``.

Every line the engine logs while it reconciles an object names that object
(:mod:`lockstep.runtime.logcontext`): as ``controllerKind``, ``namespace`` and
``name`` in ``--log-json`` lines, and as a trailing ``[Kind/namespace/name]`` in
text lines. The lines come from the engine's Pods (``app.kubernetes.io/name=lockstep``
in ``--flux-namespace``), or with ``--file`` from the log of a ``lockstep run``
started by hand (``-`` reads standard input). Lines are printed as they are.

Registered on the ``lockstep`` command by :mod:`lockstep.cli.main`.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from lockstep.cli.components import DEFAULT_NAMESPACE, NAME
from lockstep.cli.context import UserError, console, state
from lockstep.cli.objects import USAGE_ERROR, AllNamespacesOption, namespace_or_default
from lockstep.kube import KubeClient

LEVELS = ("debug", "info", "warning", "error", "critical")
TEXT_LINE = re.compile(r"^\S+ \S+ (?P<level>[A-Z]+)\s.*?(?: \[(?P<object>[^\]]+)\])?$")


@dataclass(frozen=True)
class LogFilter:
    """Which lines to keep; ``None`` fields keep every value."""

    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    level: str | None = None

    def keeps(self, line: str) -> bool:
        fields = parse_line(line)
        if fields is None:
            return self == LogFilter()
        kind, namespace, name, level = fields
        if self.level is not None and LEVELS.index(level) < LEVELS.index(self.level):
            return False
        wanted = ((self.kind, kind), (self.namespace, namespace), (self.name, name))
        return all(want is None or want.lower() == (got or "").lower() for want, got in wanted)


def parse_line(line: str) -> tuple[str | None, str | None, str | None, str] | None:
    """``(kind, namespace, name, level)`` of a JSON or text log line; ``None`` if neither."""
    stripped = line.strip()
    if stripped.startswith("{"):
        try:
            entry = json.loads(stripped)
        except json.JSONDecodeError:
            return None
        level = str(entry.get("level", "info")).lower()
        return entry.get("controllerKind"), entry.get("namespace"), entry.get("name"), _level(level)
    match = TEXT_LINE.match(stripped)
    if match is None:
        return None
    about = match.group("object")
    kind = namespace = name = None
    if about:
        parts = about.split("/")
        kind, name = parts[0], parts[-1]
        namespace = parts[1] if len(parts) == 3 else None
    return kind, namespace, name, _level(match.group("level").lower())


def _level(level: str) -> str:
    return level if level in LEVELS else ("warning" if level == "warn" else "info")


def filtered(lines: Iterable[str], keep: LogFilter, tail: int | None) -> list[str]:
    kept = [line.rstrip("\n") for line in lines if line.strip() and keep.keeps(line)]
    return kept[-tail:] if tail is not None else kept


def logs(
    ctx: typer.Context,
    kind: Annotated[
        str | None, typer.Option("--kind", help="Only lines about objects of this kind.")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Only lines about this object.")
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option(
            "--namespace", "-n", help="Namespace of the objects; the context's when omitted."
        ),
    ] = None,
    all_namespaces: AllNamespacesOption = False,
    level: Annotated[
        str | None, typer.Option("--level", help="Lowest level shown: debug, info, warning, error.")
    ] = None,
    tail: Annotated[
        int | None, typer.Option("--tail", help="Only the last N matching lines.")
    ] = None,
    file: Annotated[
        str | None,
        typer.Option("--file", help="Read a log of lockstep run from this file (- for stdin)."),
    ] = None,
    flux_namespace: Annotated[
        str, typer.Option("--flux-namespace", help="Namespace of the engine's Pods.")
    ] = DEFAULT_NAMESPACE,
) -> None:
    """Print the engine's log lines about one object, one kind, or everything.

    Examples:

      lockstep logs --kind Kustomization --name apps -n flux-system --level error

      lockstep logs --file /var/log/lockstep.log -A --tail 50
    """
    if level is not None and _level(level.lower()) != level.lower():
        raise UserError(
            f"unknown level {level}", hint=f"use one of {', '.join(LEVELS)}", code=USAGE_ERROR
        )
    cli = state(ctx)
    where = None if all_namespaces else namespace_or_default(cli, namespace)
    keep = LogFilter(kind, name, where, level.lower() if level else None)
    if file is not None:
        lines: Iterable[str] = _file_lines(file)
    else:
        lines = asyncio.run(_pod_lines(cli.kube_client(), flux_namespace))
    for line in filtered(lines, keep, tail):
        console.out(line, highlight=False)


def _file_lines(file: str) -> Iterator[str]:
    if file == "-":
        yield from sys.stdin
        return
    try:
        with Path(file).open(encoding="utf-8", errors="replace") as lines:
            yield from lines
    except OSError as error:
        raise UserError(
            f"cannot read the log file {file}: {error.strerror}",
            hint="give the path of the file lockstep run logs to",
            code=USAGE_ERROR,
        ) from error


async def _pod_lines(kube: KubeClient, namespace: str) -> list[str]:
    async with kube:
        pods = await kube.list(
            "v1", "Pod", namespace=namespace, labels={"app.kubernetes.io/name": NAME}
        )
        if not pods:
            raise UserError(
                f"no lockstep engine Pod in namespace {namespace}",
                hint="is lockstep installed there? For a lockstep run started by hand, use --file",
            )
        lines: list[str] = []
        for pod in pods:
            text = await kube.pod_log(namespace, str(pod["metadata"]["name"]), container=NAME)
            lines.extend(text.splitlines())
    return lines
