"""The warning path end to end in memory: lines in, beacon calls and vehicle events out."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pole_agent.clock import ManualClock
from pole_agent.config import RadarConfig, TrackingConfig, WarningConfig, ZoneConfig
from pole_agent.decisions.beacon_policy import BeaconPolicy
from pole_agent.decisions.zone_schedule import ZoneSchedule
from pole_agent.perception.transit import TransitTracker
from pole_agent.radar_pipeline import RadarPipeline
from pole_agent.telemetry.reporter import Reporter

POLE = "pipe-pole"
START_MONO = 1000.0
#: 17:00 in Seoul: inside the default 07:00-21:00 window.
DAY_WALL = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
#: 22:00 in Seoul: outside it.
NIGHT_WALL = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)
MAX_KMH = RadarConfig(sample_rate_hz=20000).max_speed_kmh
HOLD_S = 3.0
GAP_S = 1.0
DT = 0.1


@dataclass
class RecordingBeacons:
    """A BeaconOutput that records each call with the clock's time and keeps its state."""

    clock: ManualClock
    calls: list[tuple[str, float]] = field(default_factory=list)
    lit: bool = False
    closed: bool = False

    def activate(self) -> None:
        self.calls.append(("activate", self.clock.monotonic()))
        if not self.closed:
            self.lit = True

    def deactivate(self) -> None:
        self.calls.append(("deactivate", self.clock.monotonic()))
        self.lit = False

    @property
    def active(self) -> bool:
        return self.lit

    def close(self) -> None:
        self.calls.append(("close", self.clock.monotonic()))
        self.lit = False
        self.closed = True

    def times(self, name: str) -> list[float]:
        return [t for call, t in self.calls if call == name]


@dataclass
class RecordingPublisher:
    messages: list[tuple[str, bytes]] = field(default_factory=list)

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        self.messages.append((topic, payload))

    def link_state(self) -> str:
        return "connected"

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(p) for t, p in self.messages if t.endswith("/events/vehicle")]


@dataclass
class Rig:
    clock: ManualClock
    beacons: RecordingBeacons
    publisher: RecordingPublisher
    tracker: TransitTracker
    pipeline: RadarPipeline

    def feed(self, *lines: bytes, dt: float = DT) -> float:
        """Deliver each line ``dt`` after the previous one; returns the last line's time."""
        for line in lines:
            self.clock.advance(dt)
            self.pipeline.on_line(line, self.clock.monotonic())
        return self.clock.monotonic()

    def tick_until(self, until: float, step: float = 0.25) -> None:
        while self.clock.monotonic() + step <= until + 1e-9:
            self.clock.advance(step)
            self.pipeline.on_tick(self.clock.monotonic())


def make_rig(
    wall: datetime = DAY_WALL,
    angle: float = 0.0,
    confirm_frames: int = 2,
    zone: ZoneConfig | None = None,
) -> Rig:
    clock = ManualClock(start_wall=wall, start_monotonic=START_MONO)
    beacons = RecordingBeacons(clock)
    publisher = RecordingPublisher()
    tracker = TransitTracker(TrackingConfig(gap_s=GAP_S, min_samples=3, min_speed_kmh=5), angle)
    pipeline = RadarPipeline(
        clock=clock,
        schedule=ZoneSchedule(zone or ZoneConfig()),
        tracker=tracker,
        policy=BeaconPolicy(WarningConfig(confirm_frames=confirm_frames, hold_s=HOLD_S)),
        beacons=beacons,
        reporter=Reporter(POLE, "boot-1", clock, publisher, ["radar", "beacons"]),
        max_speed_kmh=MAX_KMH,
    )
    return Rig(clock, beacons, publisher, tracker, pipeline)


def beacons_on(rig: Rig) -> bool:
    """The fake beacons' state (a call, so that mypy does not narrow it between steps)."""
    return rig.beacons.active


def zone_active(rig: Rig) -> bool:
    return rig.pipeline.zone.active


@pytest.fixture
def rig() -> Rig:
    return make_rig()


def wall_of(mono: float, wall: datetime = DAY_WALL) -> datetime:
    return wall + timedelta(seconds=mono - START_MONO)


def test_zone_state_at_start(rig: Rig) -> None:
    assert zone_active(rig) is True
    assert rig.pipeline.zone.limit_kmh == 30.0


def test_approaching_speeder_warns_on_the_second_over_limit_frame(rig: Rig) -> None:
    rig.feed(b"22.0", b"27.5")
    first_over = rig.feed(b"36.0")
    assert rig.beacons.calls == []
    second_over = rig.feed(b"41.0")
    assert rig.beacons.calls == [("activate", second_over)]
    assert first_over < second_over
    assert rig.pipeline.warnings_given == 1
    end = rig.feed(b"44.0", b"43.0", b"38.0")
    assert rig.beacons.times("activate") == [second_over]
    assert beacons_on(rig) is True

    # The vehicle is gone: the transit closes after the gap, the beacons at end + hold.
    rig.tick_until(end + HOLD_S - 0.25)
    assert rig.beacons.times("deactivate") == []
    assert beacons_on(rig) is True
    rig.tick_until(end + HOLD_S + 1.0)
    (off,) = rig.beacons.times("deactivate")
    assert end + HOLD_S <= off < end + HOLD_S + 0.25 + 1e-9
    assert beacons_on(rig) is False

    (event,) = rig.publisher.events()
    assert event["warned"] is True
    assert event["over_limit"] is True
    assert event["direction"] == "approaching"
    # The record is the vehicle's track (perception/speed_track.py): 27.5 -> 36 in 0.1 s is
    # more than a vehicle can do, so 22 and 27.5 are not in it; its peak is the highest speed
    # held on two consecutive frames (44 then 43).
    assert event["speed_kmh"] == 43.0
    assert event["samples"] == 5
    assert event["limit_kmh"] == 30.0
    assert event["zone_active"] is True
    assert event["pole_id"] == POLE
    assert event["seq"] == 1
    assert datetime.fromisoformat(event["ts"]) == wall_of(end)
    warning = event["warning"]
    assert warning["rule"] == "over-limit-approaching"
    assert warning["speed_kmh"] == 41.0
    assert warning["limit_kmh"] == 30.0
    assert warning["confirm_frames"] == 2
    assert datetime.fromisoformat(warning["at"]) == wall_of(second_over)
    assert rig.pipeline.transits_reported == 1
    assert rig.pipeline.recent[-1].warned is True


def test_no_second_event_or_activation_after_the_hold(rig: Rig) -> None:
    end = rig.feed(b"40", b"41", b"42")
    rig.tick_until(end + 20.0)
    assert len(rig.publisher.events()) == 1
    assert len(rig.beacons.times("activate")) == 1
    assert len(rig.beacons.times("deactivate")) == 1


def test_receding_speeder_is_reported_without_warning(rig: Rig) -> None:
    end = rig.feed(b"-55", b"-58", b"-61", b"-60", b"-57")
    rig.tick_until(end + 2.0)
    assert rig.beacons.calls == []
    (event,) = rig.publisher.events()
    assert event["direction"] == "receding"
    assert event["speed_kmh"] == 60.0  # held on two frames (61 then 60)
    assert event["over_limit"] is True
    assert event["warned"] is False
    assert event["warning"] is None
    assert rig.pipeline.last_speed_kmh == -57.0


def test_under_limit_vehicle_is_reported_without_warning(rig: Rig) -> None:
    end = rig.feed(b"25", b"28", b"29.9", b"30", b"27")
    rig.tick_until(end + 2.0)
    assert rig.beacons.calls == []
    (event,) = rig.publisher.events()
    assert event["over_limit"] is False
    assert event["warned"] is False


def test_garbage_lines_are_counted_by_reason_and_never_warn(rig: Rig) -> None:
    garbage = [
        b'{"speed":45',
        b'{"speed":45',
        b"nan",
        b"inf",
        b"999",
        b"999",
        b"999",
        b"\xff\xfe45",
        b'{"speed":true}',
        b'{"speed":[45, 46],"magnitude":[9]}',
        b"45 km/h",
        b"1" * 600,
    ]
    end = rig.feed(*garbage)
    rig.tick_until(end + 10.0)
    assert rig.pipeline.rejected == Counter(
        {
            "bad_json": 2,
            "not_finite": 2,
            "out_of_range": 3,
            "not_text": 1,
            "not_a_number": 2,
            "array_mismatch": 1,
            "too_long": 1,
        }
    )
    assert rig.pipeline.frames == 0
    assert rig.beacons.calls == []
    assert rig.publisher.events() == []


def test_999_lines_between_normal_frames_never_warn(rig: Rig) -> None:
    lines: list[bytes] = []
    for _ in range(10):
        lines += [b"25.0", b"999", b"-999", b"26.0"]
    end = rig.feed(*lines)
    rig.tick_until(end + 10.0)
    assert rig.beacons.calls == []
    assert rig.pipeline.rejected["out_of_range"] == 20
    (event,) = rig.publisher.events()
    assert event["warned"] is False
    assert event["speed_kmh"] == 25.0  # the highest speed held on two frames (25, 26, 25...)
    assert event["samples"] == 20


def test_single_over_limit_spikes_between_under_limit_frames_never_warn(rig: Rig) -> None:
    lines: list[bytes] = []
    for _ in range(8):
        lines += [b"25.0", b"999", b"58.0", b"24.0"]
    end = rig.feed(*lines)
    rig.tick_until(end + 10.0)
    assert rig.beacons.calls == []
    # The 58s are too far from the 25s to be the same vehicle: they make a transit of their own,
    # but never two consecutive sensor frames, so no warning; and never a run of frames a
    # vehicle could make, so no vehicle event either: they are counted as clutter.
    (slow,) = rig.publisher.events()
    assert slow["warned"] is False and slow["over_limit"] is False
    assert slow["samples"] == 16
    assert rig.pipeline.clutter_frames == 8


def test_two_rain_spikes_with_blank_frames_between_never_warn(rig: Rig) -> None:
    """Blank and zero frames do not break an over-limit streak (a real car's echo drops out),
    but the two frames must be one vehicle's speeds: spikes at 72 and 51 km/h are not."""
    end = rig.feed(b"72.0", b"", b"0", b"51.0", b"", b"0", b"88.0")
    rig.tick_until(end + 10.0)
    assert rig.beacons.calls == []


def test_a_speeder_with_a_spike_in_its_pass_is_still_warned(rig: Rig) -> None:
    """A spike between a speeder's frames restarts its confirmation; its next two frames warn."""
    second = rig.feed(b"42.0", b"95.0", b"42.5", b"43.0")
    assert rig.beacons.times("activate") == [second]
    rig.feed(b"43.5")
    assert beacons_on(rig) is True  # still on: the transit goes on


def test_no_target_and_info_lines_do_not_count_as_frames(rig: Rig) -> None:
    rig.feed(b"", b"0.0", b'{"Units":"km-per-hr"}', b'{"Product":"OPS243"}')
    assert rig.pipeline.frames == 0
    assert list(rig.pipeline.info_lines) == [{"Units": "km-per-hr"}, {"Product": "OPS243"}]
    assert rig.pipeline.rejected.total() == 0
    assert rig.beacons.calls == []


def test_blank_lines_do_not_break_a_streak_or_close_a_transit(rig: Rig) -> None:
    second = rig.feed(b"35", b"", b"0", b"36")
    assert rig.beacons.times("activate") == [second]


def test_flush_reports_an_open_transit(rig: Rig) -> None:
    rig.feed(b"20", b"21", b"22", b"23", b"24")
    assert rig.publisher.events() == []
    rig.pipeline.flush()
    (event,) = rig.publisher.events()
    assert event["samples"] == 5
    assert event["speed_kmh"] == 23.0  # held on two frames
    assert event["warned"] is False
    assert rig.tracker.open_transits() == []


def test_flush_of_a_warned_transit_reports_it_and_puts_the_beacons_out(rig: Rig) -> None:
    rig.feed(b"40", b"41", b"42")
    assert beacons_on(rig) is True
    rig.pipeline.flush()
    assert beacons_on(rig) is False
    assert rig.beacons.calls[-1][0] == "deactivate"
    (event,) = rig.publisher.events()
    assert event["warned"] is True


def test_noise_transit_is_not_reported(rig: Rig) -> None:
    end = rig.feed(b"20", b"21")
    rig.tick_until(end + 5.0)
    assert rig.publisher.events() == []
    assert rig.tracker.noise_transits == 1
    assert rig.pipeline.transits_reported == 0


def test_warned_noise_transit_is_reported_and_the_warning_ends(rig: Rig) -> None:
    end = rig.feed(b"45", b"47")  # two frames: warns, then ends as noise (min_samples 3)
    assert rig.beacons.times("activate") == [end]
    rig.tick_until(end + HOLD_S + 1.0)
    (event,) = rig.publisher.events()
    assert event["warned"] is True
    assert event["samples"] == 2
    assert beacons_on(rig) is False
    (off,) = rig.beacons.times("deactivate")
    assert off >= end + HOLD_S


def test_two_vehicles_separated_by_more_than_the_gap(rig: Rig) -> None:
    first_end = rig.feed(b"40", b"41", b"42", b"43", b"44")
    rig.clock.advance(GAP_S + 0.5)
    second_end = rig.feed(b"-25", b"-26", b"-27", b"-28", b"-29")
    rig.feed(b"24", b"25", b"26", b"27", b"28")
    rig.tick_until(rig.clock.monotonic() + 10.0)
    events = rig.publisher.events()
    assert [e["seq"] for e in events] == [1, 2, 3]
    assert [e["warned"] for e in events] == [True, False, False]
    assert datetime.fromisoformat(events[0]["ts"]) == wall_of(first_end)
    assert datetime.fromisoformat(events[1]["ts"]) == wall_of(second_end)


def test_night_zone_never_warns_and_reports_the_off_hours_limit() -> None:
    rig = make_rig(wall=NIGHT_WALL)
    assert zone_active(rig) is False
    end = rig.feed(b"45", b"47", b"49", b"48", b"47")
    rig.tick_until(end + 10.0)
    assert rig.beacons.calls == []
    (event,) = rig.publisher.events()
    assert event["zone_active"] is False
    assert event["limit_kmh"] == 50.0
    assert event["over_limit"] is False
    assert event["warned"] is False


def test_on_tick_refreshes_the_zone_state() -> None:
    # 20:59:50 in Seoul: active for ten more seconds.
    rig = make_rig(wall=datetime(2026, 3, 2, 11, 59, 50, tzinfo=UTC))
    rig.pipeline.on_tick(rig.clock.monotonic())
    assert zone_active(rig) is True
    rig.clock.advance(15.0)
    rig.pipeline.on_tick(rig.clock.monotonic())
    assert zone_active(rig) is False
    assert rig.pipeline.zone.limit_kmh == 50.0
    end = rig.feed(b"45", b"47", b"49", b"50", b"51")
    assert rig.beacons.calls == []
    rig.tick_until(end + 5.0)
    assert rig.publisher.events()[0]["warned"] is False


def test_mounting_angle_correction_comes_before_the_limit() -> None:
    # At 15 degrees, 28 km/h radial is 28.99 km/h on the ground, 29.5 radial is 30.54.
    under = make_rig(angle=15.0)
    end = under.feed(b"28", b"28", b"28", b"28")
    under.tick_until(end + 5.0)
    assert under.beacons.calls == []
    over = make_rig(angle=15.0)
    second = over.feed(b"29.5", b"29.5")
    assert over.beacons.times("activate") == [second]
    assert over.pipeline.last_speed_kmh == pytest.approx(30.54, abs=0.01)


def test_confirm_frames_three_needs_three() -> None:
    rig = make_rig(confirm_frames=3)
    rig.feed(b"40", b"41")
    assert rig.beacons.calls == []
    third = rig.feed(b"42")
    assert rig.beacons.times("activate") == [third]


def test_overlapping_warned_vehicles_keep_the_beacons_on(rig: Rig) -> None:
    rig.feed(b"40", b"41", b"42")
    # A second vehicle: the first's transit closes on the first frame after the gap.
    rig.clock.advance(GAP_S + 0.2)
    second_end = rig.feed(b"50", b"51", b"52")
    assert beacons_on(rig) is True
    rig.tick_until(second_end + HOLD_S - 0.25)
    assert beacons_on(rig) is True
    rig.tick_until(second_end + HOLD_S + 0.5)
    assert beacons_on(rig) is False
    assert len(rig.beacons.times("deactivate")) == 1
    assert [e["warned"] for e in rig.publisher.events()] == [True, True]
