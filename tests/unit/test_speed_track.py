"""A transit's record is its vehicle's track (pole_agent/perception/speed_track.py): rain and
spikes make no vehicle and do not raise a car's peak, every physically possible vehicle is one
whole track, and a stuck sensor's run is taken back. The warning path is the pipeline's tests'
(tests/unit/test_radar_pipeline.py); the scenario `rain-clutter` plays it all through the agent.
"""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pole_agent.config import TrackingConfig
from pole_agent.health import ComponentHealth
from pole_agent.perception.radar_lines import SpeedFrame
from pole_agent.perception.speed_track import RUN_FRAMES, SpeedTrack, continuous
from pole_agent.perception.transit import Transit, TransitTracker
from tests.unit.test_radar_pipeline import Rig, make_rig

Frame = tuple[float, float | None]
"""(t, radial km/h), or (t, None) for a frame with no target (a zero report)."""


def tracker(gap_s: float = 1.0, min_samples: int = 3) -> TransitTracker:
    return TransitTracker(TrackingConfig(gap_s=gap_s, min_samples=min_samples), 0.0)


def play(tr: TransitTracker, frames: list[Frame]) -> list[Transit]:
    """Every transit closed, the open ones flushed at the end."""
    closed: list[Transit] = []
    for t, speed in frames:
        if speed is None:
            tr.empty_frame()
        else:
            closed += tr.update_frame(SpeedFrame(t, speed)).closed
    return closed + tr.flush()


def vehicles(transits: list[Transit]) -> list[Transit]:
    return [t for t in transits if not t.noise]


def car(start: float, speed: float, frames: int, rate_hz: float = 10.0) -> list[Frame]:
    return [(start + i / rate_hz, speed + 0.3 * (i % 3 - 1)) for i in range(frames)]


def test_continuity_allows_jitter_plus_hard_braking() -> None:
    assert continuous(40.0, 44.0, 0.0)
    assert continuous(36.5, 40.0, 0.0)
    assert continuous(30.0, 40.0, 0.2)  # 10 km/h in 0.2 s: 14 m/s^2 less the jitter
    assert not continuous(31.0, 40.0, 0.1)
    assert not continuous(58.0, 25.0, 0.3)


def test_a_spike_in_a_cars_transit_neither_raises_its_peak_nor_breaks_it() -> None:
    frames = car(0.0, 27.0, 40)
    frames[12] = (frames[12][0], 42.5)  # spray: one frame, fast, in the car's place
    frames[25] = (frames[25][0], 36.0)
    tr = tracker()
    (transit,) = vehicles(play(tr, frames))
    assert transit.peak_kmh == pytest.approx(27.0, abs=0.31)
    assert transit.samples == 38
    assert transit.clutter_frames == 1  # the 36 joined it; the 42.5 made a transit of its own
    assert tr.clutter_frames == 2
    assert tr.noise_transits == 1


def test_spikes_grouped_within_the_gap_make_no_vehicle() -> None:
    """One spike every three frames, at 50-90 km/h, for ten seconds, on an empty road."""
    rng = random.Random(5)
    frames: list[Frame] = []
    for k in range(100):
        t = k / 10
        frames.append((t, rng.uniform(50.0, 90.0) if k % 3 == 0 else None))
    tr = tracker(gap_s=4.0)
    transits = play(tr, frames)
    assert vehicles(transits) == []
    assert tr.noise_transits == len(transits) >= 1
    assert tr.clutter_frames == 34


def rain(seconds: float, seed: int, start: float = 0.0) -> list[Frame]:
    """Rain on an empty road as scenes.py draws it: an echo in 60 % of the frames, radial speed
    normal (sd 6 km/h) both ways; zero reports (and echoes under 5 km/h) in between."""
    rng = random.Random(seed)
    frames: list[Frame] = []
    for k in range(int(seconds * 10)):
        speed = rng.gauss(0.0, 6.0) if rng.random() < 0.6 else None
        frames.append((start + k / 10, speed))
    return frames


@pytest.mark.parametrize("seed", range(8))
def test_rain_alone_makes_no_vehicle(seed: int) -> None:
    tr = tracker(gap_s=4.0)
    transits = play(tr, rain(60.0, seed))
    assert vehicles(transits) == []
    assert tr.clutter_frames > 50


def test_rain_does_not_keep_a_cars_transit_open_for_the_next_car() -> None:
    """Two cars 15 s apart in rain, the gap 4 s: rain echoes join the first car's transit, but
    they are no track, so it closes 4 s after the car and the second car is its own vehicle."""
    first = car(0.0, 25.0, 70)
    second = car(22.0, 27.0, 60)
    between = rain(15.0, 3, start=7.0)
    transits = vehicles(play(tracker(gap_s=4.0), first + between + second))
    assert [round(t.peak_kmh) for t in transits] == [25, 27]
    assert transits[0].end_t == pytest.approx(6.9)
    assert transits[1].start_t == pytest.approx(22.0)


def braking(v0: float, v1: float, decel_mps2: float, rate_hz: float) -> list[Frame]:
    frames: list[Frame] = []
    v, t = v0, 0.0
    while v > v1:
        frames.append((t, v))
        t += 1.0 / rate_hz
        v -= decel_mps2 * 3.6 / rate_hz
    return frames


@pytest.mark.parametrize("rate_hz", [10.0, 20.0])
def test_an_emergency_stop_at_one_g_is_one_whole_track(rate_hz: float) -> None:
    frames = braking(70.0, 6.0, 9.81, rate_hz)
    (transit,) = play(tracker(), frames)
    assert transit.noise is False
    assert transit.samples == len(frames)
    assert transit.clutter_frames == 0


@settings(max_examples=150, deadline=None)
@given(
    speed=st.floats(5.0, 90.0),
    accel=st.floats(-9.0, 3.0),
    rate_hz=st.sampled_from([10.0, 15.0, 20.0]),
    noise=st.floats(0.0, 0.8),
    seconds=st.floats(1.0, 12.0),
    seed=st.integers(0, 1000),
)
def test_every_possible_vehicle_is_one_track_with_its_peak(
    *, speed: float, accel: float, rate_hz: float, noise: float, seconds: float, seed: int
) -> None:
    """Cars, buses and braking cars at 5-90 km/h (accelerating up to 3 m/s^2, braking up to
    9 m/s^2, stopping at 8 km/h) with radar noise: every frame is the track, and the peak is
    within the noise of the true peak (held on two frames: one frame's change less for a
    vehicle still speeding up)."""
    rng = random.Random(seed)
    frames: list[Frame] = []
    truth: list[float] = []
    for k in range(int(seconds * rate_hz)):
        v = speed + accel * 3.6 * k / rate_hz
        if v < 8.0 or v > 100.0:  # (the tracker ignores what reads under 5 km/h)
            break
        truth.append(v)
        frames.append((k / rate_hz, v + rng.gauss(0.0, noise)))
    if len(frames) < RUN_FRAMES:
        return
    (transit,) = play(tracker(), frames)
    assert transit.noise is False
    assert transit.samples == len(frames)
    step = abs(accel) * 3.6 / rate_hz
    assert abs(transit.peak_kmh - max(truth)) <= 4 * noise + step + 0.01


def test_one_frame_taken_by_another_echo_is_skipped_but_an_empty_frame_breaks_a_run() -> None:
    # A single-target radar: a receding echo takes every other frame of an approaching car.
    alternating: list[Frame] = []
    for k in range(12):
        alternating.append((k / 10, 30.0 if k % 2 == 0 else -12.0))
    car_transit, other = sorted(play(tracker(), alternating), key=lambda t: -t.peak_kmh)
    assert car_transit.noise is False and car_transit.samples == 6
    assert other.noise is False
    # The same car frames with nothing reported between: not one run.
    gappy: list[Frame] = []
    for k in range(12):
        gappy.append((k / 10, 30.0 if k % 2 == 0 else None))
    (transit,) = play(tracker(), gappy)
    assert transit.noise is True


def test_a_stuck_run_is_taken_back_from_the_car_it_joined() -> None:
    tr = tracker(gap_s=4.0)
    frames = car(0.0, 25.0, 40) + [(4.0 + i / 10, 33.0) for i in range(60)]
    assert play_open(tr, frames) == []
    # The first 33 is clutter (8 km/h in 0.1 s); the rest continue the car's track (from its
    # last frame, 0.2 s before): 59 confirmed frames taken back.
    assert tr.drop_stuck_runs() == 59
    assert tr.drop_stuck_runs() == 0
    (transit,) = tr.flush()
    assert transit.sensor_stuck is True
    assert transit.peak_kmh == pytest.approx(25.0, abs=0.31)
    assert transit.samples == 40
    assert transit.end_t == pytest.approx(3.9)
    assert tr.stuck_frames_dropped == 59


def test_a_moving_run_is_not_taken_for_a_stuck_one() -> None:
    tr = tracker()
    play_open(tr, car(0.0, 25.0, 30))
    assert tr.drop_stuck_runs() == 0
    (transit,) = tr.flush()
    assert transit.sensor_stuck is False and transit.samples == 30


def play_open(tr: TransitTracker, frames: list[Frame]) -> list[Transit]:
    closed: list[Transit] = []
    for t, speed in frames:
        assert speed is not None
        closed += tr.update_frame(SpeedFrame(t, speed)).closed
    return closed


def test_track_undo_restores_everything() -> None:
    track = SpeedTrack()
    for k in range(6):
        track.add(k, k / 10, 30.0 + k * 0.1, True)
    before = track.state()
    track.add(6, 0.6, 30.6, True)
    assert track.confirmed == 7
    track.restore(before)
    assert track.confirmed == 6 and len(track.speeds) == 6
    assert track.state() == before


# -- through the pipeline -------------------------------------------------------------------


def stuck(rig: Rig) -> None:
    now = rig.clock.monotonic()
    reason = "stuck: 42 km/h repeated for over 10 s"
    rig.pipeline.on_sensor_health(ComponentHealth("radar.road", "failed", reason, now))


def test_a_stuck_radar_that_warned_ends_its_warning_but_makes_no_vehicle_event() -> None:
    rig = make_rig()
    second = rig.feed(*[b"42"] * 100)  # 10 s of one value, then the watch says stuck
    assert rig.beacons.times("activate")
    stuck(rig)
    assert rig.tracker.stuck_frames_dropped == 100
    rig.tick_until(second + 10.0)
    assert rig.pipeline.clutter_frames == 100
    kinds = [json_kind(p) for t, p in rig.publisher.messages if "/events/warning" in t]
    assert kinds == ["start", "end"]
    assert rig.publisher.events() == []
    assert rig.pipeline.transits_reported == 0


def test_a_car_is_reported_on_its_own_frames_when_a_stuck_run_joined_it() -> None:
    rig = make_rig()
    rig.feed(*[f"{25 + 0.1 * (i % 3):.1f}".encode() for i in range(40)])
    rig.feed(*[b"29"] * 100)  # under the limit: no warning; it continues the car's track
    stuck(rig)
    rig.tick_until(rig.clock.monotonic() + 5.0)
    (event,) = rig.publisher.events()
    assert event["samples"] == 40
    assert event["speed_kmh"] == pytest.approx(25.1, abs=0.11)
    assert event["warned"] is False


def json_kind(payload: bytes) -> str:
    return str(json.loads(payload)["phase"])
