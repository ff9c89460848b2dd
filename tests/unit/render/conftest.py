"""Every render test builds for real: the process-wide build cache starts empty each time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lockstep.render.cache import BUILD_CACHE


@pytest.fixture(autouse=True)
def empty_build_cache() -> Iterator[None]:
    BUILD_CACHE.clear()
    yield
    BUILD_CACHE.clear()
