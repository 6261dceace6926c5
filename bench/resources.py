"""CPU and memory of the agent per simulated hour of school-zone traffic (1,500 vehicles an hour).

The agent runs in this process, built with ``build_agent`` on a ``ScaledClock(F)`` with mock pins
and a real Mosquitto (``simulator.broker``), so publishing costs what it costs; the OPS243
emulator and its world run in a child process (``bench.radar_process``) on the same factor, so
their CPU is not counted. Three phases, each with a freshly built agent:

- ``idle x1``: no traffic, real time: the baseline; periodic work tied to real time (the
  reader's 50 ms read timeouts and ticks, paho's network loop, the MQTT drain's waits) at its
  true rate;
- ``idle xF``: no traffic at the busy run's factor: the share of the busy run that is not traffic;
- ``busy xF``: the traffic; its cost is busy minus the idle xF share.

Run: ``python -m bench.resources [--quick] [--factor 60] [--sim-minutes 60]``.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockFactory, MockPWMPin

from bench.radar_process import RadarProcess
from bench.report import paragraph, save_figures, table
from bench.sim_pole import (
    BenchError,
    bench_config,
    daemon_logging,
    open_fds,
    peak_rss_mb,
    reset_peak_rss,
    rss_mb,
    thread_count,
    wait_until,
)
from pole_agent.app import Agent, build_agent
from pole_agent.clock import ScaledClock
from pole_agent.config import MqttConfig
from simulator.broker import BrokerStartError, BrokerUnavailable, MosquittoBroker

VEHICLES_PER_HOUR = 1500.0
DEFAULT_FACTOR = 60.0
DEFAULT_SIM_MINUTES = 60.0
QUICK_SIM_MINUTES = 6.0
IDLE_REAL_S = 5.0
QUICK_IDLE_REAL_S = 2.0
SEED = 1
CPU_HEADERS = (
    "phase", "real s", "sim s", "CPU s", "CPU %core", "CPU s/sim h", "CPU s/real h",
    "lines", "transits", "warnings", "mqtt acked",
)  # fmt: skip
MEM_HEADERS = (
    "phase", "RSS before MB", "RSS built MB", "peak RSS MB", "threads start/run/end",
    "fds start/run/end",
)  # fmt: skip


@dataclass
class Phase:
    name: str
    factor: float
    real_s: float = 0.0
    cpu_s: float = 0.0
    lines: int = 0
    transits: int = 0
    warnings: int = 0
    delivered: int = 0
    rss_before_mb: float = 0.0
    rss_built_mb: float = 0.0
    peak_rss_mb: float = 0.0
    threads: tuple[int, int, int] = (0, 0, 0)
    fds: tuple[int, int, int] = (0, 0, 0)
    radar: dict[str, Any] = field(default_factory=dict)
    """What the radar process said: vehicles, lines_written, detected, its own cpu_s."""

    @property
    def sim_s(self) -> float:
        return self.real_s * self.factor

    @property
    def cpu_per_real_s(self) -> float:
        return self.cpu_s / self.real_s

    def cpu_row(self) -> list[str]:
        return [
            self.name,
            f"{self.real_s:.1f}",
            f"{self.sim_s:.0f}",
            f"{self.cpu_s:.3f}",
            f"{100 * self.cpu_per_real_s:.2f}",
            f"{self.cpu_s / self.sim_s * 3600:.1f}",
            f"{self.cpu_per_real_s * 3600:.1f}",
            *map(str, (self.lines, self.transits, self.warnings, self.delivered)),
        ]

    def mem_row(self) -> list[str]:
        return [
            self.name,
            f"{self.rss_before_mb:.1f}",
            f"{self.rss_built_mb:.1f}",
            f"{self.peak_rss_mb:.1f}",
            "/".join(map(str, self.threads)),
            "/".join(map(str, self.fds)),
        ]


def run_phase(
    name: str,
    work_dir: Path,
    broker: MosquittoBroker,
    *,
    factor: float,
    sim_s: float,
    idle_real_s: float = 0.0,
    vehicles_per_hour: float = VEHICLES_PER_HOUR,
) -> Phase:
    """One freshly built agent; traffic if ``sim_s`` > 0, else ``idle_real_s`` of quiet."""
    phase = Phase(name, factor)
    vph = vehicles_per_hour if sim_s > 0 else 0.0
    link_dir = work_dir / name.replace(" ", "-")
    radar = RadarProcess(link_dir, factor, vph, max(sim_s, 1.0), seed=SEED)
    agent: Agent | None = None
    try:
        threads0, fds0 = thread_count(), open_fds()
        phase.rss_before_mb = rss_mb()
        reset_peak_rss()
        mqtt = MqttConfig(host=broker.host, port=broker.port)
        config = bench_config(work_dir / "state", radar_port=radar.port, mqtt=mqtt)
        factory = MockFactory(pin_class=MockPWMPin)
        agent = build_agent(config, ScaledClock(factor), pin_factory=factory)
        phase.rss_built_mb = rss_mb()
        agent.start()
        if not wait_until(lambda: agent is not None and agent.radar.stats.state == "reading", 10):
            raise BenchError(f"{name}: the radar did not start reading: {agent.radar.stats}")
        if agent.mqtt is None or not agent.mqtt.wait_connected(10):
            raise BenchError(f"{name}: the agent did not connect to the broker")
        running = (thread_count(), open_fds())
        cpu0, t0 = time.process_time(), time.monotonic()
        phase.radar.update(radar.go())
        if sim_s > 0:
            phase.radar.update(radar.event("done"))
            # The last transit closes gap_s after its last frame, at the next 50 ms tick.
            time.sleep(config.tracking.gap_s / factor + 0.15)
        else:
            time.sleep(idle_real_s)
        phase.cpu_s, phase.real_s = time.process_time() - cpu0, time.monotonic() - t0
        phase.peak_rss_mb = peak_rss_mb()
        phase.lines, phase.transits = agent.radar.stats.lines, agent.pipeline.transits_reported
        phase.warnings, phase.delivered = agent.pipeline.warnings_given, agent.mqtt.delivered
        agent.stop("bench over")
        agent = None
        factory.close()
        gc.collect()  # paho's wake-up socketpair is closed only when its client is collected
        phase.threads = (threads0, running[0], thread_count())
        phase.fds = (fds0, running[1], open_fds())
    finally:
        if agent is not None:
            agent.stop("bench failed")
        phase.radar.update(radar.finish() or {})
        phase.radar.pop("event", None)
    return phase


@dataclass
class ResourcesResult:
    phases: list[Phase]
    factor: float
    sim_minutes: float

    def figures(self) -> dict[str, object]:
        """The busy phase's cost per simulated hour and its baselines, for the suite's table."""
        idle1, idle_f, busy = self.phases
        traffic = (busy.cpu_s - idle_f.cpu_per_real_s * busy.real_s) / busy.sim_s * 3600
        return {
            "factor": self.factor,
            "vehicles_per_hour": VEHICLES_PER_HOUR,
            "sim_minutes": self.sim_minutes,
            "busy_cpu_per_sim_h": busy.cpu_s / busy.sim_s * 3600,
            "idle_share_cpu_per_sim_h": idle_f.cpu_per_real_s * busy.real_s / busy.sim_s * 3600,
            "traffic_cpu_per_sim_h": traffic,
            "idle_x1_cpu_per_real_h": idle1.cpu_per_real_s * 3600,
            "busy_peak_rss_mb": busy.peak_rss_mb,
            "idle_peak_rss_mb": idle_f.peak_rss_mb,
            "vehicles": busy.radar.get("vehicles", 0),
            "transits": busy.transits,
            "warnings": busy.warnings,
        }

    def render(self) -> str:
        idle1, idle_f, busy = self.phases
        cpu_rows = [p.cpu_row() for p in self.phases]
        mem_rows = [p.mem_row() for p in self.phases]
        busy_per_sim_h = busy.cpu_s / busy.sim_s * 3600
        idle_share = idle_f.cpu_per_real_s * busy.real_s
        traffic_per_sim_h = (busy.cpu_s - idle_share) / busy.sim_s * 3600
        idle1_per_h = idle1.cpu_per_real_s * 3600
        pole_per_h = idle1_per_h + traffic_per_sim_h
        radar = busy.radar
        vehicles = radar.get("vehicles", 0)
        vehicles_per_h = vehicles / (busy.sim_s / 3600)
        findings = [
            f"busy x{self.factor:g}: {busy_per_sim_h:.1f} CPU s per simulated hour ({vehicles} "
            f"vehicles = {vehicles_per_h:,.0f}/h over the window, "
            f"{radar.get('detected', '?')} seen by the radar, {radar.get('lines_written', '?')} "
            f"lines written; the emulator process used {radar.get('cpu_s', '?')} CPU s, not "
            "counted).",
            f"traffic cost = busy minus the idle x{self.factor:g} share "
            f"({idle_share:.3f} CPU s over the same real time): {traffic_per_sim_h:.1f} CPU s "
            "per simulated hour.",
            f"idle x1, the baseline: {idle1_per_h:.1f} CPU s per real hour "
            f"({100 * idle1.cpu_per_real_s:.2f}% of a core).",
            f"a pole at x1, estimated: idle x1 + traffic cost = {idle1_per_h:.1f} + "
            f"{traffic_per_sim_h:.1f} = {pole_per_h:.1f} CPU s per hour ({pole_per_h / 36:.2f}% "
            f"of a core); peak RSS {busy.peak_rss_mb:.1f} MB.",
        ]
        return "\n".join(
            [
                paragraph(
                    f"Agent resources: {VEHICLES_PER_HOUR:,.0f} vehicles/h for "
                    f"{self.sim_minutes:g} simulated minutes at x{self.factor:g}, real "
                    "Mosquitto, mock pins, logging at INFO to /dev/null; the emulator in a "
                    "child process (not counted)"
                ),
                "",
                table(CPU_HEADERS, cpu_rows),
                "",
                table(MEM_HEADERS, mem_rows),
                "",
                *(paragraph(line, indent="- ") for line in findings),
                "",
                paragraph(
                    "Notes: CPU is user+sys of this process (all its threads) over the window "
                    "from 'go' to the last transit closed; the bench's own thread sleeps "
                    "meanwhile. At xF, work tied to real time (50 ms read timeouts and ticks, "
                    "paho's loop, the MQTT drain's 0.5 s waits, keepalives) runs F times fewer "
                    "per simulated hour than on a pole: hence the idle x1 row and the estimate "
                    "above. Peak RSS is the process high-water mark (VmHWM, what ru_maxrss "
                    "reports), reset through /proc/self/clear_refs before each phase's build. "
                    "threads/fds: before build / running / after stop and gc.collect(). "
                    "Vehicles that overlap in the beam in the same direction can make one "
                    "transit (a single-target radar)."
                ),
            ]
        )


def run(*, factor: float, sim_minutes: float, idle_real_s: float) -> ResourcesResult:
    try:
        broker = MosquittoBroker()
        broker.start()
    except (BrokerUnavailable, BrokerStartError) as err:
        raise BenchError(f"no broker: {err}") from err
    phases: list[Phase] = []
    try:
        with tempfile.TemporaryDirectory(prefix="pole-bench-res-") as tmp, daemon_logging():
            work = Path(tmp)
            for name, phase_factor, sim_s in (
                ("idle x1", 1.0, 0.0),
                (f"idle x{factor:g}", factor, 0.0),
                (f"busy x{factor:g}", factor, sim_minutes * 60),
            ):
                print(f"  resources: {name} ...", file=sys.stderr, flush=True)
                phases.append(
                    run_phase(
                        name,
                        work,
                        broker,
                        factor=phase_factor,
                        sim_s=sim_s,
                        idle_real_s=idle_real_s,
                    )
                )
    finally:
        broker.close()
    return ResourcesResult(phases, factor, sim_minutes)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_SIM_MINUTES:g} simulated minutes"
    )
    parser.add_argument("--factor", type=float, default=DEFAULT_FACTOR, help="clock factor")
    parser.add_argument("--sim-minutes", type=float, help=f"default {DEFAULT_SIM_MINUTES:g}")
    parser.add_argument("--idle-seconds", type=float, help=f"default {IDLE_REAL_S:g} real s")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")


def run_from_args(args: argparse.Namespace) -> ResourcesResult:
    sim_minutes = args.sim_minutes or (QUICK_SIM_MINUTES if args.quick else DEFAULT_SIM_MINUTES)
    idle_s = args.idle_seconds or (QUICK_IDLE_REAL_S if args.quick else IDLE_REAL_S)
    return run(factor=args.factor, sim_minutes=sim_minutes, idle_real_s=idle_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.resources", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        result = run_from_args(args)
    except BenchError as err:
        print(f"bench.resources: {err}", file=sys.stderr)
        return 1
    print(result.render())
    save_figures(args.json, result.figures())
    return 0


if __name__ == "__main__":
    sys.exit(main())
