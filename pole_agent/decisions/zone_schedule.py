"""Which speed limit is in force, and whether the school zone is active, at a wall time.

The zone's week is a list of windows (``zone.windows``): each has local start and end times,
days of the week, a day kind (school days, other days, any day) and a limit; the first window
that contains the moment is in force and the zone is active. Outside every window the zone is
not active and ``off_hours_limit_kmh`` is in force (recorded, not warned against). With no windows
configured the zone is active in ``zone.active`` every day at ``speed_limit_kmh``.

School days come from ``zone.school_weekdays`` and the school calendar (school_calendar.py).
When the wall clock is not trusted (clock_trust.py) the schedule is in its conservative mode:
active, at the lowest limit of any window, and says why.

Pure: the wall time and the clock's verdict are passed in. The plan (config and calendar) can be
replaced at run time (``replace``) from another thread: readers see the old plan or the new one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pole_agent.config import WEEKDAYS, ScheduleWindow, ZoneConfig
from pole_agent.decisions.clock_trust import ClockVerdict
from pole_agent.decisions.school_calendar import SchoolCalendar, day_kind

CONSERVATIVE = "conservative"
"""The window name while the clock is not trusted."""


@dataclass(frozen=True, slots=True)
class ZoneState:
    """The zone's state at one moment."""

    active: bool
    limit_kmh: float
    window: str = ""
    """Name of the window in force ('' outside every window, 'conservative' without a clock)."""
    school_day: bool | None = None
    """Whether the local date is a school day (None when the clock is not trusted)."""
    conservative: bool = False
    """The wall clock is not trusted: school-hours behaviour whatever the hour."""
    reason: str = ""
    """Why the zone is in this state, in words (for decision records and logs)."""


@dataclass(frozen=True, slots=True)
class _Plan:
    config: ZoneConfig
    calendar: SchoolCalendar | None
    tz: ZoneInfo
    windows: tuple[ScheduleWindow, ...]
    conservative_limit: float


def _plan(config: ZoneConfig, calendar: SchoolCalendar | None) -> _Plan:
    windows = config.windows or (
        ScheduleWindow(
            start=config.active.start,
            end=config.active.end,
            limit_kmh=config.speed_limit_kmh,
            name="active",
        ),
    )
    lowest = min([config.speed_limit_kmh, *(w.limit_kmh for w in windows)])
    return _Plan(config, calendar, ZoneInfo(config.timezone), windows, lowest)


def _window_day(window: ScheduleWindow, local: time, today: date) -> date | None:
    """The day whose window contains the local time ``local`` of ``today``, if any."""
    start, end = window.start, window.end
    if start == end:
        return today
    if start < end:
        return today if start <= local < end else None
    if local >= start:
        return today
    if local < end:
        return today - timedelta(days=1)
    return None


class ZoneSchedule:
    def __init__(
        self,
        config: ZoneConfig,
        calendar: SchoolCalendar | None = None,
        *,
        trust: Callable[[datetime], ClockVerdict] | None = None,
    ) -> None:
        self._plan = _plan(config, calendar)
        self._trust = trust

    @property
    def config(self) -> ZoneConfig:
        return self._plan.config

    @property
    def calendar(self) -> SchoolCalendar | None:
        return self._plan.calendar

    def replace(self, config: ZoneConfig, calendar: SchoolCalendar | None = None) -> None:
        """Put a new schedule (and calendar) in force; safe while another thread reads."""
        self._plan = _plan(config, calendar)

    def at(self, wall: datetime, clock: ClockVerdict | None = None) -> ZoneState:
        """The zone's state at an aware wall time. ``clock`` is the clock's verdict; without
        one the ``trust`` callable given at construction is asked (none: trusted)."""
        if wall.tzinfo is None:
            raise ValueError("the zone schedule needs an aware datetime")
        plan = self._plan
        if clock is None and self._trust is not None:
            clock = self._trust(wall)
        if clock is not None and not clock.trusted:
            return ZoneState(
                active=True,
                limit_kmh=plan.conservative_limit,
                window=CONSERVATIVE,
                conservative=True,
                reason=f"clock not trusted ({clock.reason}): school-hours mode",
            )
        local = wall.astimezone(plan.tz)
        local_time = local.time().replace(tzinfo=None)
        today = local.date()
        kinds: dict[date, bool] = {}

        def school(day: date) -> bool:
            if day not in kinds:
                kinds[day] = day_kind(day, plan.config.school_weekdays, plan.calendar).school
            return kinds[day]

        for index, window in enumerate(plan.windows):
            day = _window_day(window, local_time, today)
            if day is None or WEEKDAYS[day.weekday()] not in window.weekdays:
                continue
            if window.days != "any" and school(day) != (window.days == "school"):
                continue
            name = window.name or f"window {index + 1}"
            return ZoneState(
                active=True,
                limit_kmh=window.limit_kmh,
                window=name,
                school_day=school(today),
                reason=f"{name} {window.start:%H:%M}-{window.end:%H:%M} "
                f"({day_kind(day, plan.config.school_weekdays, plan.calendar).reason})",
            )
        kind = day_kind(today, plan.config.school_weekdays, plan.calendar)
        return ZoneState(
            active=False,
            limit_kmh=plan.config.off_hours_limit_kmh,
            window="",
            school_day=kind.school,
            reason=f"outside every window ({kind.reason})",
        )
