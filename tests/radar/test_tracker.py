"""Transits that match how vehicles move: close vehicles, dropouts, range, geometry, arrival."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from pole_agent.config import TrackingConfig
from pole_agent.perception.radar_lines import Echo, RangeFrame, SpeedFrame
from pole_agent.perception.transit import Transit, TransitTracker

DT = 0.1


def tracker(angle: float = 0.0, offset: float | None = None, **tracking: float) -> TransitTracker:
    return TransitTracker(TrackingConfig(**tracking), angle, lateral_offset_m=offset)


def run(tr: TransitTracker, frames: Sequence[SpeedFrame | RangeFrame]) -> list[Transit]:
    closed: list[Transit] = []
    for frame in frames:
        if isinstance(frame, RangeFrame):
            tr.update_ranges(frame)
        else:
            closed += tr.update_frame(frame).closed
    return closed + tr.flush()


def test_a_dropout_shorter_than_the_gap_is_bridged() -> None:
    tr = tracker(gap_s=1.0)
    frames = [SpeedFrame(i * DT, 40.0 + 0.1 * i) for i in range(10)]
    frames += [SpeedFrame(1.8 + i * DT, 41.0 + 0.1 * i) for i in range(10)]  # 0.9 s dropout
    (transit,) = run(tr, frames)
    assert transit.samples == 20
    assert transit.start_t == 0.0
    assert transit.end_t == pytest.approx(2.7)


def test_two_vehicles_close_together_at_different_speeds_are_two_transits() -> None:
    """A at 50 km/h leaves the beam and B at 32 km/h follows 0.2 s later: no gap, but no
    vehicle drops 18 km/h in 0.2 s."""
    tr = tracker(gap_s=1.0)
    frames = [SpeedFrame(i * DT, 50.0 + (i % 3) * 0.4) for i in range(15)]
    frames += [SpeedFrame(1.6 + i * DT, 32.0 + (i % 2) * 0.4) for i in range(15)]
    first, second = sorted(run(tr, frames), key=lambda t: t.start_t)
    assert (first.samples, second.samples) == (15, 15)
    # Peaks held on two consecutive frames (50.4 then 50.8; 32.4 then 32.0).
    assert first.peak_kmh == pytest.approx(50.4)
    assert second.peak_kmh == pytest.approx(32.0)
    assert first.end_t < second.start_t


def test_two_vehicles_alternating_in_the_beam_stay_two_transits() -> None:
    """A single-target radar alternates between two vehicles of similar strength."""
    tr = tracker()
    frames = [SpeedFrame(i * DT, 45.0 if i % 2 else 28.0) for i in range(30)]
    transits = sorted(run(tr, frames), key=lambda t: t.peak_kmh)
    assert [t.samples for t in transits] == [15, 15]
    assert [t.peak_kmh for t in transits] == [28.0, 45.0]


def test_multi_target_frames_feed_one_transit_per_target() -> None:
    tr = tracker()
    frames = [
        SpeedFrame(i * DT, 45.0, 300.0, more=(Echo(-30.0, 120.0), Echo(27.0, 80.0)))
        for i in range(10)
    ]
    transits = run(tr, frames)
    assert sorted((t.direction, t.peak_kmh, t.samples) for t in transits) == [
        ("approaching", 27.0, 10),
        ("approaching", 45.0, 10),
        ("receding", 30.0, 10),
    ]


def test_same_speed_vehicles_are_split_by_range_continuity() -> None:
    """Two approaching cars at the same 36 km/h (10 m/s), B 25 m behind A: by speed alone one
    transit; their ranges cannot belong to one vehicle."""
    tr = tracker(range_jump_m=6.0)
    frames: list[SpeedFrame | RangeFrame] = []
    for i in range(20):  # A from 30 m down to 11 m, then B shows up at 36 m
        t = i * DT
        frames += [SpeedFrame(t, 36.0), RangeFrame(t, (30.0 - 10.0 * t,))]
    for i in range(20):
        t = 2.0 + i * DT
        frames += [SpeedFrame(t, 36.0), RangeFrame(t, (36.0 - 10.0 * (t - 2.0),))]
    transits = sorted(run(tr, frames), key=lambda t: t.start_t)
    assert len(transits) >= 2
    assert transits[0].first_range_m == pytest.approx(30.0)
    assert transits[-1].first_range_m == pytest.approx(36.0)
    assert sum(t.samples for t in transits) == 40
    assert transits[-1].samples >= 18


def test_range_on_the_speed_line_gives_range_at_first_detection() -> None:
    tr = tracker()
    frames = [SpeedFrame(i * DT, -30.0, 200.0, range_m=5.0 + 0.8 * i) for i in range(8)]
    (transit,) = run(tr, frames)
    assert transit.direction == "receding"
    assert transit.first_range_m == 5.0


def test_a_range_line_before_its_speed_line_still_pairs() -> None:
    tr = tracker()
    frames: list[SpeedFrame | RangeFrame] = []
    for i in range(5):
        frames += [RangeFrame(i * DT, (40.0 - i,)), SpeedFrame(i * DT + 0.01, 36.0)]
    (transit,) = run(tr, frames)
    assert transit.first_range_m == 40.0


def test_without_range_there_is_no_first_range() -> None:
    (transit,) = run(tracker(), [SpeedFrame(i * DT, 30.0) for i in range(5)])
    assert transit.first_range_m is None


def test_mounting_angle_cosine_correction() -> None:
    tr = tracker(angle=20.0)
    assert tr.ground_speed(47.0) == pytest.approx(47.0 / math.cos(math.radians(20)))
    assert tr.ground_speed(-47.0, range_m=30.0) == pytest.approx(47.0 / math.cos(math.radians(20)))


def test_lateral_offset_uses_the_true_angle_at_each_range() -> None:
    """Radar 5 m from the lane: at 10 m range the line of sight is 30 degrees off the lane."""
    tr = tracker(angle=12.0, offset=5.0)
    assert tr.ground_speed(30.0, range_m=10.0) == pytest.approx(30.0 / math.cos(math.radians(30)))
    assert tr.ground_speed(30.0, range_m=50.0) == pytest.approx(
        30.0 * 50.0 / math.sqrt(50.0**2 - 25.0)
    )
    # Too close (steeper than 60 degrees) or no range: the mounting angle.
    assert tr.ground_speed(30.0, range_m=5.5) == pytest.approx(30.0 / math.cos(math.radians(12)))
    assert tr.ground_speed(30.0) == pytest.approx(30.0 / math.cos(math.radians(12)))
    assert tr.along_road_m(13.0) == pytest.approx(12.0)


def test_nearest_approaching_vehicle_is_the_closest_by_range() -> None:
    tr = tracker()
    tr.update_frame(SpeedFrame(0.0, 40.0, 100.0, range_m=50.0, more=(Echo(25.0, 90.0, 20.0),)))
    nearest = tr.nearest_approaching()
    assert nearest is not None and nearest.range_m == 20.0
