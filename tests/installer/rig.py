"""A pole to commission: the OPS243 emulator on a pty (mounted at ``true_angle``), a config file
naming it, the broker and a password file."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from pole_agent.clock import ScaledClock
from simulator.broker import MosquittoBroker
from simulator.ops243_emulator import Ops243Emulator
from simulator.world import Vehicle, World
from tests.integration.harness import SIM_CONFIG


@dataclass
class Rig:
    clock: ScaledClock
    world: World
    emulator: Ops243Emulator
    config: Path
    state: Path


def make_rig(
    tmp_path: Path,
    broker: MosquittoBroker,
    *,
    true_angle: float,
    speed_kmh: float = 40.0,
    at_s: float | None = 30.0,
    password: str = "a-long-pole-only-secret-1234",
) -> Rig:
    clock = ScaledClock(10.0)
    vehicles = [] if at_s is None else [Vehicle(1, at_s, speed_kmh, "approaching")]
    world = World(vehicles, angle_deg=true_angle)
    (tmp_path / "dev").mkdir()
    emulator = Ops243Emulator(world, clock, tmp_path / "dev", noise_kmh=0.1, seed=3)
    secret = tmp_path / "mqtt.password"
    secret.write_text(password + "\n", encoding="utf-8")
    os.chmod(secret, 0o600)
    text = SIM_CONFIG.read_text(encoding="utf-8")
    text = text.replace('"/dev/radar-road"', json.dumps(emulator.port))
    text = text.replace('"../../.state/sim"', json.dumps(str(tmp_path / "state")))
    text += (
        f'\n[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\nkeepalive_s = 5\n'
        f"password_file = {json.dumps(str(secret))}\n"
    )
    config = tmp_path / "pole.toml"
    config.write_text(text, encoding="utf-8")
    return Rig(clock, world, emulator, config, tmp_path / "state")
