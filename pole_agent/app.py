"""The one wiring place: builds the agent's components from the config, starts them in order and
stops them in reverse.

Everything a component needs (config section, clock, pin factory, the publisher) is handed to it
here; nothing is global and nothing happens at import time. The simulator and the tests build the
agent through this same function, so what they run is what the pole runs.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pole_agent.board_profile import default_hw_dirs, resolve_profile
from pole_agent.config import PoleConfig
from pole_agent.decisions.beacon_policy import BeaconPolicy
from pole_agent.decisions.zone_schedule import ZoneSchedule
from pole_agent.drivers.gpio_outputs import GpioBeacons, StatusLed, make_pin_factory
from pole_agent.drivers.mqtt_link import MqttLink
from pole_agent.drivers.serial_radar import SerialRadar
from pole_agent.health import HealthBoard
from pole_agent.perception.transit import TransitTracker
from pole_agent.ports import Clock, Publisher
from pole_agent.radar_pipeline import RadarPipeline
from pole_agent.telemetry import topics
from pole_agent.telemetry.messages import StatusOffline
from pole_agent.telemetry.offline import OfflinePublisher
from pole_agent.telemetry.outbox import MemoryOutbox
from pole_agent.telemetry.reporter import Reporter

log = logging.getLogger(__name__)


class StartupError(Exception):
    """The agent cannot start: the message says what to fix."""


@dataclass
class Component:
    name: str
    start: Callable[[], None]
    stop: Callable[[], None]


@dataclass
class Agent:
    """A built agent: its parts (for status views and tests) and their start/stop order."""

    config: PoleConfig
    boot_id: str
    clock: Clock
    health: HealthBoard
    pin_factory: Any
    beacons: GpioBeacons
    status_led: StatusLed
    outbox: MemoryOutbox
    publisher: Publisher
    mqtt: MqttLink | None
    reporter: Reporter
    pipeline: RadarPipeline
    radar: SerialRadar
    components: list[Component] = field(default_factory=list)
    stop_reason: str = "stopped"
    _started: list[Component] = field(default_factory=list)

    def start(self) -> None:
        for component in self.components:
            log.debug("starting %s", component.name)
            component.start()
            self._started.append(component)
        log.info("agent %s started (boot %s)", self.config.pole_id, self.boot_id)

    def stop(self, reason: str = "stopped") -> None:
        """Stop in reverse order; every component's stop runs even if one fails."""
        self.stop_reason = reason
        while self._started:
            component = self._started.pop()
            try:
                component.stop()
            except Exception:
                log.exception("stopping %s failed", component.name)
        log.info("agent %s stopped (%s)", self.config.pole_id, reason)


def _check_state_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StartupError(f"state_dir {path}: cannot create it: {err.strerror or err}") from None
    if not os.access(path, os.W_OK):
        raise StartupError(f"state_dir {path}: not writable by this user")


def build_agent(
    config: PoleConfig,
    clock: Clock,
    *,
    pin_factory: Any = None,
    hw_dirs: list[Path] | None = None,
) -> Agent:
    """Build every component from the config. Raises StartupError when something the agent
    cannot run without is missing (a board profile, a writable state dir, GPIO)."""
    _check_state_dir(config.state_dir)
    try:
        profile = resolve_profile(config.outputs.board, hw_dirs or default_hw_dirs())
    except Exception as err:
        raise StartupError(str(err)) from None
    if pin_factory is None:
        pin_factory = make_pin_factory(config.outputs.pin_factory)
    try:
        beacons = GpioBeacons(
            profile,
            pin_factory,
            flash_hz=config.warning.flash_hz,
            duty=config.warning.flash_duty,
        )
        status_led = StatusLed(profile, pin_factory)
    except Exception as err:  # gpiozero raises many kinds when pins are unusable
        raise StartupError(f"outputs: cannot drive the GPIO pins: {err}") from err

    boot_id = uuid.uuid4().hex[:16]
    health = HealthBoard()
    outbox = MemoryOutbox(config.mqtt.queue_max_messages if config.mqtt else 10000)
    status_topic = topics.status(config.pole_id)

    # The reporter needs the publisher and the MQTT link needs the reporter's birth message:
    # the link gets a callable that reaches the reporter once it exists.
    holder: dict[str, Reporter] = {}
    mqtt: MqttLink | None = None
    publisher: Publisher
    if config.mqtt is not None:
        try:
            mqtt = MqttLink(
                config.mqtt,
                client_id=f"spole-{config.pole_id}",
                username=config.mqtt_username or config.pole_id,
                status_topic=status_topic,
                birth=lambda: holder["reporter"].online(),  # noqa: PLW0108 (late binding)
                last_will=StatusOffline(pole_id=config.pole_id, boot_id=boot_id)
                .model_dump_json()
                .encode(),
                outbox=outbox,
            )
        except (OSError, ValueError) as err:
            raise StartupError(f"mqtt: {err}") from err
        publisher = mqtt
    else:
        publisher = OfflinePublisher(outbox)
        log.warning("no broker configured: events are kept in memory (up to %d)", 10000)

    reporter = Reporter(
        config.pole_id, boot_id, clock, publisher, capabilities=["radar", "beacons"]
    )
    holder["reporter"] = reporter

    pipeline = RadarPipeline(
        clock=clock,
        schedule=ZoneSchedule(config.zone),
        tracker=TransitTracker(config.tracking, config.radar.mounting_angle_deg),
        policy=BeaconPolicy(config.warning),
        beacons=beacons,
        reporter=reporter,
        max_speed_kmh=config.radar.max_speed_kmh,
    )
    radar = SerialRadar(config.radar, clock, pipeline.on_line, pipeline.on_tick, health=health)

    agent = Agent(
        config=config,
        boot_id=boot_id,
        clock=clock,
        health=health,
        pin_factory=pin_factory,
        beacons=beacons,
        status_led=status_led,
        outbox=outbox,
        publisher=publisher,
        mqtt=mqtt,
        reporter=reporter,
        pipeline=pipeline,
        radar=radar,
    )

    def stop_outputs() -> None:
        beacons.close()
        status_led.close()

    def stop_mqtt() -> None:
        if mqtt is not None:
            mqtt.close(reporter.stopped(agent.stop_reason))

    agent.components = [
        Component("outputs", lambda: status_led.set(True), stop_outputs),
        Component("telemetry", mqtt.start if mqtt else (lambda: None), stop_mqtt),
        # Stopping the radar ends the reader thread; then what is still open is reported.
        Component("pipeline", lambda: None, pipeline.flush),
        Component("radar", radar.start, radar.stop),
    ]
    return agent
