"""A simulated pole with every warning output, for the scenario tests.

The real agent (``build_agent``) on the OPS243 emulator's pty, the rev 2 board on journaled mock
pins stamped with the simulated clock, the speaker recording what it would play, and a chosen
wall time and kernel clock-sync answer. Pedestrian detections do not exist yet in the agent
(the kerb radar's model and the camera will make them): ``PedestrianFeed`` stands in for that
perception, turning the simulator world's pedestrians at the kerb or on the crosswalk into
``PedestrianSeen`` reports on the agent's Detections port.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pole_agent.app import Agent, build_agent
from pole_agent.audio.player import Played
from pole_agent.clock import ScaledClock
from pole_agent.config import AudioConfig, PoleConfig, load_config
from pole_agent.decisions.warning_policy import DecisionRecord
from pole_agent.ports import PedestrianSeen
from simulator.ops243_emulator import Ops243Emulator
from simulator.pedestrians import Pedestrian
from simulator.world import Vehicle, World
from tests.decisions.pins import Chain595, journal_factory

ROOT = Path(__file__).resolve().parents[2]
SIM_CONFIG = ROOT / "deploy" / "config" / "simulator.toml"
SEOUL = ZoneInfo("Asia/Seoul")
BEACON = 17
SIGN = {"slow_down": 5, "child_crossing": 6, "school_zone": 13}
AMP, HEARTBEAT = 24, 23
DATA, CLOCK, LATCH, ENABLE = 16, 26, 12, 25


class KernelProbe:
    """What the kernel says about time sync; the test changes it."""

    def __init__(self, synced: bool | None) -> None:
        self.synced = synced

    def __call__(self) -> bool | None:
        return self.synced


def pole_config(tmp_path: Path, radar_port: str, **sections: Any) -> PoleConfig:
    """deploy/config/simulator.toml on the rev 2 board, recording audio, with this test's
    state folder, no broker, and ``sections`` replaced (e.g. zone=ZoneConfig(...))."""
    base = load_config(SIM_CONFIG).with_radar_port(radar_port)
    # A starved emulator thread on a busy machine must not look like a stale radar: at x10,
    # 2 simulated s are only 200 ms real. (An unplug is still seen at once.)
    road = base.radars.road.model_copy(update={"stale_after_s": 10.0})
    update: dict[str, Any] = {
        "radars": base.radars.model_copy(update={"road": road}),
        "outputs": base.outputs.model_copy(
            update={"board": "spole-rpi4-v2", "pin_factory": "mock"}
        ),
        "audio": AudioConfig(player="record"),
        "state_dir": tmp_path / "state",
        "mqtt": None,
    }
    update["zone"] = type(base.zone).model_validate(
        {**base.zone.model_dump(), "active": {"start": "07:00", "end": "21:00"}}
    )
    update.update(sections)
    return base.model_copy(update=update)


class PedestrianFeed:
    """Stands in for pedestrian perception: every ``period_s`` (simulated) it reports each
    world pedestrian within ``kerb_band_m`` of the kerb on the footway, or on the crosswalk."""

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

    def seen(self, person: Pedestrian, t: float, kerb_band_m: float = 1.0) -> PedestrianSeen | None:
        layout = self._world.layout
        x, y = person.position(t)
        on_crossing = abs(x - layout.crosswalk_x_m) <= layout.crosswalk_width_m / 2
        if layout.kerb_y_m <= y <= layout.kerb_y_m + kerb_band_m:
            where = "kerb"
        elif on_crossing and layout.far_kerb_y_m <= y < layout.kerb_y_m:
            where = "crosswalk"
        else:
            return None
        return PedestrianSeen(
            t=t,
            kind=person.age_group,
            where=where,  # type: ignore[arg-type]
            range_m=round(math.hypot(x, y), 2),
            source="simulator-truth",
            track_id=person.pedestrian_id,
        )

    def _run(self) -> None:
        while not self._stop.wait(self._period_s / self._clock.factor):
            t = self._clock.monotonic()
            for person in self._world.pedestrians():
                if person.present(t):
                    seen = self.seen(person, t)
                    if seen is not None:
                        self.reported.append(seen)
                        self._port.pedestrian(seen)


@dataclass
class WarningPole:
    clock: ScaledClock
    world: World
    emulator: Ops243Emulator
    factory: Any
    agent: Agent
    probe: KernelProbe
    feed: PedestrianFeed
    started: bool = False
    extra_stops: list[Callable[[], None]] = field(default_factory=list)

    def start(self) -> None:
        self.emulator.start()
        self.agent.start()
        self.feed.start()
        self.started = True

    def stop(self) -> None:
        if self.started:
            self.feed.stop()
            self.agent.stop("scenario over")
            self.emulator.stop()
            self.started = False
        self.factory.reset()

    def until(self, sim_t: float, timeout_s: float = 30.0) -> None:
        """Wait (real time) until the simulated clock reaches ``sim_t``."""
        end = time.monotonic() + timeout_s
        while self.clock.monotonic() < sim_t:
            if time.monotonic() > end:
                raise TimeoutError(f"simulated time {sim_t} not reached")
            time.sleep(0.01)

    def wait_for(self, condition: Callable[[], bool], timeout_s: float = 30.0) -> bool:
        """Wait (real time, generously) for a condition; whether it came true."""
        end = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > end:
                return False
            time.sleep(0.01)
        return True

    def records(self, kind: str | None = None) -> list[DecisionRecord]:
        assert self.agent.warnings is not None
        return [r for r in self.agent.warnings.outputs.records if kind is None or r.kind == kind]

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
    (tmp_path / "dev").mkdir(exist_ok=True)
    emulator = Ops243Emulator(world, clock, tmp_path / "dev", noise_kmh=0.2, seed=7)
    config = pole_config(tmp_path, emulator.port, **sections)
    factory = journal_factory(clock)
    probe = KernelProbe(kernel_synced)
    agent = build_agent(config, clock, pin_factory=factory, kernel_clock_sync=probe)
    feed = PedestrianFeed(world, clock, agent)
    return WarningPole(clock, world, emulator, factory, agent, probe, feed)
