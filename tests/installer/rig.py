"""A pole to commission: the OPS243 emulator on a pty (mounted at ``true_angle``), a config file
naming it, the broker and a password file; optionally the full controller board (sign, digits,
speaker) and a camera whose source is a video of the simulator's empty road."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from pole_agent.clock import ScaledClock
from pole_agent.installer.toml_out import dumps
from simulator.broker import MosquittoBroker
from simulator.camera_world import CameraWorld
from simulator.ops243_emulator import Ops243Emulator
from simulator.world import Vehicle, World
from tests.integration.harness import SIM_CONFIG

FULL_BOARD = "spole-rpi4-v2"
"""Beacons, status LED, heartbeat, three sign messages, two speed digits, speaker amplifier."""
#: The v2 board's pins read back by the tests (hw/boards/spole-rpi4-v2.toml).
SPEAKER_AMP_PIN = 24
SIGN_PINS = {"slow_down": 5, "child_crossing": 6}


@dataclass
class Rig:
    clock: ScaledClock
    world: World
    emulator: Ops243Emulator
    config: Path
    state: Path
    secret: Path


def make_rig(
    tmp_path: Path,
    broker: MosquittoBroker,
    *,
    true_angle: float,
    speed_kmh: float = 40.0,
    at_s: float | None = 30.0,
    password: str = "a-long-pole-only-secret-1234",
    board: str = "spole-rpi4-v1",
    camera: bool = False,
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
    text = text.replace('board = "spole-rpi4-v1"', f"board = {json.dumps(board)}")
    text += (
        f'\n[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\nkeepalive_s = 5\n'
        f"password_file = {json.dumps(str(secret))}\n"
    )
    if camera:
        view = CameraWorld(World())
        video = tmp_path / "dev" / "road.avi"
        view.write_video(video, 0.0, 1.0, 10.0)
        text += "\n" + dumps({"camera": view.camera_section(str(video))})
    config = tmp_path / "pole.toml"
    config.write_text(text, encoding="utf-8")
    return Rig(clock, world, emulator, config, tmp_path / "state", secret)
