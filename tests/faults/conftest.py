"""Fixtures of the fault-injection suite (tests/faults, docs/reliability.md)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

Repetitions = Callable[[int, int], int]


@pytest.fixture
def repetitions(request: pytest.FixtureRequest) -> Repetitions:
    """``repetitions(default, long)``: how many times to repeat a fault; the long count with
    ``--long-faults`` (tests/conftest.py), the default one otherwise (the suite's time budget)."""
    long_run = bool(request.config.getoption("--long-faults"))

    def count(default: int, long: int) -> int:
        return long if long_run else default

    return count
