"""Clocks handed to every component from app wiring.

Logic that measures durations uses ``monotonic()``; only timestamps that leave the pole use
``wall()``. A pole has no real-time clock, so wall time may jump; monotonic time never does.

``ScaledClock`` runs faster than real time by a fixed factor so that the simulator and the agent
can share one compressed timeline (an hour of traffic in minutes); ``ManualClock`` is advanced by
hand in unit tests.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class SystemClock:
    """The real clocks of the machine."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))

    @property
    def factor(self) -> float:
        """How many simulated seconds pass per real second (1 for the real clock)."""
        return 1.0


class ScaledClock:
    """Simulated time that runs ``factor`` times faster than real time.

    Both readings advance together from a fixed origin: ``wall()`` starts at ``start_wall``.
    ``sleep`` sleeps for the real time that corresponds to the simulated duration.
    """

    def __init__(self, factor: float = 1.0, start_wall: datetime | None = None) -> None:
        if factor <= 0:
            raise ValueError(f"clock factor must be positive, got {factor}")
        self._factor = factor
        self._real_origin = time.monotonic()
        self._start_wall = start_wall or datetime.now(UTC)

    @property
    def factor(self) -> float:
        return self._factor

    def monotonic(self) -> float:
        return (time.monotonic() - self._real_origin) * self._factor

    def wall(self) -> datetime:
        return self._start_wall + timedelta(seconds=self.monotonic())

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds) / self._factor)


class ManualClock:
    """A clock that only moves when told to; thread-safe."""

    def __init__(self, start_wall: datetime | None = None, start_monotonic: float = 1000.0) -> None:
        self._lock = threading.Lock()
        self._mono = start_monotonic
        self._start_mono = start_monotonic
        self._start_wall = start_wall or datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

    @property
    def factor(self) -> float:
        return 1.0

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def wall(self) -> datetime:
        with self._lock:
            return self._start_wall + timedelta(seconds=self._mono - self._start_mono)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a manual clock cannot go backwards")
        with self._lock:
            self._mono += seconds

    def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))


def wall_at(clock_wall: datetime, clock_mono: float, mono: float) -> datetime:
    """The wall time that corresponds to an earlier monotonic reading ``mono``."""
    return clock_wall - timedelta(seconds=clock_mono - mono)
