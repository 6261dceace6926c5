"""The kerb model in the whole agent: spectrum lines written to the kerb radar's pty reach the
model through the real driver; while the model is held up, the road radar still warns, the kerb
reader keeps reading, windows are dropped and counted and health says so; released, the model
reports the child on the Detections port."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
from gpiozero.pins.mock import MockFactory, MockPWMPin

from pole_agent.app import Agent, build_agent
from pole_agent.clock import ScaledClock
from pole_agent.config import RadarConfig, load_config
from pole_agent.perception.kerb_inference import HEALTH_NAME
from pole_agent.perception.radar_model import Prediction, RadarModel
from simulator.ops243_emulator import Ops243Emulator
from simulator.spectrum_source import SpectrumSource
from simulator.training_data import SceneRanges, generate_window
from simulator.world import Vehicle, World
from tests.integration.harness import SIM_CONFIG
from tests.model.helpers import frames_of, lines_of, shipped_spec
from tests.radar.rig import wait_for
from training.radar_dataset import MODEL_SPEC

ONE_CHILD = SceneRanges(
    p_child=1.0, p_adult=0.0, p_vehicle=0.0, p_rider=0.0, p_second=0.0,
    person_range_m=(4.0, 8.0), run_share=0.0, aspect_deg=(0.0, 20.0),
)  # fmt: skip


class SpectraFromTheTest(SpectrumSource):
    """The emulator's spectrum commands as ever, but its lines are the ones the test writes
    (its own, at 0.5 frames/s, are not back to back and would restart the windows)."""

    def line_at(self, t: float, uptime_s: float, sampling_rate_hz: int) -> bytes | None:
        return None


class HeldModel:
    """The real model behind a gate the test opens: inference as slow as the test wants."""

    def __init__(self, model: RadarModel) -> None:
        self.model = model
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.calls = 0

    def predict(self, codes: npt.NDArray[np.uint8]) -> Prediction:
        self.entered.set()
        self.gate.wait()
        self.calls += 1
        return self.model.predict(codes)


def _send(emulator: Ops243Emulator, data: bytes) -> None:
    """Write a whole line to the pty, waiting while the reader drains it (a full pty drops)."""
    sent = 0
    deadline = time.monotonic() + 10
    while sent < len(data) and time.monotonic() < deadline:
        sent += emulator.inject_line(data[sent:])
        if sent < len(data):
            time.sleep(0.005)
    assert sent == len(data)
    time.sleep(0.002)


def _state(agent: Agent, name: str) -> str | None:
    current = agent.health.get(name)
    return None if current is None else current.state


def test_a_held_up_model_never_holds_up_warnings_then_reports_the_child(tmp_path: Path) -> None:
    clock = ScaledClock(1.0)
    road = Ops243Emulator(
        World([Vehicle(1, 1.0, 48.0, "approaching")]), clock, tmp_path, seed=1, link_name="road"
    )
    # Reports rarely, so that no report line lands inside a spectrum line the test writes.
    kerb = Ops243Emulator(World([]), clock, tmp_path, seed=2, link_name="kerb", frame_rate_hz=0.5)
    kerb.spectrum = SpectraFromTheTest(kerb.world, seed=2)
    base = load_config(SIM_CONFIG)
    radars = base.radars.model_copy(
        update={
            "road": base.radars.road.model_copy(update={"port": road.port}),
            "kerb": RadarConfig(port=kerb.port, sample_rate_hz=20000, spectrum="full"),
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
    inference, frames = agent.kerb_model, agent.kerb_frames
    assert inference is not None and frames is not None
    assert isinstance(inference.classifier, RadarModel)
    held = HeldModel(inference.classifier)
    inference.classifier = held
    spec = shipped_spec()
    codes = np.concatenate(
        [generate_window(i, seed=5, ranges=ONE_CHILD, spec=MODEL_SPEC).codes for i in range(4)]
    )
    lines = lines_of(frames_of(codes, spec, t0=100.0))
    road.start()
    kerb.start()
    agent.start()
    try:
        assert wait_for(lambda: _state(agent, "radar.kerb") == "ok", 30)
        assert kerb.spectrum.mode == "full"  # the agent's start-up turned spectra on (OF)
        for line in lines[:32]:
            _send(kerb, line + b"\r\n")
        assert held.entered.wait(20)
        for line in lines[32:]:
            _send(kerb, line + b"\r\n")
        # The model is stuck on its first window; everything else goes on.
        assert wait_for(lambda: frames.counts["spectrum"] == len(lines), 30)
        assert wait_for(lambda: agent.pipeline.transits_reported >= 1, 30)
        assert inference.counts["windows"] == 1 + (len(lines) - 32) // spec.hop_frames
        assert inference.counts["dropped"] == inference.counts["windows"] - 3
        assert _state(agent, HEALTH_NAME) == "degraded"
        assert held.calls == 0
        held.gate.set()
        assert wait_for(lambda: inference.counts["classified"] == 3, 30)
    finally:
        agent.stop()
        road.stop()
        kerb.stop()
    assert inference.last is not None and "child" in inference.last.present
    assert inference.counts["reported_child"] >= 1
