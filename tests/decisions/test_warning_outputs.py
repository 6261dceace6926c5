"""The controller that applies decisions to the outputs, on a manual clock and journaled mock
pins: the heartbeat and the agent's own health, detections from another thread, faults on the
warning path, records to listeners, and building it from the config."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from pole_agent.board_profile import load_profile
from pole_agent.clock import ManualClock
from pole_agent.config import AudioConfig, PoleConfig, RadarConfig, RadarsConfig, ZoneConfig
from pole_agent.decisions.warning_policy import DecisionRecord
from pole_agent.ports import PedestrianSeen, VehicleApproaching
from pole_agent.warning_outputs import FAULT_HOLD_S, in_daily_window
from pole_agent.warning_setup import SetupError
from tests.decisions.scenario import AMP, BEACON, HEARTBEAT, SEOUL, SIGN
from tests.pole_rig import ROOT, WarningSide

V2 = load_profile(ROOT / "hw" / "boards" / "spole-rpi4-v2.toml")
MORNING = datetime(2026, 3, 3, 8, 0, tzinfo=SEOUL)
Rig = WarningSide


def mode_of(rig: Rig) -> str | None:
    """The mode now (a call, so that mypy does not narrow it between steps)."""
    return rig.parts.outputs.mode


def config(tmp_path: Path, **update: Any) -> PoleConfig:
    base = PoleConfig(
        pole_id="unit",
        state_dir=tmp_path,
        radars=RadarsConfig(road=RadarConfig(port="/dev/null")),
        audio=AudioConfig(player="record", amp_warmup_s=0.0),
    )
    return base.model_copy(update=update)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    clock = ManualClock(start_wall=MORNING, start_monotonic=100.0)
    made = WarningSide.build(config(tmp_path), V2, clock)
    yield made
    made.close()


def test_heartbeat_toggles_while_healthy_and_stops_when_the_agent_is_not(rig: Rig) -> None:
    rig.step(5.0)
    beats = rig.changes(HEARTBEAT)
    assert 18 <= len(beats) <= 21  # 2 Hz: a change every 0.25 s
    assert mode_of(rig) == "normal"
    rig.health.report("agent", "failed", "pipeline stuck", rig.clock.monotonic())
    rig.step(0.2)
    stopped = len(rig.changes(HEARTBEAT))
    rig.step(5.0)
    assert len(rig.changes(HEARTBEAT)) == stopped
    (_, fail) = list(rig.parts.outputs.transitions)
    assert fail.mode == "fail_safe"
    assert fail.heartbeat is False
    assert fail.reason == "agent not healthy: agent: pipeline stuck"
    record = rig.parts.outputs.records[-1]
    assert "heartbeat:stopped" in record.outputs
    assert rig.beacons.active is True  # and the software flashes too, while it can
    rig.health.report("agent", "ok", "fine", rig.clock.monotonic())
    rig.step(6.0)
    assert len(rig.changes(HEARTBEAT)) > stopped
    assert mode_of(rig) == "normal"


class Boom:
    """A sign whose driver raises once on a message: a bug on the warning path."""

    def __init__(self) -> None:
        self.raised = False

    def show(self, message: str | None) -> None:
        if message is not None and not self.raised:
            self.raised = True
            raise RuntimeError("sign driver bug")

    def close(self) -> None:
        return None


def test_a_fault_on_the_warning_path_stops_the_heartbeat_for_a_while(rig: Rig) -> None:
    rig.parts.outputs._sign = Boom()  # the sign driver fails once
    rig.step(1.0)
    rig.parts.outputs.vehicle(VehicleApproaching(t=rig.clock.monotonic(), speed_kmh=40.0))
    rig.parts.outputs.pedestrian(PedestrianSeen(t=rig.clock.monotonic(), kind="child"))
    assert rig.parts.outputs.faults == 1
    assert mode_of(rig) == "fail_safe"
    stopped = len(rig.changes(HEARTBEAT))
    rig.step(FAULT_HOLD_S - 1.0)
    assert len(rig.changes(HEARTBEAT)) == stopped
    rig.step(FAULT_HOLD_S)
    assert len(rig.changes(HEARTBEAT)) > stopped
    assert mode_of(rig) == "normal"


def test_a_detection_from_another_thread_lights_the_outputs_at_once(rig: Rig) -> None:
    rig.step(1.0)
    now = rig.clock.monotonic()
    rig.parts.outputs.vehicle(VehicleApproaching(t=now, speed_kmh=40.0, source="camera"))
    done = threading.Event()

    def detect() -> None:
        rig.parts.outputs.pedestrian(PedestrianSeen(t=now, kind="child", range_m=3.0))
        done.set()

    threading.Thread(target=detect).start()
    assert done.wait(5.0)
    assert rig.level(SIGN["child_crossing"]) is True
    assert rig.level(BEACON) is True
    record = rig.parts.outputs.records[-1]
    assert record.kind == "child_warning"
    assert record.inputs["pedestrian_range_m"] == 3.0


def test_records_reach_listeners_and_a_failing_listener_is_contained(rig: Rig) -> None:
    got: list[DecisionRecord] = []

    def broken(record: DecisionRecord) -> None:
        raise ValueError("listener bug")

    rig.parts.outputs.subscribe(broken)
    rig.parts.outputs.subscribe(got.append)
    rig.step(0.5)
    now = rig.clock.monotonic()
    rig.parts.outputs.vehicle(VehicleApproaching(t=now, speed_kmh=40.0))
    rig.parts.outputs.pedestrian(PedestrianSeen(t=now, kind="child"))
    assert [r.kind for r in got] == ["mode", "child_warning"]
    assert rig.parts.outputs.faults == 0


def test_speaker_amplifier_follows_the_recorded_playback(rig: Rig) -> None:
    rig.step(0.5)
    now = rig.clock.monotonic()
    rig.parts.outputs.vehicle(VehicleApproaching(t=now, speed_kmh=40.0))
    rig.parts.outputs.pedestrian(PedestrianSeen(t=now, kind="child"))
    # The recording backend takes the clip's duration on the (manual) clock, advancing it.
    voice = rig.parts.voice
    deadline = time.monotonic() + 10.0
    while not getattr(voice, "played", None) and time.monotonic() < deadline:
        time.sleep(0.01)
    (on, off) = rig.changes(AMP)
    assert (on[1], off[1]) == (True, False)
    played = voice.played[-1]  # type: ignore[attr-defined]
    assert played.clips == ("chime", "car_coming_ko", "car_coming_en")
    assert off[0] - on[0] == pytest.approx(played.duration_s, abs=0.01)


def test_quiet_hours_window() -> None:
    from datetime import time

    assert in_daily_window(time(21), time(7), time(23)) is True
    assert in_daily_window(time(21), time(7), time(6, 59)) is True
    assert in_daily_window(time(21), time(7), time(7)) is False
    assert in_daily_window(time(9), time(17), time(12)) is True
    assert in_daily_window(time(0), time(0), time(12)) is True


def test_a_bad_calendar_file_stops_the_build(tmp_path: Path) -> None:
    bad = tmp_path / "calendar.toml"
    bad.write_text("[[holiday]]\nname = 'no date'\n")
    with pytest.raises(SetupError, match=r"zone\.calendar_file: .*holiday\[0\]"):
        WarningSide.build(config(tmp_path, zone=ZoneConfig(calendar_file=bad)), V2, ManualClock())


def test_damaged_clips_degrade_to_silence_and_say_so(tmp_path: Path) -> None:
    damaged = config(tmp_path, audio=AudioConfig(player="record", clips_dir=tmp_path))
    side = WarningSide.build(damaged, V2, ManualClock(), road_radar_ok=False)
    try:
        audio = side.health.get("audio")
        assert audio is not None and audio.state == "failed"
        assert "clips unusable" in audio.reason
        assert side.parts.voice.play(("chime",), 1.0, "x") is False
    finally:
        side.close()
