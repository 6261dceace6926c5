"""The small interfaces between the agent's stages, by role.

Each port is what the pure core needs from the world; drivers at the edges implement them and
tests drive fakes that record what happened. Keep each one to a handful of methods.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    """Time, handed in from app wiring.

    ``monotonic`` never goes backwards and is what durations are measured on; ``wall`` is an
    aware UTC datetime used only for timestamps that leave the pole; ``sleep`` waits for a
    duration on this clock's own timeline.
    """

    def monotonic(self) -> float: ...

    def wall(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...

    @property
    def factor(self) -> float: ...


class BeaconOutput(Protocol):
    """The flashing warning beacons.

    ``activate`` must light the beacons before it returns (it is on the warning path) and keep
    them flashing until ``deactivate``; both are idempotent. ``close`` leaves the pins off.
    """

    def activate(self) -> None: ...

    def deactivate(self) -> None: ...

    @property
    def active(self) -> bool: ...

    def close(self) -> None: ...


class Publisher(Protocol):
    """Delivers telemetry messages to the city.

    ``publish`` never blocks on the network: it hands the message to a queue that delivers it
    at least once when a link exists. ``link_state`` is a short human word ("connected",
    "connecting", "disabled", ...) for status displays.
    """

    def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> None: ...

    def link_state(self) -> str: ...


LineHandler = Callable[[bytes, float], None]
"""Called by a radar line source with each raw line (terminator stripped) and its arrival time
on the agent's monotonic clock."""
