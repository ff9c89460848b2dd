"""``lockstep run --log-json`` writes one JSON object per log line."""

from __future__ import annotations

import json
import logging

from lockstep.cli.run import JsonFormatter


def test_json_lines_carry_level_logger_and_message() -> None:
    record = logging.LogRecord(
        "lockstep.runtime.events",
        logging.WARNING,
        __file__,
        1,
        "%s failed: %s",
        ("GitRepository ns/app", "auth"),
        None,
    )
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "warning"
    assert entry["logger"] == "lockstep.runtime.events"
    assert entry["msg"] == "GitRepository ns/app failed: auth"
    assert "ts" in entry
