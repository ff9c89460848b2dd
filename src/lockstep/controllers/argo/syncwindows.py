"""The sync windows of an AppProject: which windows apply to an Application, which are active
at a given instant, and whether an automated or a manual sync may start then.

Pure: the AppProject comes in as the API server's dict and the instant as an argument. Caller:
the Application reconciler of this package, before it starts a sync operation; it reads the
project's other rules through `project.py` beside this module.

The rules are Argo CD 3.x's (`SyncWindows.Matches`, `Active`, `CanSync`):

- A window applies to an Application when one of its `applications`, `namespaces` (the
  destination's) or `clusters` (the destination's name or server) globs matches; with
  `andOperator: true`, when every one of those lists that is set matches.
- A window is active from its cron start for `duration`, both ends excluded as in Argo CD
  (its scheduler returns the next start strictly after an instant); the schedule is read in
  `timeZone` (UTC when unset).
- An active deny window blocks every sync; a manual sync passes only when every active deny
  window has `manualSync`. Deny wins over allow.
- Otherwise an active allow window lets every sync through; when allow windows apply but none
  is active, syncs are blocked, a manual one passing only when every one of them has
  `manualSync`. No applicable window: every sync may start.

Schedules are Argo CD's five fields (robfig/cron without descriptors: `@daily` is refused) and
are evaluated with croniter, a well-kept library, rather than a hand-written cron parser;
durations are Go durations (`1h30m`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter  # type: ignore[import-untyped]

from lockstep.controllers.argo.project import Destination, InvalidProjectError, glob_match


def _next_start(schedule: str, after: datetime) -> datetime:
    """The first start of `schedule` strictly after `after`, in `after`'s time zone."""
    start: datetime = croniter(schedule, after).get_next(datetime)
    return start


_NAMES = re.compile(r"JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC|SUN|MON|TUE|WED|THU|FRI|SAT")


def _check_schedule(schedule: str) -> str | None:
    """What is wrong with a schedule for Argo CD's parser, or None."""
    fields = schedule.split()
    if schedule.startswith("@"):
        return "descriptors such as @daily are not accepted; use five cron fields"
    if len(fields) != 5:
        return f"expected five cron fields (minute hour day-of-month month day-of-week), got {len(fields)}"
    if re.search(r"[A-Z#]", _NAMES.sub("", schedule.upper())):
        return "only numbers, month and weekday names, and * ? , - / are accepted"
    if re.search(r"(?<![/\d])([7-9]|\d{2,})", fields[4]):
        return "day of week must be 0-6 (0 is Sunday)"
    try:
        croniter(schedule)
    except (ValueError, KeyError) as error:
        return str(error)
    return None


_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_go_duration(text: str) -> timedelta:
    """A Go duration (`90s`, `1h30m`, `1.5h`, `0`); ValueError when malformed or negative."""
    if text == "0":
        return timedelta(0)
    body = text.removeprefix("+")
    if body.startswith("-"):
        raise ValueError(f"duration '{text}' is negative")
    seconds = 0.0
    position = 0
    for part in _DURATION_PART.finditer(body):
        if part.start() != position:
            break
        seconds += float(part.group(1)) * _DURATION_UNITS[part.group(2)]
        position = part.end()
    if not body or position != len(body):
        raise ValueError(f"invalid duration '{text}': expected a Go duration such as 1h or 30m")
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class SyncWindow:
    """One entry of `spec.syncWindows`, checked."""

    kind: str
    schedule: str
    duration: timedelta
    duration_text: str
    applications: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    clusters: tuple[str, ...] = ()
    manual_sync: bool = False
    time_zone: str = "UTC"
    and_operator: bool = False

    @property
    def label(self) -> str:
        """How Argo CD's CLI names a window: `kind:schedule:duration`."""
        return f"{self.kind}:{self.schedule}:{self.duration_text}"

    @property
    def zone(self) -> tzinfo:
        return ZoneInfo(self.time_zone)

    def applies_to(self, app_name: str, destination: Destination) -> bool:
        """Whether the window's applications, namespaces or clusters select the Application."""
        selections = [
            (self.applications, lambda p: glob_match(p, app_name)),
            (self.namespaces, lambda p: glob_match(p, destination.namespace)),
            (
                self.clusters,
                lambda p: (
                    (bool(destination.name) and glob_match(p, destination.name))
                    or (bool(destination.server) and glob_match(p, destination.server))
                ),
            ),
        ]
        matched = [any(map(test, patterns)) for patterns, test in selections if patterns]
        if self.and_operator:
            return bool(matched) and all(matched)
        return any(matched)

    def current_start(self, at: datetime) -> datetime | None:
        """The start of the run of this window that is active at `at`, or None."""
        local = at.astimezone(self.zone)
        start = _next_start(self.schedule, local - self.duration)
        return start if start < local else None

    def is_active(self, at: datetime) -> bool:
        return self.current_start(at) is not None


def parse_sync_windows(obj: Mapping[str, Any]) -> tuple[SyncWindow, ...]:
    """Read and check `spec.syncWindows` of an AppProject given as the API server's dict;
    InvalidProjectError names the project and the window when one cannot be used."""
    project = str(obj.get("metadata", {}).get("name", ""))
    entries = (obj.get("spec") or {}).get("syncWindows") or []
    return tuple(_parse_window(project, index, entry) for index, entry in enumerate(entries))


def _parse_window(project: str, index: int, entry: Mapping[str, Any]) -> SyncWindow:
    kind = str(entry.get("kind") or "")
    schedule = str(entry.get("schedule") or "")
    duration = str(entry.get("duration") or "")
    where = f"AppProject '{project}' sync window {index} ({kind}:{schedule}:{duration})"
    if kind not in ("allow", "deny"):
        raise InvalidProjectError(f"{where}: kind must be allow or deny")
    problem = _check_schedule(schedule)
    if problem:
        raise InvalidProjectError(f"{where}: cannot parse schedule '{schedule}': {problem}")
    try:
        length = parse_go_duration(duration)
    except ValueError as error:
        raise InvalidProjectError(f"{where}: {error}") from None
    time_zone = str(entry.get("timeZone") or "UTC")
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidProjectError(
            f"{where}: unknown time zone '{time_zone}'; use an IANA name such as Europe/Paris"
        ) from None
    return SyncWindow(
        kind=kind,
        schedule=schedule,
        duration=length,
        duration_text=duration,
        applications=_patterns(where, entry, "applications"),
        namespaces=_patterns(where, entry, "namespaces"),
        clusters=_patterns(where, entry, "clusters"),
        manual_sync=bool(entry.get("manualSync")),
        time_zone=time_zone,
        and_operator=bool(entry.get("andOperator")),
    )


def _patterns(where: str, entry: Mapping[str, Any], field: str) -> tuple[str, ...]:
    value = entry.get(field) or []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidProjectError(f"{where}: {field} must be a list of strings")
    return tuple(value)


def matching_windows(
    windows: Iterable[SyncWindow], app_name: str, destination: Destination
) -> tuple[SyncWindow, ...]:
    """The windows that apply to an Application."""
    return tuple(w for w in windows if w.applies_to(app_name, destination))


def active_windows(windows: Iterable[SyncWindow], at: datetime) -> tuple[SyncWindow, ...]:
    """The windows active at `at` (an aware datetime)."""
    return tuple(w for w in windows if w.is_active(at))


def _blocking(windows: Sequence[SyncWindow], at: datetime, manual: bool) -> list[SyncWindow]:
    """The windows that block a sync at `at`; empty when the sync may start."""
    active = active_windows(windows, at)
    denies = [w for w in active if w.kind == "deny"]
    if denies:
        return [] if manual and all(w.manual_sync for w in denies) else denies
    if any(w.kind == "allow" for w in active):
        return []
    allows = [w for w in windows if w.kind == "allow"]
    if allows and not (manual and all(w.manual_sync for w in allows)):
        return allows
    return []


@dataclass(frozen=True)
class SyncPermission:
    """Whether a sync may start now; when not, a one-line message and, if cheaply known, when
    the block ends."""

    allowed: bool
    message: str = ""
    blocked_until: datetime | None = None


def can_sync(
    windows: Sequence[SyncWindow],
    *,
    project: str,
    app_name: str,
    destination: Destination,
    at: datetime,
    manual: bool,
) -> SyncPermission:
    """Whether a manual or automated sync of the Application may start at `at`."""
    if at.tzinfo is None:
        raise ValueError("can_sync needs an aware datetime")
    applicable = matching_windows(windows, app_name, destination)
    blocking = _blocking(applicable, at, manual)
    if not blocking:
        return SyncPermission(allowed=True)
    until = _block_end(applicable, at, manual)
    names = ", ".join(f"'{w.label}'" for w in blocking)
    reason = (
        f"active deny window {names}"
        if blocking[0].kind == "deny"
        else f"allow window {names} not active"
    )
    sync = "manual sync" if manual else "automated sync"
    message = f"{sync} of application '{app_name}' blocked by {reason} of project '{project}'"
    if until is not None:
        message += f" until {until.isoformat()}"
    message += (
        "; set manualSync on the window to let manual syncs through"
        if manual
        else "; the sync starts once the windows allow it"
    )
    return SyncPermission(allowed=False, message=message, blocked_until=until)


_BLOCK_END_STEPS = 32


def _block_end(windows: Sequence[SyncWindow], at: datetime, manual: bool) -> datetime | None:
    """The first instant after `at` from which a sync may start, looked for among the ends and
    starts of the windows, one after the other; None when the block outlasts a few dozen of
    them (such as a window that restarts every minute)."""
    candidates = sorted(_changes(windows, at))
    for _ in range(_BLOCK_END_STEPS):
        if not candidates:
            return None
        candidate = candidates.pop(0)
        if not _blocking(windows, candidate + timedelta(seconds=1), manual):
            return candidate.astimezone(at.tzinfo)
        candidates = sorted(set(candidates) | _changes(windows, candidate + timedelta(seconds=1)))
    return None


def _changes(windows: Sequence[SyncWindow], at: datetime) -> set[datetime]:
    """The ends of the windows active at `at` and the next start of every window."""
    changes: set[datetime] = set()
    for window in windows:
        start = window.current_start(at)
        if start is not None:
            changes.add(start + window.duration)
        changes.add(_next_start(window.schedule, at.astimezone(window.zone)))
    return changes
