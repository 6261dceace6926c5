"""Statistics windows: aligned, cut at zone changes, percentiles over per-transit peaks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pole_agent.decisions.zone_schedule import ZoneState
from pole_agent.telemetry.stats import TrafficStats, percentile

DAY = ZoneState(active=True, limit_kmh=30.0, window="day")
NIGHT = ZoneState(active=True, limit_kmh=50.0, window="night")
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def add(stats: TrafficStats, speed: float, at: datetime, zone: ZoneState = DAY, **kw: str) -> list:  # type: ignore[type-arg]
    return stats.add_transit(
        direction=kw.get("direction", "approaching"),
        peak_kmh=speed,
        over_limit=speed > zone.limit_kmh,
        vehicle_class=kw.get("vehicle_class", "unclassified"),
        zone=zone,
        at=at,
    )


def test_percentile_interpolates_between_ranks() -> None:
    values = sorted(float(v) for v in range(1, 101))
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 85) == pytest.approx(85.15)
    assert percentile([42.0], 98) == 42.0


def test_window_counts_by_direction_and_class_with_percentiles() -> None:
    stats = TrafficStats(900, T0, DAY)
    for n, speed in enumerate([20, 25, 28, 31, 35, 40, 45, 22, 27, 33]):
        direction = "approaching" if n % 2 == 0 else "receding"
        add(stats, speed, T0 + timedelta(seconds=n), direction=direction)
    stats.add_warning(DAY, T0 + timedelta(seconds=20))
    (window,) = stats.roll(T0 + timedelta(seconds=900), DAY)
    assert window.start == T0 and window.end == T0 + timedelta(seconds=900)
    assert not window.partial
    assert window.total.count == 10
    assert window.total.over_limit == 5
    assert window.total.max_kmh == 45
    assert window.total.p50_kmh == pytest.approx(29.5)
    assert window.total.by_class == {"unclassified": 10}
    assert window.by_direction["approaching"].count == 5
    assert window.by_direction["receding"].count == 5
    assert window.warnings == 1
    assert stats.roll(T0 + timedelta(seconds=901), DAY) == []


def test_empty_window_has_null_percentiles() -> None:
    stats = TrafficStats(60, T0, DAY)
    (window,) = stats.roll(T0 + timedelta(seconds=60), DAY)
    assert window.total.count == 0 and window.total.p85_kmh is None


def test_a_zone_change_closes_the_window_early() -> None:
    stats = TrafficStats(900, T0, DAY)
    add(stats, 35, T0 + timedelta(seconds=10))
    closed = add(stats, 45, T0 + timedelta(seconds=100), zone=NIGHT)
    assert len(closed) == 1
    assert closed[0].partial and closed[0].zone == DAY and closed[0].total.count == 1
    (night,) = stats.roll(T0 + timedelta(seconds=900), NIGHT)
    assert night.zone == NIGHT and night.partial and night.total.over_limit == 0
    assert night.start == T0 + timedelta(seconds=100)


def test_a_start_between_boundaries_is_partial_and_aligned_after() -> None:
    stats = TrafficStats(900, T0 + timedelta(seconds=123), DAY)
    (first,) = stats.roll(T0 + timedelta(seconds=905), DAY)
    assert first.partial and first.end == T0 + timedelta(seconds=900)
    (second,) = stats.roll(T0 + timedelta(seconds=1800), DAY)
    assert not second.partial and second.start == T0 + timedelta(seconds=900)


def test_a_late_roll_skips_empty_windows() -> None:
    stats = TrafficStats(60, T0, DAY)
    windows = stats.roll(T0 + timedelta(hours=5), DAY)
    assert len(windows) == 1
    closed = stats.close(T0 + timedelta(hours=5, seconds=10))
    assert closed.partial and closed.start == T0 + timedelta(hours=5)


class Clutter:
    """The road radar's running clutter count, driven by the test (as the tracker grows it)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> int:
        return self.count


def test_clutter_is_what_the_count_grew_while_each_window_was_open() -> None:
    clutter = Clutter()
    clutter.count = 40  # counted before the stats began (e.g. before the first roll)
    stats = TrafficStats(900, T0, DAY, clutter)
    clutter.count += 7
    add(stats, 25, T0 + timedelta(seconds=10))
    clutter.count += 5
    (day,) = add(stats, 45, T0 + timedelta(seconds=100), zone=NIGHT)  # the zone's change
    assert day.clutter_frames == 12 and day.total.count == 1
    clutter.count += 300  # rain
    (night,) = stats.roll(T0 + timedelta(seconds=900), NIGHT)
    assert night.clutter_frames == 300 and night.total.count == 1
    (quiet,) = stats.roll(T0 + timedelta(seconds=1800), NIGHT)
    assert quiet.clutter_frames == 0
    clutter.count += 2
    assert stats.close(T0 + timedelta(seconds=1810)).clutter_frames == 2


def test_clutter_without_a_radar_is_zero_and_a_restarted_count_is_taken_from_zero() -> None:
    (window,) = TrafficStats(60, T0, DAY).roll(T0 + timedelta(seconds=60), DAY)
    assert window.clutter_frames == 0
    clutter = Clutter()
    clutter.count = 50
    stats = TrafficStats(60, T0, DAY, clutter)
    clutter.count = 3  # a new tracker counts from 0: never a negative count
    (window,) = stats.roll(T0 + timedelta(seconds=60), DAY)
    assert window.clutter_frames == 3
