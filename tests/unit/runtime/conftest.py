"""Fixtures of the runtime tests: fake time."""

from __future__ import annotations

import pytest

from .fake_clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
