"""The tracks' bookkeeping comes after the beacon pin: the pipeline joins a frame to its transit,
warns, and only then gives the frame to the transit's track (``TransitTracker.join_frame`` and
``record_tracks``); what the tracker records is the same as with ``update_frame``."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from pole_agent.config import TrackingConfig
from pole_agent.perception.radar_lines import Echo, RangeFrame, SpeedFrame
from pole_agent.perception.transit import OpenTransit, Transit, TransitTracker
from tests.radar.pipeline_rig import Beacons, pipeline_rig

APPROACHING_KMH = 45.0
"""Over the default 30 km/h limit at the default mounting angle."""


@dataclass
class TrackWatchingBeacons(Beacons):
    """Beacons that note, when lit, how many frames the watched transit's track holds."""

    watched: OpenTransit | None = None
    track_frames_at_pin: list[int] = field(default_factory=list)

    def activate(self) -> None:
        if self.watched is not None:
            self.track_frames_at_pin.append(self.watched.track.run_len)
        super().activate()


def test_the_pin_is_set_before_the_track_takes_the_frame() -> None:
    beacons = TrackWatchingBeacons()
    rig = pipeline_rig(beacons=beacons)
    rig.pipeline.on_parsed(SpeedFrame(1.0, APPROACHING_KMH))
    [transit] = rig.tracker.open_transits()
    assert transit.track.run_len == 1
    beacons.watched = transit

    rig.pipeline.on_parsed(SpeedFrame(1.1, APPROACHING_KMH))

    assert rig.pipeline.warnings_given == 1 and beacons.lit
    assert beacons.track_frames_at_pin == [1]  # the warning did not wait for the track
    assert transit.track.run_len == 2  # and the track took the frame before the call returned


# -- the split tracker records what update_frame does -------------------------------------------

SPEEDS = st.sampled_from([-42.0, -20.0, 12.0, 30.0, 31.0, 33.5, 45.0, 46.0, 80.0])
RANGES = st.one_of(st.none(), st.floats(min_value=5.0, max_value=120.0))
SPEED_STEP = st.builds(
    lambda speed, range_m, more: ("speed", speed, range_m, more),
    SPEEDS,
    RANGES,
    st.lists(st.tuples(SPEEDS, RANGES), max_size=2),
)
STEP = st.one_of(
    SPEED_STEP,
    SPEED_STEP,
    st.tuples(st.just("ranges"), st.lists(st.floats(min_value=5.0, max_value=120.0), max_size=3)),
    st.tuples(st.just("empty")),
    st.tuples(st.just("stuck")),
    st.tuples(st.just("tick")),
)
WAITS = st.sampled_from([0.0, 0.0, 0.05, 0.1, 0.1, 0.1, 0.2, 1.5])
"""0: the next line came in the same read (a range report after its speed report)."""


def _play(steps: list[tuple[object, ...]], waits: list[float], *, split: bool) -> list[object]:
    """Everything the tracker answers for the steps: with ``split`` each frame is joined and
    its tracks are recorded only by the tracker's next call (as the pipeline leaves them until
    after the pin), else ``update_frame``."""
    tracker = TransitTracker(TrackingConfig(min_samples=3), 10.0, lateral_offset_m=3.0)
    seen: list[object] = []
    t = 0.0
    for step, wait in zip(steps, waits, strict=False):
        t += wait
        kind = step[0]
        if kind == "speed":
            _, speed, range_m, more = step
            assert isinstance(speed, float) and isinstance(more, list)
            echoes = tuple(Echo(s, None, r) for s, r in more)
            frame = SpeedFrame(t, speed, None, range_m, echoes)  # type: ignore[arg-type]
            update = tracker.join_frame(frame) if split else tracker.update_frame(frame)
            seen.append(([(o.transit_id, s) for o, s in update.joined], update.closed))
        elif kind == "ranges":
            ranges = step[1]
            assert isinstance(ranges, list)
            tracker.update_ranges(RangeFrame(t, tuple(ranges)))
        elif kind == "empty":
            tracker.empty_frame()
        elif kind == "stuck":
            seen.append(tracker.drop_stuck_runs())
        else:
            seen.append(tracker.tick(t))
            seen.append([(o, o.track.state()) for o in tracker.open_transits()])
    closed: list[Transit] = tracker.flush()
    seen += [closed, tracker.noise_transits, tracker.clutter_frames, tracker.stuck_frames_dropped]
    return seen


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(STEP, max_size=60), waits=st.lists(WAITS, min_size=60, max_size=60))
def test_join_then_record_is_update_frame(
    steps: list[tuple[object, ...]], waits: list[float]
) -> None:
    assert _play(steps, waits, split=True) == _play(steps, waits, split=False)


def _moved_frame(*, split: bool) -> TransitTracker:
    """An OPS243-C vehicle tracked with ranges for six frames; the seventh speed frame joins it,
    but its range report, read with it, is 20 m away: another vehicle's frame."""
    tracker = TransitTracker(TrackingConfig(min_samples=3), 10.0, lateral_offset_m=3.0)
    for i in range(7):
        t = 0.1 * i
        frame = SpeedFrame(t, 45.0 if i < 6 else 46.0)
        tracker.join_frame(frame) if split else tracker.update_frame(frame)
        tracker.update_ranges(RangeFrame(t, (60.0 - 1.25 * i if i < 6 else 20.0,)))
    return tracker


def test_a_frame_its_range_report_moves_leaves_the_first_track_as_it_was() -> None:
    split, whole = _moved_frame(split=True), _moved_frame(split=False)
    states = [[(o, o.track.state()) for o in t.open_transits()] for t in (split, whole)]
    assert states[0] == states[1]
    first, second = split.open_transits()
    assert (first.samples, first.track.run_len, first.track.last_t) == (6, 6, 0.5)
    assert (second.samples, second.track.run_len) == (1, 1)
