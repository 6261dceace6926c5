"""Both radars in the whole agent (app wiring), and arrival time with and without range."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from pole_agent.app import build_agent
from pole_agent.clock import ScaledClock
from pole_agent.config import RadarConfig, load_config
from pole_agent.perception.radar_lines import SpeedFrame
from simulator.ops243_emulator import Ops243Emulator
from simulator.world import Vehicle, World
from tests.integration.harness import SIM_CONFIG
from tests.radar.pipeline_rig import pipeline_rig
from tests.radar.rig import wait_for


def test_road_and_kerb_radars_run_side_by_side(tmp_path: Path) -> None:
    clock = ScaledClock(10.0)
    road_world = World([Vehicle(1, 3.0, 45.0, "approaching")], angle_deg=15.0)
    kerb_world = World([Vehicle(2, 2.0, 6.0, "approaching", beam_length_m=8.0)])
    road = Ops243Emulator(road_world, clock, tmp_path, seed=1, link_name="road")
    kerb = Ops243Emulator(kerb_world, clock, tmp_path, seed=2, link_name="kerb")
    base = load_config(SIM_CONFIG)
    radars = base.radars.model_copy(
        update={
            "road": base.radars.road.model_copy(update={"port": road.port}),
            "kerb": RadarConfig(port=kerb.port, sample_rate_hz=10000),
        }
    )
    config = base.model_copy(
        update={
            "radars": radars,
            "outputs": base.outputs.model_copy(update={"pin_factory": "mock"}),
            "state_dir": tmp_path / "state",
            "mqtt": None,
        }
    )
    agent = build_agent(config, clock, pin_factory=MockFactory(pin_class=MockPWMPin))
    assert agent.kerb_radar is not None and agent.kerb_frames is not None
    kerb_frames = agent.kerb_frames
    got: list[SpeedFrame] = []
    kerb_frames.subscribe(
        lambda frame: got.append(frame) if isinstance(frame, SpeedFrame) else None
    )
    road.start()
    kerb.start()
    agent.start()
    try:
        assert wait_for(lambda: agent.pipeline.transits_reported >= 1, 30)
        assert wait_for(lambda: kerb_frames.counts["speed"] >= 5, 30)
        health = agent.health.snapshot()
        identities = agent.radar_identities
        kerb.unplug()
        assert wait_for(lambda: agent.health.get("radar.kerb").state == "failed")  # type: ignore[union-attr]
        road_state = agent.health.get("radar.road")
    finally:
        agent.stop()
        road.stop()
        kerb.stop()
    assert health["radar.road"].state == "ok" and health["radar.kerb"].state == "ok"
    assert set(identities) == {"road", "kerb"}
    assert identities["kerb"] is not None and identities["kerb"].sampling_rate_hz == 10000
    # The kerb radar's frames went to its port, never into vehicle transits.
    assert got and all(0 < f.speed_kmh < 8 for f in got)
    assert agent.pipeline.transits_reported == 1
    assert road_state is not None and road_state.state == "ok"  # one radar's fault is its own


def test_time_to_arrival_from_range_and_speed() -> None:
    rig = pipeline_rig(RadarConfig(model="OPS243-C", lateral_offset_m=5.0))
    pipeline = rig.pipeline
    for step in range(3):  # 36 km/h = 10 m/s, line of sight from 41 m down
        rig.clock.advance(0.1)
        rng = math.hypot(40.0 - step, 5.0)
        radial = 36.0 * (40.0 - step) / rng
        t = rig.clock.monotonic()
        pipeline.on_line(f'{{"speed":{radial:.3f}}}'.encode(), t)
        pipeline.on_line(f'{{"range":{rng:.3f},"unit":"m"}}'.encode(), t)
    now = rig.clock.monotonic()
    arrival = pipeline.time_to_arrival_s(now)
    assert arrival == pytest.approx(3.8, abs=0.05)
    assert pipeline.time_to_arrival_s(now + 1.0) == pytest.approx(2.8, abs=0.05)
    (current,) = rig.tracker.open_transits()
    assert current.first_range_m == pytest.approx(math.hypot(40.0, 5.0), abs=0.01)


def test_without_range_arrival_time_is_unknown() -> None:
    rig = pipeline_rig(RadarConfig(model="OPS243-A"))
    for _ in range(3):
        rig.clock.advance(0.1)
        rig.pipeline.on_line(b'{"speed":36.0}', rig.clock.monotonic())
    assert rig.pipeline.has_range is False
    assert rig.pipeline.time_to_arrival_s(rig.clock.monotonic()) is None
