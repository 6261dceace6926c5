"""Shared pieces of the integration tests: a simulated pole around the real agent.

A ``SimPole`` puts the OPS243 emulator on a pty, builds the agent through app wiring with the
emulator's port, gpiozero mock pins and (optionally) a real broker, and lets a test read the
pins back and watch the broker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockFactory, MockPWMPin, PinState

from pole_agent.app import Agent, build_agent
from pole_agent.clock import ScaledClock
from pole_agent.config import MqttConfig, PoleConfig, load_config
from simulator.broker import MosquittoBroker
from simulator.ops243_emulator import Ops243Emulator
from simulator.world import Vehicle, World

ROOT = Path(__file__).resolve().parents[2]
SIM_CONFIG = ROOT / "deploy" / "config" / "simulator.toml"
BEACON_PINS = (17, 27)


def sim_config(
    tmp_path: Path,
    *,
    radar_port: str,
    broker: MosquittoBroker | None = None,
    mqtt_port: int | None = None,
    telemetry: dict[str, Any] | None = None,
    **warning: Any,
) -> PoleConfig:
    """The simulator's example config with this test's radar port, state dir and broker;
    ``telemetry`` replaces fields of [telemetry] (e.g. a small spool cap)."""
    base = load_config(SIM_CONFIG)
    mqtt = None
    if broker is not None:
        mqtt = MqttConfig(host=broker.host, port=broker.port, keepalive_s=5)
    elif mqtt_port is not None:
        mqtt = MqttConfig(host="127.0.0.1", port=mqtt_port, keepalive_s=5)
    return base.with_radar_port(radar_port).model_copy(
        update={
            "outputs": base.outputs.model_copy(update={"pin_factory": "mock"}),
            "warning": base.warning.model_copy(update=warning),
            # Lines are stamped on arrival and the clock runs x10: a 100 ms stall of a loaded
            # test machine would look like a 1 s gap and split a transit. Vehicles in these
            # tests are >= 10 simulated seconds apart, so a longer gap costs nothing.
            "tracking": base.tracking.model_copy(update={"gap_s": 2.5}),
            "state_dir": tmp_path / "state",
            "mqtt": mqtt,
            "telemetry": base.telemetry.model_copy(update=telemetry or {}),
        }
    )


@dataclass
class SimPole:
    clock: ScaledClock
    world: World
    emulator: Ops243Emulator
    factory: Any
    agent: Agent
    vehicles: list[Vehicle] = field(default_factory=list)

    def pin_history(self, gpio: int) -> list[PinState]:
        return list(self.factory.pin(gpio).states)


def make_pole(
    tmp_path: Path,
    vehicles: list[Vehicle],
    *,
    factor: float = 10.0,
    broker: MosquittoBroker | None = None,
    mqtt_port: int | None = None,
    noise_kmh: float = 0.2,
    telemetry: dict[str, Any] | None = None,
    **warning: Any,
) -> SimPole:
    """Build (not start) a simulated pole; ``angle`` comes from the simulator config."""
    clock = ScaledClock(factor)
    base = load_config(SIM_CONFIG)
    world = World(vehicles, angle_deg=base.radars.road.mounting_angle_deg)
    emulator = Ops243Emulator(world, clock, tmp_path / "dev", noise_kmh=noise_kmh, seed=7)
    (tmp_path / "dev").mkdir(exist_ok=True)
    config = sim_config(
        tmp_path,
        radar_port=emulator.port,
        broker=broker,
        mqtt_port=mqtt_port,
        telemetry=telemetry,
        **warning,
    )
    factory = MockFactory(pin_class=MockPWMPin)
    agent = build_agent(config, clock, pin_factory=factory)
    return SimPole(clock, world, emulator, factory, agent, vehicles)


def episodes(states: list[PinState], min_off_s: float) -> int:
    """Count "on" episodes in a mock pin's history: rising edges that follow at least
    ``min_off_s`` of low level (the flashing's own off phases are shorter)."""
    count = 0
    elapsed = 0.0
    last_low_since: float | None = 0.0
    level = False
    for item in states:
        elapsed += item.timestamp
        if item.state and not level:
            if last_low_since is None or elapsed - last_low_since >= min_off_s or count == 0:
                count += 1
            level = True
        elif not item.state and level:
            level = False
            last_low_since = elapsed
    return count


def write_pole_toml(
    tmp_path: Path,
    *,
    pole_id: str,
    radar_port: str,
    host: str,
    port: int,
    keepalive_s: int,
    mqtt_extra: str = "",
    extra: str = "",
) -> Path:
    """A config file for running ``pole-agent run`` as a subprocess on a simulated pole: zone
    active all day, the emulator's radar, mock pins, this broker. ``mqtt_extra`` adds lines to
    ``[mqtt]``; ``extra`` adds whole sections after it."""
    path = tmp_path / "pole.toml"
    path.write_text(
        f"""
pole_id = "{pole_id}"
state_dir = "state"
[zone]
active = {{ start = "00:00", end = "00:00" }}
[radars.road]
port = "{radar_port}"
mounting_angle_deg = 10
[outputs]
pin_factory = "mock"
[mqtt]
host = "{host}"
port = {port}
keepalive_s = {keepalive_s}
{mqtt_extra}
{extra}
""",
        encoding="utf-8",
    )
    return path
