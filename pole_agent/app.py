"""The one wiring place: builds the agent's components from the config, starts them in order and
stops them in reverse.

Everything a component needs (config section, clock, pin factory, the publisher) is handed to it
here; nothing is global and nothing happens at import time. The simulator and the tests build the
agent through this same function, so what they run is what the pole runs.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import platform
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pole_agent import __version__
from pole_agent.board_profile import default_hw_dirs, resolve_profile
from pole_agent.capabilities import pole_capabilities
from pole_agent.config import PoleConfig
from pole_agent.drivers.gpio_outputs import GpioBeacons, StatusLed, make_pin_factory
from pole_agent.drivers.mqtt_link import MqttLink
from pole_agent.drivers.ops243_session import RadarIdentity
from pole_agent.drivers.serial_radar import SerialRadar
from pole_agent.health import ComponentHealth, HealthBoard
from pole_agent.installer.selftest import REMOTE_TOOL, run_selftest
from pole_agent.perception.camera.camera_path import CameraPath, build_camera_path
from pole_agent.perception.camera.detection import Detector
from pole_agent.perception.kerb_frames import KerbFrames
from pole_agent.perception.kerb_inference import KerbInference
from pole_agent.perception.kerb_model_setup import build_kerb_inference
from pole_agent.perception.transit import TransitTracker
from pole_agent.ports import Clock, Publisher
from pole_agent.radar_pipeline import RadarPipeline
from pole_agent.remote.wiring import RemoteParts, RemoteSetupError, build_remote
from pole_agent.status_socket import StatusServer, build_snapshot, socket_path
from pole_agent.telemetry import topics
from pole_agent.telemetry.discovery import discovery_messages
from pole_agent.telemetry.health_report import HealthCollector
from pole_agent.telemetry.messages import ModelVersion, StatusOffline
from pole_agent.telemetry.offline import OfflinePublisher
from pole_agent.telemetry.report_messages import LinkReport
from pole_agent.telemetry.reporter import BirthInfo, RadarIdentities, Reporter
from pole_agent.telemetry.spool import Spool
from pole_agent.telemetry.timer import TelemetryTimer
from pole_agent.warning_setup import SetupError, WarningParts, build_warnings

log = logging.getLogger(__name__)


SPOOL_FILE = "telemetry-spool.sqlite3"


def software_versions() -> dict[str, str]:
    """Versions reported in the birth message."""
    versions = {
        "agent": __version__,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }
    for dist in ("paho-mqtt", "pydantic", "gpiozero", "pyserial"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _scalar(value: object) -> str | int | float | bool | None:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


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
    outbox: Spool
    """The telemetry spool (every message waits there until the broker acknowledged it)."""
    publisher: Publisher
    mqtt: MqttLink | None
    reporter: Reporter
    pipeline: RadarPipeline
    radar: SerialRadar
    """The road radar (the one that feeds transits and warnings)."""
    kerb_radar: SerialRadar | None = None
    kerb_frames: KerbFrames | None = None
    """The kerb radar's frames, for pedestrian perception (None without a kerb radar)."""
    kerb_model: KerbInference | None = None
    """The kerb radar's model on its own thread (None without a kerb radar or a usable model)."""
    camera: CameraPath | None = None
    """The camera path (capture and detector threads; None without an enabled [camera])."""
    warnings: WarningParts | None = None
    """Sign, speed digits, speaker, fail-safe, heartbeat; ``warnings.outputs`` is the
    Detections port (docs/warnings.md)."""
    telemetry_timer: TelemetryTimer | None = None
    remote: RemoteParts | None = None
    """Remote config and commands from the city (None unless [remote] is enabled)."""
    components: list[Component] = field(default_factory=list)
    stop_reason: str = "stopped"
    _started: list[Component] = field(default_factory=list)

    @property
    def radar_identities(self) -> dict[str, RadarIdentity | None]:
        """Each radar's identity by role, as read at its last start-up (for the birth message;
        None until the sensor has answered)."""
        identities = {"road": self.radar.identity}
        if self.kerb_radar is not None:
            identities["kerb"] = self.kerb_radar.identity
        return identities

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
    kernel_clock_sync: Callable[[], bool | None] | None = None,
    camera_detector: Detector | None = None,
) -> Agent:
    """Build every component from the config. Raises StartupError when something the agent
    cannot run without is missing (a board profile, a writable state dir, GPIO).
    ``camera_detector`` replaces the configured camera model (the simulator's detector)."""
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
    telemetry = config.telemetry
    outbox = Spool(
        telemetry.spool_path or config.state_dir / SPOOL_FILE,
        boot_id=boot_id,
        clock=clock,
        max_bytes=telemetry.spool_max_bytes,
        max_age_s=telemetry.spool_max_age_s,
        batch_s=telemetry.spool_batch_s,
        memory_max=config.mqtt.queue_max_messages if config.mqtt else 10000,
        health=health,
    )
    status_topic = topics.status(config.pole_id)

    # The reporter needs the publisher and the MQTT link needs the reporter's birth message:
    # the link gets a callable that reaches the reporter once it exists.
    holder: dict[str, Reporter] = {}
    built: dict[str, Agent] = {}
    mqtt: MqttLink | None = None
    publisher: Publisher
    try:
        remote = build_remote(
            config,
            clock=clock,
            health=health,
            publish=lambda t, p, retain: built["agent"].publisher.publish(t, p, retain=retain),
            rebirth=lambda: _rebirth(built["agent"]),
            voice=lambda: built["agent"].warnings.voice if built["agent"].warnings else None,
            volume=config.audio.volume,
            operator_sign=lambda: (
                built["agent"].warnings.operator_sign
                if "agent" in built and built["agent"].warnings
                else None
            ),
            link_state=lambda: built["agent"].publisher.link_state() if built else "starting",
            selftest=lambda: run_selftest(config, clock=clock, hw_dirs=hw_dirs, tool=REMOTE_TOOL),
        )
    except RemoteSetupError as err:
        raise StartupError(str(err)) from err
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
                clock=clock,
                retained_on_connect=(
                    (
                        lambda: discovery_messages(
                            config.pole_id, __version__, telemetry.discovery_prefix
                        )
                    )
                    if telemetry.discovery
                    else list
                ),
                health=health,
                subscriptions=remote.subscriptions if remote is not None else (),
                on_message=remote.handler.on_message if remote is not None else None,
            )
        except (OSError, ValueError) as err:
            raise StartupError(f"mqtt: {err}") from err
        publisher = mqtt
    else:
        publisher = OfflinePublisher(outbox)
        log.warning("no broker configured: events are kept in the spool %s", outbox.path)

    def radar_identities() -> RadarIdentities:
        agent = built.get("agent")
        if agent is None:
            return {}
        return {
            role: None if ident is None else {k: _scalar(v) for k, v in ident.as_dict().items()}
            for role, ident in agent.radar_identities.items()
        }

    birth = BirthInfo(
        versions=software_versions(),
        radars=radar_identities,
        config_version=config.config_version,
    )
    reporter = Reporter(
        config.pole_id,
        boot_id,
        clock,
        publisher,
        capabilities=pole_capabilities(config, profile),
        birth=birth,
        stats_interval_s=telemetry.stats_interval_s,
        warning_hold_s=config.warning.hold_s,
        # Stats windows count the road radar's clutter (the pipeline is built below).
        clutter_frames=lambda: built["agent"].pipeline.clutter_frames if built else 0,
    )
    holder["reporter"] = reporter
    health.subscribe(reporter.on_health_change)

    try:
        warnings = build_warnings(
            config,
            profile=profile,
            pin_factory=pin_factory,
            clock=clock,
            health=health,
            beacons=beacons,
            status_led=status_led,
            kernel_clock_sync=kernel_clock_sync,
        )
    except SetupError as err:
        raise StartupError(str(err)) from None
    # Every decision of the warning rules is published (events/decision): the city can audit
    # why the pole spoke to a child at 08:12.
    warnings.outputs.subscribe(reporter.decision)

    road = config.radars.road
    pipeline = RadarPipeline(
        clock=clock,
        schedule=warnings.schedule,
        tracker=TransitTracker(
            config.tracking, road.mounting_angle_deg, lateral_offset_m=road.lateral_offset_m
        ),
        policy=warnings.policy,
        beacons=beacons,
        reporter=reporter,
        max_speed_kmh=road.max_speed_kmh,
        has_range=road.has_range,
        warning_outputs=warnings.outputs,
    )
    radar = SerialRadar(road, clock, pipeline.on_parsed, pipeline.on_tick, health=health)

    def road_health(current: ComponentHealth, previous: ComponentHealth | None) -> None:
        if current.name == radar.name:
            pipeline.on_sensor_health(current)

    health.subscribe(road_health)
    kerb_radar: SerialRadar | None = None
    kerb_frames: KerbFrames | None = None
    if config.radars.kerb is not None:
        kerb_frames = KerbFrames()
        kerb_radar = SerialRadar(
            config.radars.kerb,
            clock,
            kerb_frames.on_parsed,
            kerb_frames.on_tick,
            health=health,
            name="radar.kerb",
        )
    kerb_model = (
        build_kerb_inference(
            config.kerb_model,
            config.radars.kerb,
            frames=kerb_frames,
            detections=warnings.outputs,
            health=health,
            clock=clock,
            pedestrian_events=reporter.pedestrian,
        )
        if kerb_frames is not None and config.radars.kerb is not None
        else None
    )
    if kerb_model is not None and kerb_model.pedestrian_log is not None:
        warnings.outputs.subscribe(kerb_model.pedestrian_log.on_decision)  # its "warned"
    if kerb_model is not None:  # the birth message names the models the pole runs
        birth.models.append(
            ModelVersion(name=kerb_model.model_name, version=kerb_model.model_version)
        )
    # The camera feeds the same Detections port as the kerb model; its problems (camera gone,
    # model missing, over budget) are health states, never a start-up error: radar goes on.
    camera = (
        build_camera_path(
            config.camera,
            clock=clock,
            health=health,
            port=warnings.outputs,
            detector=camera_detector,
        )
        if config.camera is not None and config.camera.enabled
        else None
    )

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
        kerb_radar=kerb_radar,
        kerb_frames=kerb_frames,
        kerb_model=kerb_model,
        camera=camera,
        warnings=warnings,
    )
    agent.remote = remote
    built["agent"] = agent
    no_link = LinkReport(state=publisher.link_state(), connects=0, delivered=0, rejected=0)
    collector = HealthCollector(
        board=health,
        clock=clock,
        started_mono=reporter.started_mono,
        state_dir=config.state_dir,
        spool_stats=outbox.stats,
        link=mqtt.link_report if mqtt is not None else (lambda: no_link),
        remote=remote.handler.counters if remote is not None else None,
        clutter_frames=lambda: {radar.name: pipeline.clutter_frames},
        # Health reports flag the wall clock (reliability row 13): events stamped while it is
        # not trusted can be told apart by the city.
        clock_trusted=lambda: warnings.outputs.clock_trusted,
    )
    timer = TelemetryTimer(
        clock=clock,
        reporter=reporter,
        zone=lambda: pipeline.zone,
        health_fields=collector.collect,
        health_interval_s=telemetry.health_interval_s,
    )
    agent.telemetry_timer = timer

    def stop_outputs() -> None:
        warnings.close()
        beacons.close()
        status_led.close()

    def stop_mqtt() -> None:
        if mqtt is not None:
            mqtt.close(reporter.stopped(agent.stop_reason))

    # Local tools (`pole-agent status`, `watch`, `selftest`) read the agent through this socket;
    # it cannot bind: a health problem, never a start-up error.
    status_server = StatusServer(
        socket_path(config.state_dir),
        lambda: build_snapshot(agent),
        on_problem=lambda why: health.report("status", "degraded", why, clock.monotonic()),
    )
    agent.components = [
        Component("outputs", lambda: status_led.set(True), stop_outputs),
        Component("spool", outbox.start, outbox.close),
        Component("telemetry", mqtt.start if mqtt else (lambda: None), stop_mqtt),
        Component("warning outputs", warnings.start, warnings.stop),
        # Stopped after the pipeline's flush: the last stats window counts every transit.
        Component("telemetry timer", timer.start, timer.stop),
        # Stopping the radar ends the reader thread; then what is still open is reported.
        Component("pipeline", lambda: None, pipeline.flush),
        Component("radar", radar.start, radar.stop),
        *(
            [Component("kerb model", kerb_model.start, kerb_model.stop)]
            if kerb_model is not None
            else []
        ),
        *(
            [Component("kerb radar", kerb_radar.start, kerb_radar.stop)]
            if kerb_radar is not None
            else []
        ),
        *([Component("camera", camera.start, camera.stop)] if camera is not None else []),
        Component("status socket", status_server.start, status_server.stop),
        *([Component("remote", remote.start, remote.stop)] if remote is not None else []),
    ]
    return agent


def _rebirth(agent: Agent) -> None:
    """Publish the birth (retained status) and the discovery configs again (``rebirth``)."""
    config = agent.config
    publisher = agent.publisher
    publisher.publish(topics.status(config.pole_id), agent.reporter.online(), retain=True)
    if config.telemetry.discovery:
        prefix = config.telemetry.discovery_prefix
        for topic, payload in discovery_messages(config.pole_id, __version__, prefix):
            publisher.publish(topic, payload, retain=True)
