"""A simulated pole with a camera: the real agent (``build_agent``) on the OPS243 emulator's pty,
mock pins, and a camera whose source is a video file the simulator rendered of the same world.

The radar sees the world's vehicles; the camera sees its people (and, when asked, its vehicles
driving in lanes). The detector is the simulator's key-colour detector by default, or the real
person detector on frames where people are real photographs (``sprite``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from gpiozero.pins.mock import MockFactory, MockPWMPin

from pole_agent.app import build_agent
from pole_agent.clock import ScaledClock
from pole_agent.config import CameraConfig, MqttConfig, load_config
from pole_agent.perception.camera.detection import Detector, Frame
from simulator.broker import MosquittoBroker
from simulator.camera_world import CameraWorld, KeyColourDetector
from simulator.pedestrians import Pedestrian
from simulator.world import Vehicle, World
from tests.pole_rig import SIM_CONFIG, AgentPole, road_radar, simulator_config

MORNING = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
FPS = 10.0


@dataclass
class CameraPole(AgentPole):
    """The agent with a camera: ``view`` is what the camera sees, rendered into ``video``."""

    view: CameraWorld
    video: Path

    UNTIL_TIMEOUT_S: ClassVar[float] = 60.0


def make_camera_pole(
    tmp_path: Path,
    *,
    vehicles: list[Vehicle] = (),  # type: ignore[assignment]
    pedestrians: list[Pedestrian] = (),  # type: ignore[assignment]
    duration_s: float = 12.0,
    camera_vehicles: list[Vehicle] = (),  # type: ignore[assignment]
    detector: Detector | None = None,
    sprite: Frame | None = None,
    broker: MosquittoBroker | None = None,
    source: str | None = None,
    factor: float = 10.0,
    configured_model: bool = False,
    **camera: Any,
) -> CameraPole:
    """Build (not start) the pole; the video covers ``duration_s`` of simulated time. The
    camera's detector: ``detector``, or the configured model (``configured_model``), or the
    key-colour detector (people, and cars when ``camera_vehicles`` are given)."""
    base = load_config(SIM_CONFIG)
    world = World(vehicles, pedestrians=pedestrians, angle_deg=base.radars.road.mounting_angle_deg)
    seen = World(camera_vehicles, pedestrians=pedestrians, lane_offset_m=2.25)
    view = CameraWorld(seen, person_sprite=sprite)
    (tmp_path / "dev").mkdir(exist_ok=True)
    video = tmp_path / "dev" / "camera.avi"
    view.write_video(video, 0.0, duration_s, FPS)
    # The world's time starts now, once the (slow) rendering is done.
    clock = ScaledClock(factor, start_wall=MORNING)
    emulator = road_radar(tmp_path, world, clock)
    section = view.camera_section(source or str(video), fps=FPS, **camera)
    mqtt = MqttConfig(host=broker.host, port=broker.port, keepalive_s=5) if broker else None
    config = simulator_config(
        tmp_path,
        emulator.port,
        base=base,
        mqtt=mqtt,
        camera=CameraConfig.model_validate(section),
    )
    factory = MockFactory(pin_class=MockPWMPin)
    agent = build_agent(
        config,
        clock,
        pin_factory=factory,
        kernel_clock_sync=lambda: True,
        camera_detector=None
        if configured_model
        else detector or KeyColourDetector(vehicles=bool(camera_vehicles)),
    )
    return CameraPole(clock, world, emulator, factory, agent, view, video)
