"""The warning path on a simulated pole, timed on the simulated clock: the whole agent on the
OPS243 emulator, the rev 2 board's pins read back, the speaker recording what it would play."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from pole_agent.decisions.clock_trust import TimeMark
from pole_agent.telemetry import schema_files
from simulator.pedestrians import Pedestrian
from simulator.world import Vehicle
from tests.decisions.scenario import (
    AMP,
    BEACON,
    HEARTBEAT,
    SEOUL,
    SIGN,
    WarningPole,
    make_warning_pole,
)

# Tuesday 3 March 2026 (a school day).
MORNING = datetime(2026, 3, 3, 8, 10, tzinfo=SEOUL)
MID_MORNING = datetime(2026, 3, 3, 10, 30, tzinfo=SEOUL)
NIGHT = datetime(2026, 3, 3, 23, 0, tzinfo=SEOUL)
MESSAGE = ("chime", "car_coming_ko", "car_coming_en")


@pytest.fixture
def poles() -> Iterator[list[WarningPole]]:
    made: list[WarningPole] = []
    yield made
    for pole in made:
        pole.stop()


def child(enter_s: float, *, pid: int = 500, age: str = "child") -> Pedestrian:
    """Walks from 2.5 m up the footway towards the road at 1 m/s: reaches the kerb band (1 m
    from the kerb) 1.0 s after ``enter_s``, steps onto the crosswalk at 2.0 s."""
    return Pedestrian(
        pedestrian_id=pid,
        enter_s=enter_s,
        age_group=age,  # type: ignore[arg-type]
        height_m=1.2 if age == "child" else 1.7,
        speed_mps=1.0,
        start_xy=(6.0, 1.5),
        heading_deg=-90.0,
        duration_s=6.0,
    )


def test_child_steps_out_as_a_speeding_car_approaches(
    tmp_path: Path, poles: list[WarningPole]
) -> None:
    car = Vehicle(1, 4.0, 50.0, "approaching")  # in the beam 4.0 .. 7.6
    pole = make_warning_pole(tmp_path, start_wall=MORNING, vehicles=[car], pedestrians=[child(4.5)])
    poles.append(pole)
    pole.start()
    pole.until(12.0)
    pole.stop()

    at_kerb = 5.5  # the child enters the kerb band
    # One episode (a starved test machine may split it: then the voice is held by the cool-down).
    warning = pole.records("child_warning")[0]
    # Limits allow for a busy machine: at x10, 10 ms of real delay is 0.1 simulated s.
    assert at_kerb <= warning.t <= at_kerb + 1.0
    assert warning.rule == "child-at-kerb-vehicle-approaching"
    assert warning.inputs["pedestrian_kind"] == "child"
    assert warning.inputs["pedestrian_where"] == "kerb"
    assert warning.inputs["vehicle_arrival_s"] is None  # an OPS243-A gives no range
    assert warning.inputs["vehicle_speed_kmh"] == pytest.approx(50.0, abs=1.5)
    assert warning.inputs["zone_active"] is True
    assert any(o.startswith("voice:chime,car_coming_ko,car_coming_en@0.8") for o in warning.outputs)

    (played,) = pole.played()
    assert played.clips == MESSAGE
    assert played.volume == 0.8
    assert played.rms > 0.05
    assert warning.t <= played.t <= warning.t + 1.5  # amplifier warm-up 0.1 s (+ scheduling)

    sign_on = pole.first_on(SIGN["child_crossing"])
    amp_on = pole.first_on(AMP)
    assert sign_on is not None and warning.t <= sign_on <= warning.t + 1.0
    assert amp_on is not None and warning.t <= amp_on <= warning.t + 1.5
    amp_changes = pole.changes(AMP)
    assert [v for _, v in amp_changes] == [True, False]
    assert amp_changes[1][0] - amp_changes[0][0] == pytest.approx(0.1 + played.duration_s, abs=1.5)

    # The decision is published for the city (events/decision), valid against its schema.
    published = [
        json.loads(payload)
        for topic, payload in pole.agent.reporter.published
        if topic.endswith("/events/decision")
    ]
    child_events = [e for e in published if e["kind"] == "child_warning"]
    assert child_events, pole.agent.reporter.published
    assert child_events[0]["rule"] == warning.rule
    assert child_events[0]["inputs"]["pedestrian_kind"] == "child"
    jsonschema.validate(child_events[0], schema_files.schema_of("event-decision"))

    # The driver was warned first for speed, then the sign switched to CHILD CROSSING.
    (over,) = pole.records("over_limit")
    assert over.t < warning.t
    assert pole.first_on(BEACON) == pytest.approx(over.t, abs=1.0)
    slow_on = pole.first_on(SIGN["slow_down"])
    assert slow_on is not None and slow_on <= warning.t
    shown = [text for _, text in pole.displayed() if text]
    assert shown and all(48 <= int(text) <= 52 for text in shown)


def test_an_adult_at_the_kerb_does_not_trigger_the_child_warning(
    tmp_path: Path, poles: list[WarningPole]
) -> None:
    car = Vehicle(1, 4.0, 50.0, "approaching")
    pole = make_warning_pole(
        tmp_path, start_wall=MORNING, vehicles=[car], pedestrians=[child(4.5, age="adult")]
    )
    poles.append(pole)
    pole.start()
    pole.until(10.0)
    pole.stop()
    assert pole.feed.reported and {s.kind for s in pole.feed.reported} == {"adult"}
    assert pole.records("child_warning") == []
    assert pole.played() == []
    assert pole.first_on(SIGN["child_crossing"]) is None
    assert pole.first_on(SIGN["slow_down"]) is not None


def test_a_vehicle_racing_the_sign_gets_a_blank_display(
    tmp_path: Path, poles: list[WarningPole]
) -> None:
    normal = Vehicle(1, 3.0, 40.0, "approaching")
    racer = Vehicle(2, 12.0, 100.0, "approaching")  # in the beam 12.0 .. 13.8
    pole = make_warning_pole(tmp_path, start_wall=MORNING, vehicles=[normal, racer])
    poles.append(pole)
    pole.start()
    pole.until(20.0)
    pole.stop()
    displayed = pole.displayed()
    first = [text for t, text in displayed if t < 11.0 and text]
    assert first and all(38 <= int(text) <= 42 for text in first)
    during = [text for t, text in displayed if t >= 11.0 and text]
    assert during == [], f"the racer's speed was shown: {during}"
    (blanked,) = pole.records("display_blanked")
    assert 12.0 <= blanked.t <= 13.5
    assert blanked.inputs["speed_kmh"] == pytest.approx(100.0, abs=2.0)
    # It is still warned: beacons and SLOW DOWN.
    overs = pole.records("over_limit")
    assert len(overs) == 2
    assert pole.first_on(SIGN["slow_down"], after=12.0) is not None


def test_the_radar_dying_mid_morning_falls_to_fail_safe_and_back(
    tmp_path: Path, poles: list[WarningPole]
) -> None:
    pole = make_warning_pole(
        tmp_path, start_wall=MID_MORNING, vehicles=[Vehicle(1, 3.0, 45.0, "approaching")]
    )
    poles.append(pole)
    pole.start()
    pole.until(15.0)  # the car's warning (and its hold) is over
    assert beacons_active(pole) is False
    modes = pole.records("mode")
    assert [r.inputs["mode"] for r in modes] == ["normal"]
    assert pole.first_on(SIGN["school_zone"]) is None
    heartbeats_before = len(pole.changes(HEARTBEAT))
    assert heartbeats_before >= 10  # 2 Hz square wave: a change every 0.25 simulated s

    died = pole.clock.monotonic()
    pole.emulator.unplug()
    pole.until(died + 12.0)
    modes = pole.records("mode")
    assert [r.inputs["mode"] for r in modes] == ["normal", "fail_safe"]
    fail = modes[-1]
    assert fail.t - died < 2.0  # reliability row 7: fault within 2 s
    assert "no usable vehicle sensor: radar.road failed" in str(fail.inputs["reason"])
    assert "beacons:flash" in fail.outputs and "display:blank" in fail.outputs
    beacon = [(t, v) for t, v in pole.changes(BEACON) if t >= fail.t]
    assert beacon and beacon[0][1] is True and beacon[0][0] - fail.t < 3.0
    school_on = pole.first_on(SIGN["school_zone"], after=fail.t - 0.01)
    assert school_on is not None and school_on - fail.t < 3.0
    assert not any(text for t, text in pole.displayed() if t > fail.t)
    # Flashing steadily (the flasher runs in real time: 1 Hz is 10 simulated s at x10).
    assert beacons_active(pole) is True
    assert len(beacon) >= 2
    # The agent itself is fine: the heartbeat goes on, the pole's own flasher stays out.
    assert len(pole.changes(HEARTBEAT)) > heartbeats_before + 20

    back = pole.clock.monotonic()
    pole.emulator.replug()
    # The driver reopens the port with backoff; then the radar must be healthy 5 s.
    assert pole.wait_for(lambda: len(pole.records("mode")) == 3, timeout_s=30.0)
    pole.stop()
    modes = pole.records("mode")
    assert [r.inputs["mode"] for r in modes] == ["normal", "fail_safe", "normal"]
    assert modes[-1].t - back >= 5.0  # healthy for fail_safe_recovery_s first
    assert pole.changes(SIGN["school_zone"])[-1][1] is False


def test_night_is_quiet(tmp_path: Path, poles: list[WarningPole]) -> None:
    speeder = Vehicle(1, 3.0, 60.0, "approaching")
    late_car = Vehicle(2, 14.0, 45.0, "approaching")
    pole = make_warning_pole(
        tmp_path, start_wall=NIGHT, vehicles=[speeder, late_car], pedestrians=[child(14.0)]
    )
    poles.append(pole)
    pole.start()
    pole.until(13.0)
    # 23:00: the zone is off (07:00-21:00), so a speeder gets no beacons, message or number.
    (mode,) = pole.records("mode")
    assert mode.inputs["mode"] == "off_hours"
    assert pole.first_on(BEACON) is None
    assert all(pole.first_on(gpio) is None for gpio in SIGN.values())
    assert not any(text for _, text in pole.displayed())
    assert pole.records("over_limit") == []
    pole.until(22.0)
    pole.stop()
    # A child at the kerb with a car coming is still warned, at the quiet volume.
    warning = pole.records("child_warning")[0]
    assert warning.inputs["quiet_hours"] is True
    (played,) = pole.played()
    assert played.volume == 0.3
    assert pole.first_on(SIGN["child_crossing"]) is not None


def test_a_clock_that_boots_in_the_past_runs_the_school_hours_mode(
    tmp_path: Path, poles: list[WarningPole]
) -> None:
    # The pole saved a trusted time in November 2026, then booted without time sync at
    # "1 January 2020, 03:00" (a night hour, when the zone would be off).
    (tmp_path / "state").mkdir()
    TimeMark(tmp_path / "state" / "clock-mark").save(datetime(2026, 11, 20, tzinfo=UTC))
    past = datetime(2020, 1, 1, 3, 0, tzinfo=SEOUL)
    pole = make_warning_pole(
        tmp_path,
        start_wall=past,
        vehicles=[Vehicle(1, 3.0, 45.0, "approaching"), Vehicle(2, 20.0, 45.0, "approaching")],
        kernel_synced=False,
    )
    poles.append(pole)
    pole.start()
    pole.until(10.0)
    (mode,) = pole.records("mode")
    assert mode.inputs["mode"] == "degraded"
    assert mode.inputs["clock_trusted"] is False
    assert "before the build date" in str(mode.inputs["reason"])
    clock = pole.agent.health.get("clock")
    assert clock is not None and clock.state == "degraded"
    # School-hours behaviour: the speeder at "03:00" is warned.
    (over,) = pole.records("over_limit")
    assert over.inputs["zone_window"] == "conservative"
    assert over.inputs["zone_conservative"] is True
    assert pole.first_on(BEACON) is not None
    assert pipeline_zone_conservative(pole)

    # Time sync arrives (the kernel now vouches for the clock): 03:00 is off-hours.
    pole.probe.synced = True
    pole.until(30.0)
    pole.stop()
    assert [r.inputs["mode"] for r in pole.records("mode")] == ["degraded", "off_hours"]
    assert len(pole.records("over_limit")) == 1  # the second car is not warned
    clock = pole.agent.health.get("clock")
    assert clock is not None and clock.state == "ok"


def pipeline_zone_conservative(pole: WarningPole) -> bool:
    return pole.agent.pipeline.zone.conservative


def beacons_active(pole: WarningPole) -> bool:
    return pole.agent.beacons.active
