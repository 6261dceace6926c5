"""Which speed limit is in force, and whether the school zone is active, at a wall time.

First version: one daily active window in the zone's time zone. Pure: the time is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from pole_agent.config import ZoneConfig


@dataclass(frozen=True, slots=True)
class ZoneState:
    """The zone's state at one moment."""

    active: bool
    limit_kmh: float


class ZoneSchedule:
    def __init__(self, config: ZoneConfig) -> None:
        self._config = config
        self._tz = ZoneInfo(config.timezone)

    def at(self, wall: datetime) -> ZoneState:
        """The zone's state at an aware wall time."""
        if wall.tzinfo is None:
            raise ValueError("the zone schedule needs an aware datetime")
        local = wall.astimezone(self._tz).time().replace(tzinfo=None)
        start, end = self._config.active.start, self._config.active.end
        if start == end:
            active = True
        elif start < end:
            active = start <= local < end
        else:  # the window spans midnight
            active = local >= start or local < end
        limit = self._config.speed_limit_kmh if active else self._config.off_hours_limit_kmh
        return ZoneState(active=active, limit_kmh=limit)
