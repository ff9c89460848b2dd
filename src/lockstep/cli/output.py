"""How the reading commands print objects: status rows, ages, tables, JSON and YAML.

A :class:`StatusRow` is the summary ``lockstep get`` shows of one Flux object
(name, revision, suspended, ready, message, age); it prints as a Rich table for
people or as data (``-o json|yaml``) for scripts, where ``created`` replaces the
relative age. Receivers and the image automation kinds show, in place of the
revision, the column ``flux get`` shows for them: the webhook URL, the last
scan, the latest image or the last run. Everything here is pure, so it is
unit-tested without a cluster.

Used by :mod:`lockstep.cli.get` and :mod:`lockstep.cli.events`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from lockstep.cli.context import console
from lockstep.cli.objects import condition, is_suspended, name_of, namespace_of

DEFAULT_WEBHOOK_BASE_URL = "http://127.0.0.1:9292"
NOT_RECONCILED = "waiting to be reconciled"
_piped = Console(width=10_000, highlight=False)
"""Writes to stdout when it is not a terminal: wide enough that no row wraps."""


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    YAML = "yaml"


OutputOption = Annotated[
    OutputFormat,
    typer.Option(
        "--output", "-o", help="table for people; json or yaml for scripts.", case_sensitive=False
    ),
]


@dataclass(frozen=True)
class StatusRow:
    """What ``lockstep get`` shows of one object."""

    kind: str
    namespace: str
    name: str
    revision: str
    """The applied revision (Kustomization), the released chart version (HelmRelease) or the
    artifact revision (source); empty for receivers."""
    suspended: bool
    ready: str
    """``True``, ``False`` or ``Unknown``."""
    message: str
    created: str
    """``metadata.creationTimestamp`` as the API server wrote it."""
    webhook_url: str | None = None
    """Receivers only: where the webhook is served."""
    last_scan: str | None = None
    """ImageRepositories only: when the last scan ran, as the API server wrote it."""
    latest_image: str | None = None
    """ImagePolicies only: the elected image as ``name:tag``."""
    last_run: str | None = None
    """ImageUpdateAutomations only: when the automation last ran, as the API server wrote it."""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.namespace, self.name)

    @property
    def shows_suspended(self) -> bool:
        """Whether tables show the SUSPENDED column: not for ImagePolicies, as ``flux get``."""
        return self.kind != "ImagePolicy"

    def kind_column(self) -> tuple[str, str]:
        """The column that differs by kind, as ``(header, value)``: ``REVISION`` for sources
        and Kustomizations, and what ``flux get`` shows in its place for the other kinds."""
        for header, value in (
            ("WEBHOOK", self.webhook_url),
            ("LAST SCAN", self.last_scan),
            ("LATEST IMAGE", self.latest_image),
            ("LAST RUN", self.last_run),
        ):
            if value is not None:
                return header, value
        return "REVISION", self.revision

    def data(self) -> dict[str, Any]:
        """The row as JSON-ready data, without fields that do not apply to its kind."""
        return {key: value for key, value in asdict(self).items() if value is not None}


def status_row(obj: Mapping[str, Any], *, webhook_base_url: str) -> StatusRow:
    """Summarise one source, Kustomization, HelmRelease, Receiver or image automation object."""
    kind = str(obj.get("kind", ""))
    status = obj.get("status") or {}
    ready = condition(obj, "Ready")
    webhook_url = None
    if kind == "Receiver":
        path = status.get("webhookPath")
        webhook_url = f"{webhook_base_url.rstrip('/')}{path}" if path else ""
    return StatusRow(
        kind=kind,
        namespace=namespace_of(obj),
        name=name_of(obj),
        revision=_revision(kind, status),
        suspended=is_suspended(obj),
        ready=str(ready.get("status", "Unknown")) if ready else "Unknown",
        message=str(ready.get("message", "")) if ready else NOT_RECONCILED,
        created=str((obj.get("metadata") or {}).get("creationTimestamp") or ""),
        webhook_url=webhook_url,
        last_scan=(
            str((status.get("lastScanResult") or {}).get("scanTime") or "")
            if kind == "ImageRepository"
            else None
        ),
        latest_image=latest_image(status) if kind == "ImagePolicy" else None,
        last_run=(
            str(status.get("lastAutomationRunTime") or "")
            if kind == "ImageUpdateAutomation"
            else None
        ),
    )


def latest_image(status: Mapping[str, Any]) -> str:
    """The image an ImagePolicy elected, ``name:tag``: from ``latestRef`` (v1), else from
    ``latestImage``, which is all a controller of the v1beta2 API writes."""
    ref = status.get("latestRef") or {}
    if ref.get("name") and ref.get("tag"):
        return f"{ref['name']}:{ref['tag']}"
    return str(status.get("latestImage") or "")


def _revision(kind: str, status: Mapping[str, Any]) -> str:
    if kind == "Kustomization":
        return str(status.get("lastAppliedRevision") or "")
    if kind == "HelmRelease":
        return helm_release_revision(status)
    return str((status.get("artifact") or {}).get("revision") or "")


def helm_release_revision(status: Mapping[str, Any]) -> str:
    """The chart version a HelmRelease released, as ``flux get helmreleases`` shows it: that
    of its newest history snapshot, else the chart revision it last attempted."""
    history = status.get("history") or []
    if history:
        return str(history[0].get("chartVersion") or "")
    return str(status.get("lastAttemptedRevision") or "")


def parse_timestamp(value: str) -> datetime | None:
    """A Kubernetes timestamp (RFC 3339) as an aware datetime; ``None`` when empty or malformed."""
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def age(since: datetime | None, now: datetime) -> str:
    """How long ago, as short as kubectl's AGE column: ``45s``, ``3m20s``, ``5h``, ``12d``.

    Precision drops as the age grows: a second-accurate age of a month-old
    object is noise, while for a fresh one it tells whether a change just landed.
    """
    if since is None:
        return "<unknown>"
    seconds = max(0, int((now - since).total_seconds()))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        return _two_units(minutes, "m", seconds % 60, "s")
    if hours < 3:
        return f"{minutes}m"
    if hours < 8:
        return _two_units(hours, "h", minutes % 60, "m")
    if hours < 48:
        return f"{hours}h"
    if days < 8:
        return _two_units(days, "d", hours % 24, "h")
    if days < 730:
        return f"{days}d"
    return _two_units(days // 365, "y", days % 365, "d")


def _two_units(major: int, major_unit: str, minor: int, minor_unit: str) -> str:
    return f"{major}{major_unit}{minor}{minor_unit}" if minor else f"{major}{major_unit}"


_READY_STYLES = {"True": "green", "False": "red"}


def status_table(
    rows: Sequence[StatusRow],
    *,
    now: datetime,
    all_namespaces: bool,
    kind_prefix: bool = False,
    header: bool = True,
) -> Table:
    """The rows, all of one kind, as ``lockstep get`` prints them; ``kind_prefix`` names rows
    ``kustomization/apps`` for tables that stand next to other kinds' (``get all``)."""
    kind_header = rows[0].kind_column()[0] if rows else "REVISION"
    show_suspended = not rows or rows[0].shows_suspended
    table = Table(box=None, pad_edge=False, show_header=header, header_style="bold")
    if all_namespaces:
        table.add_column("NAMESPACE", no_wrap=True)
    table.add_column("NAME", no_wrap=True)
    table.add_column(kind_header, no_wrap=True)
    if show_suspended:
        table.add_column("SUSPENDED", no_wrap=True)
    table.add_column("READY", no_wrap=True)
    table.add_column("MESSAGE", overflow="fold")
    table.add_column("AGE", no_wrap=True)
    for row in rows:
        name = f"{row.kind.lower()}/{row.name}" if kind_prefix else row.name
        cells = [Text(name), Text(row.kind_column()[1])]
        if show_suspended:
            cells.append(Text(str(row.suspended), style="yellow" if row.suspended else ""))
        cells += [
            Text(row.ready, style=_READY_STYLES.get(row.ready, "yellow")),
            Text(row.message),
            Text(age(parse_timestamp(row.created), now)),
        ]
        table.add_row(*([Text(row.namespace), *cells] if all_namespaces else cells))
    return table


def print_table(renderable: RenderableType) -> None:
    """Print at the terminal's width; when piped, unwrapped and without the padding at the
    ends of lines, so that each row stays one line for grep and cut."""
    if console.is_terminal:
        console.print(renderable)
        return
    with _piped.capture() as captured:
        _piped.print(renderable)
    typer.echo("\n".join(line.rstrip() for line in captured.get().splitlines()))


def data_text(data: Any, output: OutputFormat) -> str:
    """``data`` as indented JSON or block YAML, ending with a newline."""
    if output == OutputFormat.JSON:
        return json.dumps(data, indent=2) + "\n"
    return yaml.safe_dump(data, sort_keys=False)
