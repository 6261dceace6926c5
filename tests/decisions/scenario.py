"""A simulated pole with every warning output, for the scenario tests.

The real agent (``build_agent``) on the OPS243 emulator's pty, the rev 2 board on journaled mock
pins stamped with the simulated clock, the speaker recording what it would play, and a chosen
wall time and kernel clock-sync answer. Pedestrian detections do not exist yet in the agent
(the kerb radar's model and the camera will make them): ``PedestrianFeed`` stands in for that
perception, turning the simulator world's pedestrians at the kerb or on the crosswalk into
``PedestrianSeen`` reports on the agent's Detections port.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pole_agent.app import Agent, build_agent
from pole_agent.audio.player import Played
from pole_agent.clock import ScaledClock
from pole_agent.config import PoleConfig, load_config
from pole_agent.ports import PedestrianSeen
from simulator.pedestrians import Pedestrian
from simulator.scenarios.sighting import sighting
from simulator.world import Vehicle, World
from tests import pole_rig
from tests.decisions.pins import Chain595, journal_factory
from tests.pole_rig import AgentPole, road_radar, simulator_config

SEOUL = ZoneInfo("Asia/Seoul")
BEACON = 17
SIGN = {"slow_down": 5, "child_crossing": 6, "school_zone": 13}
AMP, HEARTBEAT = 24, 23
DATA, CLOCK, LATCH, ENABLE = 16, 26, 12, 25
SIM_CONFIG = pole_rig.SIM_CONFIG  # tests/faults take it from here


class KernelProbe:
    """What the kernel says about time sync; the test changes it."""

    def __init__(self, synced: bool | None) -> None:
        self.synced = synced

    def __call__(self) -> bool | None:
        return self.synced


def pole_config(tmp_path: Path, radar_port: str, **sections: Any) -> PoleConfig:
    """deploy/config/simulator.toml on the rev 2 board, recording audio, with this test's
    state folder, no broker, and ``sections`` replaced (e.g. zone=ZoneConfig(...))."""
    base = load_config(SIM_CONFIG)
    zone = type(base.zone).model_validate(
        {**base.zone.model_dump(), "active": {"start": "07:00", "end": "21:00"}}
    )
    return simulator_config(
        tmp_path,
        radar_port,
        base=base,
        # A starved emulator thread on a busy machine must not look like a stale radar: at
        # x10, 2 simulated s are only 200 ms real. (An unplug is still seen at once.)
        road={"stale_after_s": 10.0},
        outputs={"board": "spole-rpi4-v2"},
        **({"zone": zone} | sections),
    )


class PedestrianFeed:
    """Stands in for pedestrian perception: every ``period_s`` (simulated) it reports each world
    pedestrian that the scenarios' sighting sees (simulator/scenarios/sighting.py: on the footway
    within 1 m of the kerb, or on the crosswalk; no parked vehicle hides anyone here)."""

    SOURCE = "simulator-truth"

    def __init__(self, world: World, clock: ScaledClock, agent: Agent, period_s: float = 0.1):
        self._world = world
        self._clock = clock
        assert agent.warnings is not None
        self._port = agent.warnings.outputs
        self._period_s = period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pedestrian-feed", daemon=True)
        self.reported: list[PedestrianSeen] = []

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)

    def _run(self) -> None:
        while not self._stop.wait(self._period_s / self._clock.factor):
            t = self._clock.monotonic()
            for person in self._world.pedestrians():
                seen = sighting(person, t, self._world.layout)
                if seen is not None:
                    seen = dataclasses.replace(seen, source=self.SOURCE)
                    self.reported.append(seen)
                    self._port.pedestrian(seen)


@dataclass
class WarningPole(AgentPole):
    """The agent on the rev 2 board's journaled pins, with a kernel clock-sync answer the test
    changes (``probe``) and the pedestrian feed (started and stopped with the agent)."""

    probe: KernelProbe
    feed: PedestrianFeed

    def start(self) -> None:
        super().start()
        self.feed.start()

    def stop(self) -> None:
        if self.started:
            self.feed.stop()
        super().stop()

    def played(self) -> list[Played]:
        voice = self.agent.warnings.voice if self.agent.warnings else None
        return list(getattr(voice, "played", []))

    def changes(self, gpio: int) -> list[tuple[float, bool]]:
        """(simulated time, level) of every change of a pin, in order."""
        return [(t, v) for t, g, v in self.factory.journal if g == gpio]

    def first_on(self, gpio: int, after: float = float("-inf")) -> float | None:
        return next((t for t, v in self.changes(gpio) if v and t >= after), None)

    def displayed(self) -> list[tuple[float, str | None]]:
        chain = Chain595(DATA, CLOCK, LATCH, 2, enable=ENABLE)
        return chain.replay(list(self.factory.journal))


def make_warning_pole(
    tmp_path: Path,
    *,
    start_wall: datetime,
    vehicles: list[Vehicle] = (),  # type: ignore[assignment]
    pedestrians: list[Pedestrian] = (),  # type: ignore[assignment]
    factor: float = 10.0,
    kernel_synced: bool | None = True,
    **sections: Any,
) -> WarningPole:
    clock = ScaledClock(factor, start_wall=start_wall)
    base = load_config(SIM_CONFIG)
    world = World(vehicles, pedestrians=pedestrians, angle_deg=base.radars.road.mounting_angle_deg)
    emulator = road_radar(tmp_path, world, clock)
    config = pole_config(tmp_path, emulator.port, **sections)
    factory = journal_factory(clock)
    probe = KernelProbe(kernel_synced)
    agent = build_agent(config, clock, pin_factory=factory, kernel_clock_sync=probe)
    feed = PedestrianFeed(world, clock, agent)
    return WarningPole(clock, world, emulator, factory, agent, probe, feed)
