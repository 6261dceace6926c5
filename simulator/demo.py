"""``pole-agent simulate``: the real agent on a simulated pole.

The OPS243 emulator speaks the radar's protocol on a pty, the agent's real serial driver reads
it, the beacons are gpiozero mock pins read back pin by pin, and when ``mosquitto`` is installed
a private broker on a free loopback port receives what the agent publishes (a monitor client
shows what arrived). On a terminal a live view refreshes; otherwise one log line per event.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import tempfile
import threading
from pathlib import Path

from gpiozero.pins.mock import MockFactory, MockPWMPin

from pole_agent.app import StartupError, build_agent
from pole_agent.clock import ScaledClock
from pole_agent.config import ConfigError, MqttConfig, PoleConfig, load_config
from pole_agent.daemon import install_stop_signals, status_line
from pole_agent.logging_setup import setup_logging
from simulator.broker import BrokerUnavailable, MosquittoBroker
from simulator.live_view import LiveView, RingLogHandler
from simulator.monitor import BrokerMonitor
from simulator.ops243_emulator import Ops243Emulator
from simulator.world import TrafficScenario, World, generate_vehicles

log = logging.getLogger("simulator.demo")

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "deploy" / "config" / "simulator.toml"

#: Simulated traffic is generated this far ahead when the demo runs until Ctrl-C.
OPEN_ENDED_S = 24 * 3600.0


def simulated_pole_config(
    base: PoleConfig, *, radar_port: str, state_dir: Path, broker: MosquittoBroker | None
) -> PoleConfig:
    """The pole's config with the simulator's radar port, mock pins and private broker."""
    mqtt = None
    if broker is not None:
        mqtt = MqttConfig(host=broker.host, port=broker.port, keepalive_s=10)
    return base.with_radar_port(radar_port).model_copy(
        update={
            "outputs": base.outputs.model_copy(update={"pin_factory": "mock"}),
            "state_dir": state_dir,
            "mqtt": mqtt,
        }
    )


def run_demo(args: argparse.Namespace) -> int:
    if getattr(args, "scenario", None) or getattr(args, "list_scenarios", False):
        from simulator.scenarios.live import run_live  # noqa: PLC0415 (only when asked)

        return run_live(args)
    live = args.view == "live" or (args.view == "auto" and sys.stdout.isatty())
    ring = RingLogHandler(40)
    if live:
        setup_logging(args.log_level, "text", stream=open("/dev/null", "w"))  # noqa: SIM115
        logging.getLogger().handlers[:] = [ring]
    else:
        setup_logging(args.log_level, args.log_format)

    config_path: Path = args.config or DEFAULT_CONFIG
    try:
        base = load_config(config_path)
    except ConfigError as err:
        for problem in err.problems:
            print(f"{config_path}: {problem}", file=sys.stderr)
        return 1

    clock = ScaledClock(args.speed)
    sim_duration = (args.duration * args.speed) if args.duration else OPEN_ENDED_S
    scenario = TrafficScenario(vehicles_per_hour=args.vehicles_per_hour, seed=args.seed)
    world = World(
        generate_vehicles(scenario, sim_duration), angle_deg=base.radars.road.mounting_angle_deg
    )

    with tempfile.TemporaryDirectory(prefix="pole-sim-") as tmp:
        workdir = Path(tmp)
        broker: MosquittoBroker | None = None
        monitor: BrokerMonitor | None = None
        if not args.no_broker:
            try:
                broker = MosquittoBroker(work_dir=workdir / "broker")
                broker.start()
            except BrokerUnavailable as err:
                log.warning("no private broker: %s; the agent runs offline", err)
                broker = None
        emulator = Ops243Emulator(world, clock, workdir, seed=args.seed)
        emulator.start()
        config = simulated_pole_config(
            base,
            radar_port=emulator.port,
            state_dir=args.state_dir or workdir / "state",
            broker=broker,
        )
        factory = MockFactory(pin_class=MockPWMPin)
        try:
            agent = build_agent(config, clock, pin_factory=factory)
        except StartupError as err:
            print(f"cannot start: {err}", file=sys.stderr)
            emulator.stop()
            if broker:
                broker.close()
            return 3
        if broker is not None:
            monitor = BrokerMonitor(broker.host, broker.port, config.pole_id)
            monitor.start()

        stop = threading.Event()
        install_stop_signals(stop)
        # A closed terminal (SIGHUP) stops the demo cleanly too: broker, pty and temp files go.
        signal.signal(signal.SIGHUP, lambda signum, frame: stop.set())
        view = None
        if live:
            view = LiveView(agent, emulator, factory, monitor=monitor, ring=ring, broker=broker)
        agent.start()
        log.info(
            "simulated pole %s: radar on %s, broker %s, x%g time",
            config.pole_id,
            emulator.port,
            f"{broker.host}:{broker.port}" if broker else "none",
            args.speed,
        )
        try:
            _wait(stop, args.duration, view, agent)
        finally:
            agent.stop("stopped")
            emulator.stop()
            if monitor is not None:
                monitor.wait_for_state("stopped", timeout=3.0)
                monitor.stop()
            if broker is not None:
                broker.close()
            if view is not None:
                view.close()
        print(f"simulation over: {status_line(agent)}")
        if monitor is not None:
            print(
                f"broker received {monitor.count('events/vehicle')} vehicle events; last status "
                f"'{monitor.last_state()}'"
            )
    return 0


def _wait(
    stop: threading.Event,
    duration_s: float | None,
    view: LiveView | None,
    agent: object,
) -> None:
    waited = 0.0
    step = 0.25
    while duration_s is None or waited < duration_s:
        if stop.wait(step):
            return
        waited += step
        if view is not None:
            view.render()
