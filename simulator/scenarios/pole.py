"""A scenario's simulated pole: the real agent on the simulator, built and run from a Scenario.

``build_pole`` builds (does not start) what ``pole-agent simulate`` and the integration tests
build, from the scenario: the world (vehicles, people, weather) and the OPS243 emulator on a pty
as the road radar; the agent through ``app.build_agent`` with gpiozero mock pins on the rev 2
board (every warning output), the speaker recording what it would play, the zone's school-day
schedule and the scenario's calendar, and the broker given (the reference consumer subscribed
to it); the sighting feed as pedestrian perception. A ``missing_model`` fault adds a kerb radar
(a second emulator) whose model file is absent; ``clock_in_past`` starts the clock at the
scenario's (past) start with no time sync and a newer saved time mark.

``ScenarioPole.run`` starts it all, waits for the road radar's first report (the scenario's time
0: a boot slowed by a loaded machine must not cost the first vehicle), performs the fault
schedule (and any extra timed steps) on the simulated clock, waits for the telemetry to drain,
and returns the ``Outcome``.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockFactory, MockPWMPin

from pole_agent.app import Agent, build_agent
from pole_agent.clock import ScaledClock
from pole_agent.config import (
    AudioConfig,
    MqttConfig,
    PoleConfig,
    RadarConfig,
    ScheduleWindow,
    load_config,
)
from pole_agent.decisions.clock_trust import TimeMark
from pole_agent.decisions.warning_policy import DecisionRecord
from simulator.broker import MosquittoBroker
from simulator.ops243_emulator import Ops243Emulator
from simulator.scenarios.faults import Step, schedule
from simulator.scenarios.outcome import EventLog, Outcome, observe
from simulator.scenarios.scene import Scene
from simulator.scenarios.sighting import SightingFeed
from simulator.scenarios.spec import Scenario

log = logging.getLogger(__name__)

SIM_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "config" / "simulator.toml"
BOARD = "spole-rpi4-v2"
SCHOOL_HOURS = ScheduleWindow.model_validate(
    {"name": "school hours", "days": "school", "start": "07:00", "end": "21:00", "limit_kmh": 30}
)
"""Every scenario's zone: 30 km/h on school days 07:00-21:00; otherwise off (50 km/h, no
warnings)."""
DRAIN_TIMEOUT_S = 30.0
TRANSIT_GAP_S = 4.0
READY_TIMEOUT_S = 30.0


def calendar_toml(holidays: Iterable[dt.date]) -> str:
    return "".join(
        f'[[holiday]]\ndate = {day.isoformat()}\nname = "holiday"\n\n' for day in holidays
    )


def scenario_config(
    scenario: Scenario,
    state_dir: Path,
    radar_port: str,
    *,
    broker: MosquittoBroker | None,
    kerb_port: str | None = None,
) -> PoleConfig:
    """deploy/config/simulator.toml made into this scenario's pole."""
    base = load_config(SIM_CONFIG).with_radar_port(radar_port)
    # A starved emulator thread on a loaded machine must not look like a stale radar (at x10,
    # 2 simulated s are 200 real ms); an unplug is still seen at once.
    road = base.radars.road.model_copy(update={"stale_after_s": 10.0, "stuck_after_s": 10.0})
    kerb = None
    kerb_model = base.kerb_model
    if kerb_port is not None:
        kerb = RadarConfig(
            port=kerb_port, mounting_angle_deg=20, spectrum="band", stale_after_s=10.0
        )
        kerb_model = kerb_model.model_copy(update={"path": state_dir / "absent-model.tflite"})
    calendar = None
    if scenario.holidays:
        calendar = state_dir / "school-calendar.toml"
        calendar.write_text(calendar_toml(scenario.holidays), encoding="utf-8")
    zone = base.zone.model_copy(update={"windows": (SCHOOL_HOURS,), "calendar_file": calendar})
    mqtt = None
    if broker is not None:
        mqtt = MqttConfig(
            host=broker.host,
            port=broker.port,
            keepalive_s=5,
            reconnect_min_s=0.2,
            reconnect_max_s=1.0,
        )
    return base.model_copy(
        update={
            "radars": base.radars.model_copy(update={"road": road, "kerb": kerb}),
            "kerb_model": kerb_model,
            "zone": zone,
            # Vehicles going one way are >= HEADWAY_S apart in scenarios; a long gap keeps a
            # stall of a loaded machine (at x10, 100 ms real is 1 s) from splitting a transit.
            "tracking": base.tracking.model_copy(update={"gap_s": TRANSIT_GAP_S}),
            # The scenario's time starts at the radar's first report (``ScenarioPole.begin``);
            # a start-up slowed by a loaded machine (at x10, 5 simulated s are 0.5 s real) must
            # not put the pole in fail-safe before that.
            "warning": base.warning.model_copy(update={"startup_grace_s": 60.0}),
            "outputs": base.outputs.model_copy(update={"board": BOARD, "pin_factory": "mock"}),
            "audio": AudioConfig(player="record"),
            "state_dir": state_dir,
            "mqtt": mqtt,
        }
    )


def make_persistent(broker: MosquittoBroker) -> None:
    """Restart ``broker`` keeping sessions across its own restarts (a city broker does), so the
    consumer's queued messages survive a ``broker_down`` fault."""
    if "persistence true" in broker.extra_config:
        return
    broker.stop()
    broker.extra_config += (
        f"\npersistence true\npersistence_location {broker.work_dir}/\nmax_queued_messages 0\n"
    )
    broker.start()


@dataclass
class ScenarioPole:
    scenario: Scenario
    clock: ScaledClock
    world: Scene
    emulator: Ops243Emulator
    factory: Any
    agent: Agent
    feed: SightingFeed
    broker: MosquittoBroker | None
    events: EventLog | None
    kerb_emulator: Ops243Emulator | None = None
    records: list[DecisionRecord] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    """What the run did and when (simulated seconds): fault steps, extra steps."""
    _synced: list[bool] = field(default_factory=lambda: [True])
    _started: bool = False

    def set_time_synced(self, synced: bool) -> None:
        self._synced[0] = synced

    def time_synced(self) -> bool:
        return self._synced[0]

    def start(self) -> None:
        if self.events is not None:
            self.events.start()
        self.emulator.start()
        if self.kerb_emulator is not None:
            self.kerb_emulator.start()
        self.agent.start()
        self.feed.start()
        self._started = True

    def stop(self) -> None:
        """Stop everything that was started; safe to call twice."""
        if self._started:
            self._started = False
            self.feed.stop()
            self.agent.stop("scenario over")
            self.emulator.stop()
            if self.kerb_emulator is not None:
                self.kerb_emulator.stop()
            if self.broker is not None and not self.broker.running:
                self.broker.start()  # a broker_down fault left open
        if self.events is not None:
            self.events.stop()
        self.factory.reset()

    def until(self, sim_t: float, timeout_s: float) -> None:
        """Wait (real time) until the pole's clock reaches ``sim_t``."""
        end = time.monotonic() + timeout_s
        while self.clock.monotonic() < sim_t:
            if time.monotonic() > end:
                raise TimeoutError(f"simulated time {sim_t} not reached")
            time.sleep(min(0.02, max(0.001, (sim_t - self.clock.monotonic()) / self.clock.factor)))

    def radar_ready(self) -> bool:
        """Whether the road radar has been set up and its reports reach the agent."""
        stats = self.agent.radar.stats
        return stats.state == "reading" and stats.reports > 0

    def begin(self, timeout_s: float = READY_TIMEOUT_S) -> float:
        """Wait (real time) for the road radar's first report, then start the scenario's time:
        returns its origin on the pole's clock."""
        end = time.monotonic() + timeout_s
        while not self.radar_ready():
            if time.monotonic() > end:
                raise TimeoutError(f"the road radar did not report within {timeout_s} s")
            time.sleep(0.01)
        self.world.origin = self.clock.monotonic()
        return self.world.origin

    def run(self, extra: Iterable[Step] = ()) -> Outcome:
        """Play the scenario to its end and observe what happened. ``extra`` steps (a fault
        suite's own injections) run at their times beside the scenario's faults; times are the
        scenario's (0: the road radar's first report)."""
        steps = sorted([*schedule(self.scenario.faults, self), *extra], key=lambda s: s.at_s)
        slack_s = 30.0 + self.scenario.duration_s / self.clock.factor
        try:
            self.start()
            origin = self.begin()
            for step in steps:
                self.until(origin + step.at_s, slack_s)
                self.log.append(f"{self.clock.monotonic() - origin:7.2f} s  {step.what}")
                step.act()
            self.until(origin + self.scenario.duration_s, slack_s)
            if self.events is not None:
                self.events.drain(self.agent, DRAIN_TIMEOUT_S)
            return observe(self)
        finally:
            self.stop()


def build_pole(
    scenario: Scenario,
    workdir: Path,
    *,
    broker: MosquittoBroker | None = None,
    speed: float | None = None,
    on_record: Callable[[DecisionRecord], None] | None = None,
) -> ScenarioPole:
    """Build (not start) the scenario's pole in ``workdir`` (ptys, state, calendar). With a
    ``broker``, the agent publishes to it and the reference consumer records what arrives."""
    dev, state = workdir / "dev", workdir / "state"
    dev.mkdir(parents=True, exist_ok=True)
    state.mkdir(parents=True, exist_ok=True)
    past = scenario.fault("clock_in_past")
    if past is not None:  # the last trusted time the pole saved: well after the boot's clock
        TimeMark(state / "clock-mark").save(dt.datetime(2026, 11, 20, tzinfo=dt.UTC))
    if broker is not None and scenario.fault("broker_down") is not None:
        make_persistent(broker)
    clock = ScaledClock(speed or scenario.speed, start_wall=scenario.start)
    base = load_config(SIM_CONFIG)
    world = Scene(
        scenario.vehicles(),
        pedestrians=scenario.pedestrians(),
        angle_deg=base.radars.road.mounting_angle_deg,
        weather=scenario.weather,
        seed=scenario.seed,
    )
    noise = scenario.weather.noise_kmh
    emulator = Ops243Emulator(world, clock, dev, noise_kmh=noise, seed=scenario.seed)
    kerb = None
    if scenario.fault("missing_model") is not None:
        kerb = Ops243Emulator(world, clock, dev, seed=scenario.seed + 1, link_name="kerb")
    config = scenario_config(
        scenario,
        state,
        emulator.port,
        broker=broker,
        kerb_port=None if kerb is None else kerb.port,
    )
    factory = MockFactory(pin_class=MockPWMPin)
    synced = [past is None]
    agent = build_agent(config, clock, pin_factory=factory, kernel_clock_sync=lambda: synced[0])
    assert agent.warnings is not None
    feed = SightingFeed(world, clock, agent.warnings.outputs, parked=scenario.parked)
    events = None if broker is None else EventLog(broker, config.pole_id, workdir / "fleet")
    pole = ScenarioPole(
        scenario, clock, world, emulator, factory, agent, feed, broker, events, kerb, _synced=synced
    )
    agent.warnings.outputs.subscribe(pole.records.append)
    if on_record is not None:
        agent.warnings.outputs.subscribe(on_record)
    return pole


def run_scenario(
    scenario: Scenario,
    workdir: Path,
    *,
    broker: MosquittoBroker | None = None,
    speed: float | None = None,
    extra: Iterable[Step] = (),
) -> Outcome:
    """Build the scenario's pole, play it to the end and return what happened."""
    return build_pole(scenario, workdir, broker=broker, speed=speed).run(extra)
