"""Sync windows: which windows apply to an Application, when they are active, and whether an
automated or a manual sync may start at a chosen instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from lockstep.controllers.argo.project import Destination, InvalidProjectError
from lockstep.controllers.argo.syncwindows import (
    SyncWindow,
    active_windows,
    can_sync,
    matching_windows,
    parse_go_duration,
    parse_sync_windows,
)

IN_CLUSTER = "https://kubernetes.default.svc"
WEB = Destination(server=IN_CLUSTER, name="in-cluster", namespace="shop")

# Monday 7 December 2026, UTC.
MONDAY = datetime(2026, 12, 7, tzinfo=UTC)


def _at(hour: int, minute: int = 0, second: int = 0, day: datetime = MONDAY) -> datetime:
    return day.replace(hour=hour, minute=minute, second=second)


def _windows(*entries: dict[str, Any], project: str = "shop") -> tuple[SyncWindow, ...]:
    return parse_sync_windows(
        {"metadata": {"name": project}, "spec": {"syncWindows": list(entries)}}
    )


def _window(kind: str, schedule: str, duration: str, **others: Any) -> dict[str, Any]:
    return {"kind": kind, "schedule": schedule, "duration": duration, **others}


def _can_sync(
    windows: tuple[SyncWindow, ...],
    at: datetime,
    *,
    manual: bool = False,
    app_name: str = "web",
    destination: Destination = WEB,
) -> bool:
    return can_sync(
        windows, project="shop", app_name=app_name, destination=destination, at=at, manual=manual
    ).allowed


BUSINESS_HOURS = _window("allow", "0 9 * * 1-5", "8h", applications=["*"])
NIGHTLY_FREEZE = _window("deny", "0 22 * * *", "1h", namespaces=["shop"])


# --- parsing --------------------------------------------------------------------------------


def test_a_window_is_read_with_its_defaults() -> None:
    (window,) = _windows(BUSINESS_HOURS)

    assert window.kind == "allow"
    assert window.duration == timedelta(hours=8)
    assert window.time_zone == "UTC"
    assert window.manual_sync is False
    assert window.label == "allow:0 9 * * 1-5:8h"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            _window("pause", "0 9 * * *", "1h", applications=["*"]),
            "AppProject 'shop' sync window 0 (pause:0 9 * * *:1h): kind must be allow or deny",
        ),
        (
            _window("deny", "@daily", "1h", applications=["*"]),
            "AppProject 'shop' sync window 0 (deny:@daily:1h): cannot parse schedule '@daily': "
            "descriptors such as @daily are not accepted; use five cron fields",
        ),
        (
            _window("deny", "0 0 9 * * *", "1h", applications=["*"]),
            "AppProject 'shop' sync window 0 (deny:0 0 9 * * *:1h): cannot parse schedule "
            "'0 0 9 * * *': expected five cron fields (minute hour day-of-month month "
            "day-of-week), got 6",
        ),
        (
            _window("deny", "0 25 * * *", "1h", applications=["*"]),
            "AppProject 'shop' sync window 0 (deny:0 25 * * *:1h): cannot parse schedule "
            "'0 25 * * *': [0 25 * * *] is not acceptable, out of range",
        ),
        (
            _window("deny", "0 9 * * 7", "1h", applications=["*"]),
            "AppProject 'shop' sync window 0 (deny:0 9 * * 7:1h): cannot parse schedule "
            "'0 9 * * 7': day of week must be 0-6 (0 is Sunday)",
        ),
        (
            _window("deny", "0 9 L * *", "1h", applications=["*"]),
            "AppProject 'shop' sync window 0 (deny:0 9 L * *:1h): cannot parse schedule "
            "'0 9 L * *': only numbers, month and weekday names, and * ? , - / are accepted",
        ),
        (
            _window("deny", "0 9 * * *", "1 day", applications=["*"]),
            "AppProject 'shop' sync window 0 (deny:0 9 * * *:1 day): invalid duration '1 day': "
            "expected a Go duration such as 1h or 30m",
        ),
        (
            _window("deny", "0 9 * * *", "-1h", applications=["*"]),
            "AppProject 'shop' sync window 0 (deny:0 9 * * *:-1h): duration '-1h' is negative",
        ),
        (
            _window("deny", "0 9 * * *", "1h", applications="web"),
            "AppProject 'shop' sync window 0 (deny:0 9 * * *:1h): applications must be a list "
            "of strings",
        ),
        (
            _window("deny", "0 9 * * *", "1h", applications=["*"], timeZone="Mars/Olympus"),
            "AppProject 'shop' sync window 0 (deny:0 9 * * *:1h): unknown time zone "
            "'Mars/Olympus'; use an IANA name such as Europe/Paris",
        ),
    ],
)
def test_an_unusable_window_is_reported_in_one_line(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidProjectError) as raised:
        _windows(entry)

    assert str(raised.value) == message


def test_the_error_names_the_position_of_the_bad_window() -> None:
    with pytest.raises(InvalidProjectError, match=r"sync window 1 \(deny:0 22 \* \* \*:1x\)"):
        _windows(BUSINESS_HOURS, _window("deny", "0 22 * * *", "1x", applications=["*"]))


def test_month_and_weekday_names_are_accepted() -> None:
    (window,) = _windows(_window("deny", "0 9 * DEC MON-FRI", "1h", applications=["*"]))

    assert window.is_active(_at(9, 30))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", timedelta(0)),
        ("90s", timedelta(seconds=90)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1.5h", timedelta(hours=1, minutes=30)),
        ("250ms", timedelta(milliseconds=250)),
    ],
)
def test_go_durations(text: str, expected: timedelta) -> None:
    assert parse_go_duration(text) == expected


@pytest.mark.parametrize("text", ["", "1", "h", "1d", "1h 30m"])
def test_malformed_go_durations(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_go_duration(text)


# --- which windows apply --------------------------------------------------------------------


def test_windows_select_applications_namespaces_and_clusters_by_glob() -> None:
    by_app = _window("deny", "0 22 * * *", "1h", applications=["web-*"])
    by_namespace = _window("deny", "0 23 * * *", "1h", namespaces=["shop"])
    by_name = _window("deny", "0 1 * * *", "1h", clusters=["in-*"])
    by_server = _window("deny", "0 2 * * *", "1h", clusters=[IN_CLUSTER])
    elsewhere = _window("deny", "0 3 * * *", "1h", clusters=["prod"], namespaces=["billing"])
    windows = _windows(by_app, by_namespace, by_name, by_server, elsewhere)

    assert [w.schedule for w in matching_windows(windows, "web", WEB)] == [
        "0 23 * * *",
        "0 1 * * *",
        "0 2 * * *",
    ]
    assert matching_windows(windows, "web-eu", WEB)[0].schedule == "0 22 * * *"


def test_selectors_are_ored_unless_the_and_operator_is_set() -> None:
    either = _window("deny", "0 22 * * *", "1h", applications=["web"], namespaces=["billing"])
    both = {**either, "andOperator": True}
    app_and_namespace = {**both, "namespaces": ["shop"]}

    assert matching_windows(_windows(either), "web", WEB)
    assert not matching_windows(_windows(both), "web", WEB)
    assert matching_windows(_windows(app_and_namespace), "web", WEB)


def test_a_window_selecting_nothing_applies_to_no_application() -> None:
    assert not matching_windows(_windows(_window("deny", "0 22 * * *", "1h")), "web", WEB)


# --- when windows are active ----------------------------------------------------------------


def test_an_allow_window_is_active_between_its_start_and_end_both_excluded() -> None:
    windows = _windows(BUSINESS_HOURS)

    assert not active_windows(windows, _at(8, 59))
    assert not active_windows(windows, _at(9, 0))
    assert active_windows(windows, _at(9, 0, 1))
    assert active_windows(windows, _at(16, 59, 59))
    assert not active_windows(windows, _at(17, 0))
    assert not active_windows(windows, _at(12, day=MONDAY + timedelta(days=5)))


def test_a_window_spanning_midnight_is_active_the_next_day() -> None:
    windows = _windows(_window("deny", "0 23 * * *", "3h", applications=["*"]))

    assert active_windows(windows, _at(1, 30))
    assert not active_windows(windows, _at(2, 30))


def test_the_schedule_is_read_in_the_windows_time_zone() -> None:
    amsterdam = _window("deny", "0 22 * * *", "1h", applications=["*"], timeZone="Europe/Amsterdam")
    windows = _windows(amsterdam)

    # Winter: 22:00 in Amsterdam is 21:00 UTC.
    assert active_windows(windows, _at(21, 30))
    assert not active_windows(windows, _at(22, 30))
    # Summer: 22:00 in Amsterdam is 20:00 UTC.
    july = datetime(2026, 7, 6, tzinfo=UTC)
    assert active_windows(windows, _at(20, 30, day=july))
    assert not active_windows(windows, _at(21, 30, day=july))


def test_an_instant_in_another_zone_is_the_same_instant() -> None:
    windows = _windows(BUSINESS_HOURS)
    tokyo = _at(10).astimezone(ZoneInfo("Asia/Tokyo"))

    assert active_windows(windows, tokyo)


# --- whether a sync may start ---------------------------------------------------------------


def test_without_windows_every_sync_may_start() -> None:
    assert _can_sync((), _at(3))
    assert _can_sync((), _at(3), manual=True)


def test_an_allow_window_permits_syncs_only_while_active() -> None:
    windows = _windows(BUSINESS_HOURS)

    assert _can_sync(windows, _at(10))
    assert not _can_sync(windows, _at(20))
    assert not _can_sync(windows, _at(20), manual=True)


def test_manual_sync_on_the_allow_windows_lets_manual_syncs_through_outside_them() -> None:
    windows = _windows({**BUSINESS_HOURS, "manualSync": True})

    assert _can_sync(windows, _at(20), manual=True)
    assert not _can_sync(windows, _at(20))


def test_an_allow_window_without_manual_sync_keeps_manual_syncs_out() -> None:
    windows = _windows(
        {**BUSINESS_HOURS, "manualSync": True},
        _window("allow", "0 12 * * 6", "2h", applications=["web"]),
    )

    assert not _can_sync(windows, _at(20), manual=True)


def test_an_active_deny_window_blocks_every_sync() -> None:
    windows = _windows(NIGHTLY_FREEZE)

    assert _can_sync(windows, _at(21, 30))
    assert not _can_sync(windows, _at(22, 30))
    assert not _can_sync(windows, _at(22, 30), manual=True)


def test_manual_sync_on_a_deny_window_lets_only_manual_syncs_through() -> None:
    windows = _windows({**NIGHTLY_FREEZE, "manualSync": True})

    assert _can_sync(windows, _at(22, 30), manual=True)
    assert not _can_sync(windows, _at(22, 30))


def test_every_active_deny_window_must_allow_manual_syncs() -> None:
    windows = _windows(
        {**NIGHTLY_FREEZE, "manualSync": True},
        _window("deny", "30 21 * * *", "2h", applications=["web"]),
    )

    assert not _can_sync(windows, _at(22, 30), manual=True)


def test_deny_wins_over_an_overlapping_active_allow_window() -> None:
    windows = _windows(_window("allow", "0 20 * * *", "4h", applications=["*"]), NIGHTLY_FREEZE)

    assert _can_sync(windows, _at(21))
    assert not _can_sync(windows, _at(22, 30))
    assert _can_sync(windows, _at(23, 30))


def test_a_manual_deny_window_lets_manual_syncs_through_even_outside_allow_windows() -> None:
    windows = _windows(BUSINESS_HOURS, {**NIGHTLY_FREEZE, "manualSync": True})

    assert _can_sync(windows, _at(22, 30), manual=True)


def test_windows_for_other_applications_do_not_block() -> None:
    windows = _windows(_window("deny", "0 0 * * *", "24h", applications=["billing-*"]))

    assert _can_sync(windows, _at(12))
    assert not _can_sync(windows, _at(12), app_name="billing-api")


# --- what the caller is told ----------------------------------------------------------------


def test_a_deny_window_names_itself_and_when_it_ends() -> None:
    permission = can_sync(
        _windows(NIGHTLY_FREEZE),
        project="shop",
        app_name="web",
        destination=WEB,
        at=_at(22, 30),
        manual=False,
    )

    assert permission.blocked_until == _at(23)
    assert permission.message == (
        "automated sync of application 'web' blocked by active deny window "
        "'deny:0 22 * * *:1h' of project 'shop' until 2026-12-07T23:00:00+00:00; "
        "the sync starts once the windows allow it"
    )


def test_an_inactive_allow_window_says_when_it_next_opens_in_the_callers_zone() -> None:
    at = _at(20).astimezone(ZoneInfo("Europe/Paris"))
    permission = can_sync(
        _windows(BUSINESS_HOURS),
        project="shop",
        app_name="web",
        destination=WEB,
        at=at,
        manual=True,
    )

    assert not permission.allowed
    assert permission.blocked_until == _at(9, day=MONDAY + timedelta(days=1))
    assert permission.blocked_until is not None
    assert permission.blocked_until.utcoffset() == timedelta(hours=1)
    assert permission.message.startswith(
        "manual sync of application 'web' blocked by allow window 'allow:0 9 * * 1-5:8h' "
        "not active of project 'shop' until 2026-12-08T10:00:00+01:00"
    )
    assert permission.message.endswith("set manualSync on the window to let manual syncs through")


def test_a_block_that_runs_into_the_next_window_ends_after_both() -> None:
    windows = _windows(NIGHTLY_FREEZE, _window("deny", "0 23 * * *", "2h", applications=["web"]))
    permission = can_sync(
        windows, project="shop", app_name="web", destination=WEB, at=_at(22, 30), manual=False
    )

    assert permission.blocked_until == _at(1, day=MONDAY + timedelta(days=1))


def test_a_window_that_restarts_before_it_ends_has_no_known_end() -> None:
    windows = _windows(_window("deny", "* * * * *", "1h", applications=["*"]))
    permission = can_sync(
        windows, project="shop", app_name="web", destination=WEB, at=_at(12), manual=False
    )

    assert not permission.allowed
    assert permission.blocked_until is None
    assert " until " not in permission.message


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        can_sync(
            (),
            project="shop",
            app_name="web",
            destination=WEB,
            at=datetime(2026, 12, 7),
            manual=False,
        )
