"""A radar on a bench: the OPS243 emulator on a real pty and the real serial driver reading it,
with a health board and a handler that records every parsed line."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pole_agent.clock import ScaledClock
from pole_agent.config import RadarConfig
from pole_agent.drivers.serial_radar import SerialRadar
from pole_agent.health import ComponentHealth, HealthBoard
from pole_agent.perception.radar_lines import ParsedLine
from simulator.ops243_emulator import Ops243Emulator
from simulator.ops243_protocol import Model
from simulator.world import Vehicle, World

NAME = "radar.road"


@dataclass
class Recorded:
    """Everything the driver handed on, and every health change, with a lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    parsed: list[ParsedLine] = field(default_factory=list)
    health: list[ComponentHealth] = field(default_factory=list)

    def on_parsed(self, parsed: ParsedLine) -> None:
        with self.lock:
            self.parsed.append(parsed)

    def on_health(self, current: ComponentHealth, previous: ComponentHealth | None) -> None:
        with self.lock:
            self.health.append(current)

    def of_type(self, kind: type[Any]) -> list[Any]:
        with self.lock:
            return [p for p in self.parsed if isinstance(p, kind)]


@dataclass
class Bench:
    clock: ScaledClock
    world: World
    emulator: Ops243Emulator
    radar: SerialRadar
    board: HealthBoard
    seen: Recorded

    def state(self) -> str | None:
        current = self.board.get(NAME)
        return None if current is None else current.state

    def reason(self) -> str:
        current = self.board.get(NAME)
        return "" if current is None else current.reason


def wait_for(check: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Poll ``check`` until it holds or ``timeout`` real seconds pass (generous on purpose)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return check()


@contextmanager
def bench(
    tmp_path: Path,
    vehicles: list[Vehicle] | None = None,
    *,
    factor: float = 5.0,
    model: Model = "OPS243-A",
    angle: float = 0.0,
    noise_kmh: float = 0.0,
    start: bool = True,
    emulator_options: dict[str, Any] | None = None,
    **radar: Any,
) -> Iterator[Bench]:
    clock = ScaledClock(factor)
    world = World(vehicles or [], angle_deg=angle)
    (tmp_path / "dev").mkdir(exist_ok=True)
    emulator = Ops243Emulator(
        world,
        clock,
        tmp_path / "dev",
        noise_kmh=noise_kmh,
        seed=3,
        model=model,
        **(emulator_options or {}),
    )
    radar.setdefault("reopen_max_s", 0.5)
    config = RadarConfig(port=emulator.port, model=model, mounting_angle_deg=angle, **radar)
    seen = Recorded()
    board = HealthBoard()
    board.subscribe(seen.on_health)
    driver = SerialRadar(config, clock, seen.on_parsed, lambda now: None, health=board)
    rig = Bench(clock, world, emulator, driver, board, seen)
    if start:
        emulator.start()
        driver.start()
    try:
        yield rig
    finally:
        driver.stop()
        emulator.stop()
