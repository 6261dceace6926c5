"""A simulated pole's warning side, as the test folders that drive one build it.

Two sizes, each with what every user of it needs and nothing more (the folders add their own):

- ``AgentPole``: the real agent (``app.build_agent``) on the OPS243 emulator's pty (``road_radar``)
  at a scaled clock, on mock pins, its config made from deploy/config/simulator.toml by
  ``simulator_config``. tests/camera/rig.py adds a camera, tests/decisions/scenario.py the rev 2
  board's journaled pins and a pedestrian feed.
- ``WarningSide``: only the warning outputs (``warning_setup.build_warnings``) on a board
  profile, journaled mock pins and a manual clock that the test steps (``WarningSide.build``).
  Used by tests/decisions and tests/remote/test_set_message.py (which adds the remote part).

``wait_until`` polls a condition in real time, with a generous limit: a test's timing is checked
on the simulated clock, never on the (shared, noisy) machine's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

from pole_agent.app import Agent
from pole_agent.board_profile import BoardProfile
from pole_agent.clock import ManualClock, ScaledClock
from pole_agent.config import AudioConfig, PoleConfig, load_config
from pole_agent.decisions.warning_policy import DecisionRecord
from pole_agent.drivers.gpio_outputs import GpioBeacons, StatusLed
from pole_agent.health import HealthBoard
from pole_agent.warning_setup import WarningParts, build_warnings
from simulator.ops243_emulator import Ops243Emulator
from simulator.world import World
from tests.decisions.pins import journal_factory

ROOT = Path(__file__).resolve().parents[1]
SIM_CONFIG = ROOT / "deploy" / "config" / "simulator.toml"


def wait_until(condition: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout_s`` real seconds pass (False)."""
    end = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.01)
    return True


# The whole agent on a scaled clock.


def road_radar(tmp_path: Path, world: World, clock: ScaledClock) -> Ops243Emulator:
    """The OPS243 emulator seeing ``world``, its pty in ``tmp_path/dev`` (not started)."""
    (tmp_path / "dev").mkdir(exist_ok=True)
    return Ops243Emulator(world, clock, tmp_path / "dev", noise_kmh=0.2, seed=7)


def simulator_config(
    tmp_path: Path,
    radar_port: str,
    *,
    base: PoleConfig | None = None,
    road: dict[str, Any] | None = None,
    outputs: dict[str, Any] | None = None,
    **sections: Any,
) -> PoleConfig:
    """``base`` (default: deploy/config/simulator.toml) with the road radar on ``radar_port``
    (``road`` replaces more of its fields), mock pins (``outputs`` replaces more of [outputs]),
    the speaker recording, this test's state folder and no broker; ``sections`` replace whole
    sections last (e.g. ``mqtt=MqttConfig(...)``, ``zone=ZoneConfig(...)``)."""
    ported = (base or load_config(SIM_CONFIG)).with_radar_port(radar_port)
    radar = ported.radars.road.model_copy(update=road or {})
    update: dict[str, Any] = {
        "radars": ported.radars.model_copy(update={"road": radar}),
        "outputs": ported.outputs.model_copy(update={"pin_factory": "mock", **(outputs or {})}),
        "audio": AudioConfig(player="record"),
        "state_dir": tmp_path / "state",
        "mqtt": None,
        **sections,
    }
    return ported.model_copy(update=update)


@dataclass
class AgentPole:
    """The agent, its road radar's emulator and its mock pins, built (not started)."""

    clock: ScaledClock
    world: World
    emulator: Ops243Emulator
    factory: Any
    agent: Agent
    started: bool = field(default=False, init=False)

    UNTIL_TIMEOUT_S: ClassVar[float] = 30.0
    """How long (real seconds) ``until`` waits by default before it gives up."""

    def start(self) -> None:
        self.emulator.start()
        self.agent.start()
        self.started = True

    def stop(self) -> None:
        """Stop what was started and release the pins; safe to call twice."""
        if self.started:
            self.agent.stop("scenario over")
            self.emulator.stop()
            self.started = False
        self.factory.reset()

    def until(self, sim_t: float, timeout_s: float | None = None) -> None:
        """Wait (real time) until the simulated clock reaches ``sim_t``."""
        limit_s = self.UNTIL_TIMEOUT_S if timeout_s is None else timeout_s
        if not wait_until(lambda: self.clock.monotonic() >= sim_t, limit_s):
            raise TimeoutError(f"simulated time {sim_t} not reached")

    def wait_for(self, condition: Callable[[], bool], timeout_s: float = 30.0) -> bool:
        """Wait (real time, generously) for a condition; whether it came true."""
        return wait_until(condition, timeout_s)

    def records(self, kind: str | None = None) -> list[DecisionRecord]:
        """The warning outputs' decision records (of one ``kind``), in order."""
        assert self.agent.warnings is not None
        return [r for r in self.agent.warnings.outputs.records if kind is None or r.kind == kind]


# The warning outputs alone, on a manual clock.


def serial_sign_board(port: str) -> BoardProfile:
    """A board of one beacon and a sign controller speaking SPSIGN/1 on ``port``."""
    return BoardProfile.model_validate(
        {
            "name": "serial-sign-board",
            "outputs": [{"name": "beacon", "role": "beacon", "gpio": 17}],
            "speed_display": {"kind": "serial", "port": port, "baud": 9600},
        }
    )


@dataclass
class WarningSide:
    """The warning outputs on a board's journaled mock pins; the test steps the manual clock."""

    clock: ManualClock
    factory: Any
    health: HealthBoard
    beacons: GpioBeacons
    status_led: StatusLed
    parts: WarningParts
    started: bool = field(default=False, init=False)

    def start(self) -> None:
        """Start the parts' threads (clock mark saver, serial sign link)."""
        self.parts.start()
        self.started = True

    def step(self, seconds: float, dt: float = 0.05) -> None:
        """Advance the clock, refreshing as the reader thread's ticks would."""
        end = self.clock.monotonic() + seconds
        while self.clock.monotonic() < end - 1e-9:
            self.clock.advance(dt)
            self.parts.outputs.refresh(self.clock.monotonic())
            self.tick()

    def tick(self) -> None:
        """What else runs once a step (nothing here)."""

    def level(self, gpio: int) -> bool:
        return bool(self.factory.pin(gpio).state)

    def changes(self, gpio: int) -> list[tuple[float, bool]]:
        """(time, level) of every change of a pin, in order."""
        return [(t, v) for t, g, v in self.factory.journal if g == gpio]

    def close(self) -> None:
        if self.started:
            self.parts.stop()
            self.started = False
        self.parts.close()
        self.beacons.close()
        self.status_led.close()
        self.factory.reset()

    @classmethod
    def build(
        cls,
        config: PoleConfig,
        profile: BoardProfile,
        clock: ManualClock,
        road_radar_ok: bool = True,
    ) -> Self:
        """Build (not start) the warning outputs of ``config`` on ``profile``, the kernel's clock
        synced and (unless ``road_radar_ok`` is False) the road radar reading. A build that
        raises (e.g. SetupError) releases the pins first."""
        factory = journal_factory(clock)
        health = HealthBoard()
        beacons = GpioBeacons(profile, factory, flash_hz=1.0, duty=0.5)
        status_led = StatusLed(profile, factory)
        try:
            parts = build_warnings(
                config,
                profile=profile,
                pin_factory=factory,
                clock=clock,
                health=health,
                beacons=beacons,
                status_led=status_led,
                kernel_clock_sync=lambda: True,
            )
        except BaseException:
            beacons.close()
            status_led.close()
            factory.reset()
            raise
        if road_radar_ok:
            health.report("radar.road", "ok", "reading", clock.monotonic())
        return cls(clock, factory, health, beacons, status_led, parts)
