"""Where and when the pole is a school zone: active windows, the week, the zone's limits."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    field_serializer,
    field_validator,
)

from pole_agent.config.base import (
    StrictModel,
)


class ActiveWindow(StrictModel):
    """One daily window in which the school zone is active (local time of the zone)."""

    start: time = Field(description="Local time the zone becomes active, e.g. 07:00.")
    end: time = Field(
        description="Local time the zone stops being active, e.g. 21:00. An end before the start "
        "spans midnight; start equal to end means active all day."
    )

    @field_validator("start", "end", mode="before")
    @classmethod
    def _parse_hhmm(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                hours, minutes = value.split(":")
                return time(int(hours), int(minutes))
            except ValueError:
                raise ValueError(f"expected HH:MM (24-hour clock), got {value!r}") from None
        return value

    @field_serializer("start", "end")
    def _as_hhmm(self, value: time) -> str:
        return value.strftime("%H:%M")


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ScheduleWindow(ActiveWindow):
    """A weekly period in which the zone is active, with its own limit (first match wins)."""

    limit_kmh: float = Field(gt=0, le=130, description="Speed limit in this window (km/h).")
    days: Literal["school", "non_school", "any"] = Field(
        default="any",
        description="Which days: 'school' (school weekdays not off in the calendar, plus its "
        "extra school days), 'non_school' (the others) or 'any'. A window spanning midnight "
        "belongs to the day it starts.",
    )
    weekdays: tuple[Weekday, ...] = Field(
        default=WEEKDAYS, min_length=1, description="Days of the week the window applies to."
    )
    name: str = Field(default="", max_length=40, description="Name shown in records.")


class ZoneConfig(StrictModel):
    """The school zone the pole guards."""

    speed_limit_kmh: float = Field(
        default=30.0, gt=0, le=130, description="Speed limit while the zone is active (km/h)."
    )
    off_hours_limit_kmh: float = Field(
        default=50.0,
        gt=0,
        le=130,
        description="Speed limit in force outside the active window (km/h); recorded in events, "
        "no warning is given against it.",
    )
    active: ActiveWindow = Field(
        default_factory=lambda: ActiveWindow(start=time(7, 0), end=time(21, 0)),
        description="The daily window in which the zone is active and the pole warns.",
    )
    timezone: str = Field(default="Asia/Seoul", description="IANA time zone of the zone.")
    school_weekdays: tuple[Weekday, ...] = Field(
        default=("mon", "tue", "wed", "thu", "fri"),
        description="Weekdays that are school days unless the calendar says otherwise.",
    )
    windows: tuple[ScheduleWindow, ...] = Field(
        default=(),
        description="Time-of-day and day-of-week limits, first match wins (docs/warnings.md); "
        "outside them off_hours_limit_kmh applies. Empty: the zone is active in 'active' every "
        "day at speed_limit_kmh.",
    )
    calendar_file: Path | None = Field(
        default=None,
        description="School calendar (TOML: holidays, vacations, extra school days; "
        "docs/warnings.md). Without one every school weekday is a school day.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            # OSError: a name such as "America" is a folder of the tz database, not a zone.
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value
