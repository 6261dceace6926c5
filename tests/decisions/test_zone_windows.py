"""The zone's week: windows by time of day and day of week, school days from the calendar,
the conservative mode without a trusted clock, replacing the plan at run time."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pole_agent.config import ConfigError, Weekday, ZoneConfig
from pole_agent.decisions.clock_trust import ClockVerdict
from pole_agent.decisions.school_calendar import (
    SchoolCalendar,
    day_kind,
    load_calendar,
    parse_calendar,
)
from pole_agent.decisions.zone_schedule import CONSERVATIVE, ZoneSchedule

SEOUL = ZoneInfo("Asia/Seoul")
# 2026-03-02 is a Monday (and a substitute holiday in Korea), 2026-03-07 a Saturday.
CALENDAR = parse_calendar(
    {
        "holiday": [{"date": date(2026, 3, 2), "name": "대체공휴일"}],
        "vacation": [{"start": date(2026, 7, 22), "end": date(2026, 8, 17), "name": "여름방학"}],
        "school_day": [{"date": date(2026, 3, 7), "name": "토요 행사"}],
    }
)
WEEK = ZoneConfig.model_validate(
    {
        "off_hours_limit_kmh": 50,
        "windows": [
            {
                "name": "school run",
                "days": "school",
                "start": "07:00",
                "end": "21:00",
                "limit_kmh": 30,
            },
            {
                "name": "night",
                "start": "21:00",
                "end": "07:00",
                "limit_kmh": 40,
                "weekdays": ["mon", "tue", "wed", "thu", "fri"],
            },
            {
                "name": "weekend day",
                "days": "non_school",
                "start": "09:00",
                "end": "18:00",
                "limit_kmh": 40,
            },
        ],
    }
)


def seoul(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SEOUL)


@pytest.mark.parametrize(
    ("when", "active", "limit", "window"),
    [
        (seoul(2026, 3, 3, 8), True, 30, "school run"),  # Tuesday, school day
        (seoul(2026, 3, 3, 22), True, 40, "night"),  # Tuesday night
        (seoul(2026, 3, 4, 6, 59), True, 40, "night"),  # Wednesday early: Tuesday's window
        (seoul(2026, 3, 2, 8), False, 50, ""),  # Monday holiday, 08:00: no window
        (seoul(2026, 3, 2, 10), True, 40, "weekend day"),  # holiday counts as non-school day
        (seoul(2026, 3, 7, 8), True, 30, "school run"),  # Saturday event: a school day
        (seoul(2026, 3, 8, 8), False, 50, ""),  # Sunday 08:00
        (seoul(2026, 3, 8, 12), True, 40, "weekend day"),
        (seoul(2026, 3, 8, 22), False, 50, ""),  # Sunday night: the night window is Mon-Fri
        (seoul(2026, 3, 7, 2), True, 40, "night"),  # Saturday 02:00: Friday's night window
        (seoul(2026, 7, 29, 8), False, 50, ""),  # Wednesday in the summer vacation
        (seoul(2026, 7, 29, 12), True, 40, "weekend day"),
    ],
)
def test_week_windows(when: datetime, active: bool, limit: float, window: str) -> None:
    state = ZoneSchedule(WEEK, CALENDAR).at(when)
    assert (state.active, state.limit_kmh, state.window) == (active, limit, window)
    assert state.reason


def test_school_day_is_reported() -> None:
    sched = ZoneSchedule(WEEK, CALENDAR)
    assert sched.at(seoul(2026, 3, 3, 8)).school_day is True
    assert sched.at(seoul(2026, 3, 2, 8)).school_day is False
    assert "holiday 대체공휴일" in sched.at(seoul(2026, 3, 2, 8)).reason


def test_without_calendar_every_school_weekday_is_a_school_day() -> None:
    sched = ZoneSchedule(WEEK)
    assert sched.at(seoul(2026, 3, 2, 8)).window == "school run"
    assert sched.at(seoul(2026, 7, 29, 8)).window == "school run"


def test_day_kind_precedence() -> None:
    weekdays: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")
    both = SchoolCalendar.model_validate(
        {"holiday": [{"date": date(2026, 3, 3)}], "school_day": [{"date": date(2026, 3, 3)}]}
    )
    assert day_kind(date(2026, 3, 3), weekdays, both).school is True
    assert day_kind(date(2026, 3, 3), weekdays, None).reason == "school weekday (tue)"
    assert day_kind(date(2026, 3, 8), weekdays, None).reason == "not a school weekday (sun)"


def test_conservative_mode_without_a_trusted_clock() -> None:
    untrusted = ClockVerdict(False, "none", "wall clock before the build date")
    sched = ZoneSchedule(WEEK, CALENDAR)
    state = sched.at(seoul(2026, 3, 8, 3), untrusted)  # Sunday 03:00 if the clock were right
    assert state.active is True
    assert state.limit_kmh == 30  # the lowest of every window
    assert state.window == CONSERVATIVE
    assert state.conservative is True
    assert state.school_day is None
    assert "clock not trusted (wall clock before the build date)" in state.reason


def test_trust_callable_is_asked_when_no_verdict_is_given() -> None:
    asked: list[datetime] = []

    def trust(wall: datetime) -> ClockVerdict:
        asked.append(wall)
        return ClockVerdict(False, "none", "test")

    when = seoul(2026, 3, 8, 3)
    assert ZoneSchedule(WEEK, trust=trust).at(when).conservative is True
    assert asked == [when]
    trusted = ClockVerdict(True, "kernel", "ok")
    assert ZoneSchedule(WEEK, trust=trust).at(when, trusted).conservative is False


def test_replace_at_run_time() -> None:
    sched = ZoneSchedule(WEEK, CALENDAR)
    when = seoul(2026, 3, 3, 8)
    assert sched.at(when).limit_kmh == 30
    sched.replace(WEEK.model_copy(update={"windows": ()}), None)
    assert sched.at(when).window == "active"
    assert sched.calendar is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[[holiday]]\nname = 'x'\n", "holiday[0]: give either 'date', or 'start' and 'end'"),
        ("[[vacation]]\nstart = 2026-07-22\n", "vacation[0]: a range needs both"),
        ("[[vacation]]\nstart = 2026-07-22\nend = 2026-07-01\n", "vacation[0]: 'end' 2026-07-01"),
        ("[[holiday]]\ndate = 2026-03-02\nend = 2026-03-03\n", "holiday[0]: give either"),
        ("[[holidays]]\ndate = 2026-03-02\n", "holidays: unknown key"),
        ("[[holiday]]\ndate = 'March'\n", "holiday[0].date: "),
        ("holiday = [\n", "not valid TOML"),
    ],
)
def test_bad_calendar_files_name_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "calendar.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_calendar(path)
    assert info.value.source == str(path)
    assert any(p.startswith(problem) for p in info.value.problems), info.value.problems


def test_shipped_example_calendar_loads() -> None:
    root = Path(__file__).resolve().parents[2]
    calendar = load_calendar(root / "deploy" / "config" / "school-calendar.example.toml")
    assert calendar.holiday and calendar.vacation


def test_missing_calendar_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_calendar(tmp_path / "absent.toml")
    assert info.value.problems[0].startswith("cannot read the file")
