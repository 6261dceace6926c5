"""The school calendar: which dates are school days (holidays, vacations, extra school days).

A school publishes its calendar for the year; the installer (or the city, remotely) puts it in a
small TOML file that ``zone.calendar_file`` names::

    [[holiday]]
    date = 2026-03-02
    name = "대체공휴일"

    [[vacation]]
    start = 2026-07-22      # inclusive
    end = 2026-08-17        # inclusive
    name = "여름방학"

    [[school_day]]          # a school day on a day that is otherwise not one (a Saturday event)
    date = 2026-05-09

An extra school day wins over a holiday or a vacation; a holiday or a vacation wins over the
school weekdays of ``zone.school_weekdays``. Pure but for ``load_calendar``, which reads the file.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, ValidationError, model_validator

from pole_agent.config import WEEKDAYS, ConfigError, StrictModel, Weekday, validation_problems


class CalendarEntry(StrictModel):
    """One date (``date``) or an inclusive range of dates (``start`` and ``end``)."""

    date: dt.date | None = Field(default=None, description="A single date.")
    start: dt.date | None = Field(default=None, description="First date of a range.")
    end: dt.date | None = Field(default=None, description="Last date of a range (inclusive).")
    name: str = Field(default="", max_length=80, description="What the day is, for records.")

    @model_validator(mode="after")
    def _one_form(self) -> CalendarEntry:
        single = self.date is not None
        ranged = self.start is not None or self.end is not None
        if single == ranged:
            raise ValueError("give either 'date', or 'start' and 'end'")
        if ranged:
            if self.start is None or self.end is None:
                raise ValueError("a range needs both 'start' and 'end'")
            if self.end < self.start:
                raise ValueError(f"'end' {self.end} is before 'start' {self.start}")
        return self

    def covers(self, day: dt.date) -> bool:
        if self.date is not None:
            return day == self.date
        assert self.start is not None and self.end is not None
        return self.start <= day <= self.end


class SchoolCalendar(StrictModel):
    """A school's calendar: days off (holidays, vacations) and extra school days."""

    holiday: tuple[CalendarEntry, ...] = Field(default=(), description="Public/school holidays.")
    vacation: tuple[CalendarEntry, ...] = Field(default=(), description="Vacations (ranges).")
    school_day: tuple[CalendarEntry, ...] = Field(
        default=(), description="School days on days that are otherwise not."
    )


@dataclass(frozen=True, slots=True)
class DayKind:
    """Whether a date is a school day, and why (for the decision records)."""

    school: bool
    reason: str


def day_kind(
    day: dt.date, school_weekdays: tuple[Weekday, ...], calendar: SchoolCalendar | None
) -> DayKind:
    """Classify ``day``: extra school day > holiday > vacation > the school weekdays."""
    if calendar is not None:
        for entry in calendar.school_day:
            if entry.covers(day):
                return DayKind(True, f"extra school day {entry.name}".rstrip())
        for kind, entries in (("holiday", calendar.holiday), ("vacation", calendar.vacation)):
            for entry in entries:
                if entry.covers(day):
                    return DayKind(False, f"{kind} {entry.name}".rstrip())
    weekday = WEEKDAYS[day.weekday()]
    if weekday in school_weekdays:
        return DayKind(True, f"school weekday ({weekday})")
    return DayKind(False, f"not a school weekday ({weekday})")


def parse_calendar(data: object, source: str = "<calendar>") -> SchoolCalendar:
    """Validate an already-parsed mapping; raise ConfigError naming every bad key."""
    try:
        return SchoolCalendar.model_validate(data)
    except ValidationError as err:
        raise ConfigError(source, validation_problems(err)) from None


def load_calendar(path: Path) -> SchoolCalendar:
    """Read and validate a calendar file; raise ConfigError with every problem found."""
    source = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(source, [f"cannot read the file: {err.strerror or err}"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(source, [f"not valid TOML: {err}"]) from None
    return parse_calendar(data, source)
