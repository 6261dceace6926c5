"""The zone's daily active window in its own time zone, and the limit in force."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pole_agent.config import ActiveWindow, ZoneConfig
from pole_agent.decisions.zone_schedule import ZoneSchedule, ZoneState

SEOUL = ZoneInfo("Asia/Seoul")


def schedule(start: str, end: str, tz: str = "Asia/Seoul") -> ZoneSchedule:
    h1, m1 = map(int, start.split(":"))
    h2, m2 = map(int, end.split(":"))
    config = ZoneConfig(
        speed_limit_kmh=30,
        off_hours_limit_kmh=50,
        active=ActiveWindow(start=time(h1, m1), end=time(h2, m2)),
        timezone=tz,
    )
    return ZoneSchedule(config)


def seoul(hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(2026, 3, 2, hh, mm, ss, tzinfo=SEOUL)


@pytest.mark.parametrize(
    ("local", "active"),
    [
        ((6, 59, 59), False),
        ((7, 0, 0), True),
        ((12, 0, 0), True),
        ((20, 59, 59), True),
        ((21, 0, 0), False),
        ((23, 30, 0), False),
        ((0, 0, 0), False),
    ],
)
def test_window_inside_a_day(local: tuple[int, int, int], active: bool) -> None:
    state = schedule("07:00", "21:00").at(seoul(*local))
    assert state.active is active


@pytest.mark.parametrize(
    ("local", "active"),
    [
        ((21, 59, 0), False),
        ((22, 0, 0), True),
        ((23, 59, 59), True),
        ((0, 0, 0), True),
        ((3, 0, 0), True),
        ((5, 59, 59), True),
        ((6, 0, 0), False),
        ((12, 0, 0), False),
    ],
)
def test_window_spanning_midnight(local: tuple[int, int, int], active: bool) -> None:
    assert schedule("22:00", "06:00").at(seoul(*local)).active is active


@pytest.mark.parametrize("start", ["00:00", "07:30", "23:59"])
@pytest.mark.parametrize("local", [(0, 0, 0), (7, 29, 59), (7, 30, 0), (12, 0, 0), (23, 59, 59)])
def test_start_equal_to_end_is_all_day(start: str, local: tuple[int, int, int]) -> None:
    assert schedule(start, start).at(seoul(*local)).active is True


def test_the_zone_time_zone_is_applied_to_utc_input() -> None:
    sched = schedule("07:00", "21:00")
    # 22:30 UTC is 07:30 the next morning in Seoul (UTC+9): active.
    assert sched.at(datetime(2026, 3, 2, 22, 30, tzinfo=UTC)).active is True
    # 21:59 UTC is 06:59 in Seoul: not yet.
    assert sched.at(datetime(2026, 3, 2, 21, 59, tzinfo=UTC)).active is False
    # 08:00 UTC is 17:00 in Seoul: active, though 08:00 is also inside the window in UTC.
    assert sched.at(datetime(2026, 3, 2, 8, 0, tzinfo=UTC)).active is True
    # 13:00 UTC is 22:00 in Seoul: off, though 13:00 UTC alone would look active.
    assert sched.at(datetime(2026, 3, 2, 13, 0, tzinfo=UTC)).active is False


def test_any_aware_zone_is_converted() -> None:
    sched = schedule("07:00", "21:00")
    new_york = ZoneInfo("America/New_York")
    # 18:30 in New York on 2 March (UTC-5) is 08:30 on 3 March in Seoul.
    assert sched.at(datetime(2026, 3, 2, 18, 30, tzinfo=new_york)).active is True
    fixed = datetime(2026, 3, 2, 12, 0, tzinfo=UTC).astimezone(ZoneInfo("Europe/Berlin"))
    assert sched.at(fixed) == sched.at(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))


def test_daylight_saving_zone_follows_local_clock() -> None:
    sched = schedule("07:00", "21:00", tz="Europe/Berlin")
    # Berlin is UTC+1 in winter and UTC+2 in summer: 06:30 UTC is 07:30 / 08:30 local.
    assert sched.at(datetime(2026, 1, 15, 5, 30, tzinfo=UTC)).active is False  # 06:30 CET
    assert sched.at(datetime(2026, 7, 15, 5, 30, tzinfo=UTC)).active is True  # 07:30 CEST


def test_naive_datetime_rejected() -> None:
    with pytest.raises(ValueError, match="aware"):
        schedule("07:00", "21:00").at(datetime(2026, 3, 2, 8, 0))


def _core(state: ZoneState) -> ZoneState:
    """The state without its explanation (window name, school day, reason)."""
    return ZoneState(active=state.active, limit_kmh=state.limit_kmh)


def test_limit_in_force_inside_and_outside_the_window() -> None:
    sched = schedule("07:00", "21:00")
    assert _core(sched.at(seoul(8, 0))) == ZoneState(active=True, limit_kmh=30)
    assert _core(sched.at(seoul(22, 0))) == ZoneState(active=False, limit_kmh=50)
    assert sched.at(seoul(8, 0)).window == "active"
    assert sched.at(seoul(22, 0)).window == ""


def test_default_zone_config() -> None:
    sched = ZoneSchedule(ZoneConfig())
    assert _core(sched.at(seoul(7, 0))) == ZoneState(active=True, limit_kmh=30.0)
    assert _core(sched.at(seoul(6, 59))) == ZoneState(active=False, limit_kmh=50.0)
    assert sched.at(seoul(7, 0)).conservative is False


times_of_day = st.times().map(lambda t: t.replace(microsecond=0))


@given(start=times_of_day, end=times_of_day, offset_s=st.integers(0, 2 * 86400))
def test_active_matches_the_window_definition(start: time, end: time, offset_s: int) -> None:
    config = ZoneConfig(active=ActiveWindow(start=start, end=end))
    sched = ZoneSchedule(config)
    wall = datetime(2026, 3, 1, tzinfo=SEOUL) + timedelta(seconds=offset_s)
    local = wall.time()
    if start == end:
        expected = True
    elif start < end:
        expected = start <= local < end
    else:
        expected = not (end <= local < start)
    state = sched.at(wall.astimezone(UTC))
    assert state.active is expected
    assert state.limit_kmh == (config.speed_limit_kmh if expected else config.off_hours_limit_kmh)
