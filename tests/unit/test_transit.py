"""Speed frames grouped into transits: angle correction, gaps, directions, noise, memory."""

from __future__ import annotations

import math
import statistics

import pytest

from pole_agent.config import TrackingConfig
from pole_agent.perception.radar_lines import SpeedFrame
from pole_agent.perception.speed_track import MAX_TRACK_SPEEDS
from pole_agent.perception.transit import MAX_KEPT_SPEEDS, Transit, TransitTracker

COS15 = math.cos(math.radians(15))


def tracker(
    angle: float = 0.0, gap_s: float = 1.0, min_samples: int = 3, min_speed_kmh: float = 5.0
) -> TransitTracker:
    config = TrackingConfig(gap_s=gap_s, min_samples=min_samples, min_speed_kmh=min_speed_kmh)
    return TransitTracker(config, angle)


def feed(tr: TransitTracker, frames: list[tuple[float, float]]) -> list[Transit]:
    """Feed (t, radial km/h) frames; return every transit closed along the way."""
    closed: list[Transit] = []
    for t, speed in frames:
        _, done = tr.update(SpeedFrame(t, speed))
        closed.extend(done)
    return closed


def test_ground_speed_corrects_for_the_mounting_angle() -> None:
    tr = tracker(angle=15)
    assert tr.ground_speed(50.0) == pytest.approx(50.0 / COS15)
    assert tr.ground_speed(-50.0) == pytest.approx(50.0 / COS15)
    assert tracker(angle=0).ground_speed(-42.0) == 42.0


def test_frames_make_one_transit_with_corrected_peak_and_median() -> None:
    tr = tracker(angle=15)
    radial = [40.0, 44.0, 48.0, 46.0, 42.0]
    frames = [(100.0 + 0.1 * i, s) for i, s in enumerate(radial)]
    assert feed(tr, frames) == []
    (open_transit,) = tr.open_transits()
    assert open_transit.direction == "approaching"
    assert open_transit.samples == 5
    (transit,) = tr.tick(100.4 + 1.01)
    assert transit.transit_id == 1
    assert transit.direction == "approaching"
    assert transit.peak_kmh == pytest.approx(46.0 / COS15)  # held on two frames (48, 46)
    assert transit.median_kmh == pytest.approx(44.0 / COS15)
    assert transit.samples == 5
    assert transit.start_t == 100.0
    assert transit.end_t == pytest.approx(100.4)
    assert transit.noise is False
    assert tr.open_transits() == []
    assert tr.noise_transits == 0


def test_median_of_an_even_count_is_the_mean_of_the_middle_two() -> None:
    tr = tracker()
    feed(tr, [(0.0, 20.0), (0.1, 24.0), (0.2, 30.0), (0.3, 28.0)])
    (transit,) = tr.flush()
    assert transit.median_kmh == 26.0
    assert transit.peak_kmh == 30.0


def test_receding_frames_make_a_receding_transit() -> None:
    tr = tracker()
    feed(tr, [(0.0, -20.0), (0.1, -25.0), (0.2, -22.0)])
    (transit,) = tr.flush()
    assert transit.direction == "receding"
    assert transit.peak_kmh == 25.0
    assert transit.median_kmh == 22.0


def test_update_returns_the_transit_the_frame_joined() -> None:
    tr = tracker()
    joined, closed = tr.update(SpeedFrame(0.0, 20.0))
    assert joined is not None and closed == []
    again, _ = tr.update(SpeedFrame(0.1, 25.0))
    assert again is joined
    assert joined.samples == 2
    assert joined.peak_kmh == 25.0
    assert joined.last_t == 0.1


def test_the_gap_closes_a_transit_only_after_it_has_passed() -> None:
    tr = tracker(gap_s=1.0)
    feed(tr, [(10.0, 20.0), (10.1, 21.0), (10.2, 22.0)])
    assert tr.tick(11.2) == []  # exactly the gap: still open
    assert len(tr.open_transits()) == 1
    (transit,) = tr.tick(11.21)
    assert transit.end_t == 10.2
    assert tr.tick(20.0) == []


def test_a_frame_after_the_gap_closes_the_old_transit_and_starts_a_new_one() -> None:
    tr = tracker(gap_s=1.0)
    first = [(0.0, 40.0), (0.1, 42.0), (0.2, 41.0)]
    second = [(1.5, 25.0), (1.6, 26.0), (1.7, 27.0)]
    closed = feed(tr, first + second)
    assert len(closed) == 1
    assert closed[0].transit_id == 1
    assert closed[0].peak_kmh == 42.0
    assert (closed[0].start_t, closed[0].end_t) == (0.0, 0.2)
    (later,) = tr.flush()
    assert later.transit_id == 2
    assert later.peak_kmh == 27.0
    assert (later.start_t, later.end_t) == (1.5, 1.7)


def test_frames_within_the_gap_stay_in_one_transit() -> None:
    tr = tracker(gap_s=1.0)
    assert feed(tr, [(0.0, 40.0), (0.9, 42.0), (1.8, 41.0), (2.7, 40.0)]) == []
    (transit,) = tr.flush()
    assert transit.samples == 4
    assert transit.end_t - transit.start_t == pytest.approx(2.7)


def test_opposite_directions_keep_two_transits_open_at_once() -> None:
    tr = tracker()
    frames = [
        (0.0, 40.0),
        (0.05, -30.0),
        (0.1, 41.0),
        (0.15, -31.0),
        (0.2, 42.0),
        (0.25, -32.0),
    ]
    assert feed(tr, frames) == []
    open_now = {o.direction: o for o in tr.open_transits()}
    assert set(open_now) == {"approaching", "receding"}
    assert open_now["approaching"].samples == 3
    assert open_now["receding"].samples == 3
    assert open_now["approaching"].transit_id != open_now["receding"].transit_id
    closed = {t.direction: t for t in tr.tick(5.0)}
    assert closed["approaching"].peak_kmh == 42.0
    assert closed["receding"].peak_kmh == 32.0
    assert closed["approaching"].end_t == 0.2
    assert closed["receding"].end_t == 0.25


def test_each_direction_has_its_own_gap() -> None:
    tr = tracker(gap_s=1.0)
    feed(tr, [(0.0, 40.0), (0.1, 40.0), (0.2, 40.0), (0.3, -30.0)])
    # At 1.25 the approaching transit (last 0.2) is over its gap; the receding one is not.
    closed = feed(tr, [(1.25, -31.0)])
    assert [t.direction for t in closed] == ["approaching"]
    (still,) = tr.open_transits()
    assert still.direction == "receding"
    assert still.samples == 2


def test_speeds_below_the_minimum_are_ignored() -> None:
    tr = tracker(min_speed_kmh=5.0)
    joined, closed = tr.update(SpeedFrame(0.0, 4.9))
    assert joined is None and closed == []
    joined, _ = tr.update(SpeedFrame(0.1, -3.0))
    assert joined is None
    assert tr.open_transits() == []
    feed(tr, [(0.2, 20.0), (0.3, 4.0), (0.4, 21.0), (0.5, 22.0)])
    (transit,) = tr.flush()
    assert transit.samples == 3
    assert transit.median_kmh == 21.0


def test_minimum_speed_applies_to_the_corrected_speed() -> None:
    tr = tracker(angle=15, min_speed_kmh=5.0)
    # 4.9 radial is 5.07 on the ground at 15 degrees: kept.
    joined, _ = tr.update(SpeedFrame(0.0, 4.9))
    assert joined is not None


def test_ignored_frames_do_not_keep_a_transit_open() -> None:
    tr = tracker(gap_s=1.0, min_speed_kmh=5.0)
    feed(tr, [(0.0, 20.0), (0.1, 20.0), (0.2, 20.0), (0.8, 1.0), (1.1, 1.0)])
    (transit,) = tr.tick(1.25)
    assert transit.end_t == 0.2


@pytest.mark.parametrize(("frames", "noise"), [(1, True), (4, True), (5, False), (6, False)])
def test_fewer_than_a_run_of_continuous_frames_is_noise(frames: int, noise: bool) -> None:
    """A vehicle is at least ``RUN_FRAMES`` (5) continuous frames, whatever ``min_samples``
    below that says (speed_track.py: rain seldom makes five in a row)."""
    tr = tracker(min_samples=3)
    feed(tr, [(0.1 * i, 30.0) for i in range(frames)])
    (transit,) = tr.tick(10.0)
    assert transit.samples == frames
    assert transit.noise is noise
    assert tr.noise_transits == (1 if noise else 0)


def test_noise_transits_are_counted_across_transits() -> None:
    tr = tracker(min_samples=3)
    vehicle = [(10.0 + 0.1 * i, -30.0) for i in range(5)]
    feed(tr, [(0.0, 30.0), (5.0, 30.0), *vehicle])
    tr.flush()
    assert tr.noise_transits == 2
    assert tr.clutter_frames == 2


def test_flush_closes_everything_open() -> None:
    tr = tracker()
    feed(tr, [(0.0, 40.0), (0.1, -30.0), (0.2, 41.0)])
    closed = tr.flush()
    assert sorted(t.direction for t in closed) == ["approaching", "receding"]
    assert tr.open_transits() == []
    assert tr.flush() == []
    assert tr.tick(100.0) == []


def test_transit_ids_increase() -> None:
    tr = tracker()
    ids: list[int] = []
    for k in range(4):
        feed(tr, [(10.0 * k, 30.0)])
        ids.extend(t.transit_id for t in tr.tick(10.0 * k + 5))
    assert ids == [1, 2, 3, 4]


def test_a_stuck_sensor_does_not_grow_memory() -> None:
    tr = tracker()
    count = MAX_KEPT_SPEEDS * 5
    for i in range(count):
        tr.update(SpeedFrame(0.05 * i, 33.0 + (i % 7) * 0.5))
    (open_transit,) = tr.open_transits()
    assert open_transit.samples == count
    assert len(open_transit.speeds) == MAX_KEPT_SPEEDS
    assert len(open_transit.track.speeds) == MAX_TRACK_SPEEDS
    (transit,) = tr.flush()
    assert transit.samples == count
    assert transit.peak_kmh == 35.5  # held on two frames (35.5, 36)
    kept = [33.0 + (i % 7) * 0.5 for i in range(MAX_TRACK_SPEEDS)]
    assert transit.median_kmh == statistics.median(kept)
    assert transit.end_t == pytest.approx(0.05 * (count - 1))


def test_peak_tracks_frames_beyond_the_kept_speeds() -> None:
    tr = tracker()
    for i in range(MAX_KEPT_SPEEDS + 10):
        tr.update(SpeedFrame(0.01 * i, 30.0))
    # A vehicle speeding up within its transit (a jump larger than a vehicle can make would be
    # clutter, or another vehicle: see test_two_vehicles_close_together_* in tests/radar).
    for k, speed in enumerate((32.0, 34.0, 36.0, 38.0, 38.0), start=MAX_KEPT_SPEEDS + 10):
        tr.update(SpeedFrame(0.01 * k, speed))
    (transit,) = tr.flush()
    assert transit.peak_kmh == 38.0
