"""Soak: a school day of traffic through the real agent in compressed time, watching its process.

    python -m bench.soak [--hours 24] [--start-hour 0] [--factor 60] [--json FILE]

The agent is built in this process by ``app.build_agent`` on ``ScaledClock(F)`` with gpiozero mock
pins and a real Mosquitto; the OPS243 emulator and its world run in a child process
(``bench.radar_process``) with ``bench.school_day``'s traffic; the reference consumer is
``pole-agent fleet listen``, a child process on the same broker. While the traffic runs, this
process samples its own RSS, threads and open file descriptors from ``/proc/self`` every
``--sample-every`` real seconds.

Criteria (each printed with its figures; exit status 1 when one fails):

- flat: after a warm-up (the first simulated hour, or the first 10 % of a shorter run), the mean
  of the last quarter of the samples is within 5 % of the mean of the first quarter, for RSS,
  threads and fds alike; and after the agent stopped, threads and fds are back where they were
  before it was built;
- every vehicle reported: each vehicle the emulator put on the wire is covered by a vehicle
  event the consumer stored, and no event covers no vehicle (``bench.soak_checks``);
- every transit reached the consumer: transits the agent reported = vehicle events the consumer
  stored, with no seq missing or dropped in any stream;
- the spool is empty at the end: no row in the spool file after the agent stopped.

Vehicles never share the beam (``min_headway_s`` well over the tracker's ``gap_s``), so one
vehicle is one transit. Under time compression a stall of ``s`` real seconds looks like ``s * F``
simulated seconds: ``gap_s`` is 3 s here (the harness uses 2.5 s for the same reason), so at x60
a stall under 50 ms cannot split a transit. Longer stalls of a loaded machine leave artefacts
that are not the agent's (splits, merges, vehicles the stalled emulator never sent): they are
counted apart and printed (``bench.soak_checks``), and docs/performance.md says why.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockFactory, MockPWMPin

from bench.radar_process import RadarProcess
from bench.report import paragraph, table
from bench.sim_pole import (
    ROOT,
    SIM_CONFIG,
    BenchError,
    daemon_logging,
    open_fds,
    os_threads,
    rss_mb,
    wait_until,
)
from bench.soak_checks import Check, Sample, flatness, match_events, matching_checks
from bench.suite import machine, write_doc
from pole_agent.app import SPOOL_FILE, Agent, build_agent
from pole_agent.clock import ScaledClock
from pole_agent.config import MqttConfig, PoleConfig, load_config
from simulator.broker import BrokerStartError, BrokerUnavailable, MosquittoBroker

DEFAULT_FACTOR = 60.0
GAP_S = 3.0
"""The tracker's gap for the soak (default 1 s): see the module's last paragraph."""
MIN_HEADWAY_S = 5.5
STALE_AFTER_S = 10.0
"""The road radar's stale timeout (default 2 s, 33 ms real at x60): a stall of a loaded machine
must not pass for a silent sensor. The emulator reports a frame 10 times a simulated second."""
SEED = 3
DOC_BEGIN = "<!-- soak:begin (written by `make soak`) -->"
DOC_END = "<!-- soak:end -->"
MOCK_PIN_CHANGE_BYTES = 120
"""What one recorded state change of a gpiozero mock pin costs (measured with tracemalloc)."""


@dataclass
class SoakResult:
    start_hour: float
    hours: float
    factor: float
    real_s: float = 0.0
    vehicles: int = 0
    beam_s: list[tuple[float, float]] = field(default_factory=list)
    """Each vehicle's (enter, exit), simulated s from the traffic's start."""
    events: list[tuple[float, float]] = field(default_factory=list)
    """Each vehicle event the consumer stored: (start, end) on the same axis."""
    unseen: list[int] = field(default_factory=list)
    mock_pin_changes: int = 0
    """State changes gpiozero's mock pins keep (a test fixture's history, ~120 bytes each: it
    grows with every beacon flash and is in the RSS; a real pin factory keeps none)."""
    """Ids (1-based, in ``beam_s`` order) of vehicles the emulator never put in a frame."""
    transits: int = 0
    warnings: int = 0
    consumer: dict[str, Any] = field(default_factory=dict)
    spool_rows: int = -1
    threads_before_after: tuple[int, int] = (0, 0)
    fds_before_after: tuple[int, int] = (0, 0)
    samples: list[Sample] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def as_json(self) -> dict[str, Any]:
        return asdict(self) | {"ok": self.ok}

    def render(self) -> str:
        rows = []
        for hour in range(int(self.hours + 0.999)):
            hs = [s for s in self.samples if hour <= s.sim_h < hour + 1]
            if not hs:
                continue
            cars = sum(1 for t, _ in self.beam_s if hour * 3600 <= t < (hour + 1) * 3600)
            clock = (self.start_hour + hour) % 24
            rows.append(
                [
                    f"{int(clock):02d}:{int(clock % 1 * 60):02d}",
                    str(cars),
                    str(hs[-1].transits),
                    f"{max(s.rss_mb for s in hs):.1f}",
                    str(max(s.threads for s in hs)),
                    str(max(s.fds for s in hs)),
                    str(max(s.spool_depth for s in hs)),
                    f"{hs[-1].cpu_s:.1f}",
                ]
            )
        headers = ["sim hour", "vehicles", "transits (cum.)", "RSS MB max", "threads max",
                   "fds max", "spool max", "CPU s (cum.)"]  # fmt: skip
        checks = [
            paragraph(f"{c.name}: {c.detail}", indent="pass  " if c.ok else "FAIL  ")
            for c in self.checks
        ]
        start = f"{int(self.start_hour):02d}:{round(self.start_hour % 1 * 60):02d}"
        return "\n".join(
            [
                paragraph(
                    f"Soak: {self.hours:g} simulated hours of the school day from "
                    f"{start} at x{self.factor:g} ({self.real_s:.0f} s real), "
                    f"{self.vehicles} vehicles, {self.warnings} warnings; the real agent, a real "
                    "Mosquitto, the reference consumer; /proc/self sampled "
                    f"{len(self.samples)} times. gpiozero's mock pins recorded "
                    f"{self.mock_pin_changes:,} state changes (their history, about "
                    f"{self.mock_pin_changes * MOCK_PIN_CHANGE_BYTES / 2**20:.1f} MiB of the RSS; "
                    "a real pin factory keeps none)"
                ),
                "",
                table(headers, rows),
                "",
                *checks,
            ]
        )


def soak_config(state_dir: Path, radar_port: str, broker: MosquittoBroker) -> PoleConfig:
    """deploy/config/simulator.toml with the emulator's port, mock pins, this broker, the
    soak's tracking gap and stale timeout."""
    base = load_config(SIM_CONFIG).with_radar_port(radar_port)
    road = base.radars.road.model_copy(update={"stale_after_s": STALE_AFTER_S})
    return base.model_copy(
        update={
            "radars": base.radars.model_copy(update={"road": road}),
            "outputs": base.outputs.model_copy(update={"pin_factory": "mock"}),
            "tracking": base.tracking.model_copy(update={"gap_s": GAP_S}),
            "state_dir": state_dir,
            "mqtt": MqttConfig(host=broker.host, port=broker.port),
        }
    )


class Listener:
    """``pole-agent fleet listen`` as a child process; ``finish`` returns its final report."""

    def __init__(self, broker: MosquittoBroker, db: Path, pole_id: str) -> None:
        command = [
            sys.executable, "-m", "pole_agent", "fleet", "listen", "--host", broker.host,
            "--port", str(broker.port), "--db", str(db), "--pole", pole_id,
            "--client-id", "soak-city", "--report-every", "0", "--json", "--log-level", "info",
        ]  # fmt: skip
        self._log = db.with_suffix(".log")
        with self._log.open("w", encoding="utf-8") as log:
            self._proc = subprocess.Popen(
                command, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True
            )
        if not wait_until(
            lambda: "listening on" in self.log() or self._proc.poll() is not None, 30
        ):
            raise BenchError("fleet listen did not start within 30 s")
        if self._proc.poll() is not None:
            raise BenchError(f"fleet listen ended early: {self.log()[-500:]}")
        time.sleep(1.0)  # the subscription is acknowledged after the log line

    def log(self) -> str:
        return self._log.read_text(encoding="utf-8", errors="replace")

    def finish(self) -> dict[str, Any]:
        self._proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self._proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.communicate()
            raise BenchError("fleet listen did not stop on SIGTERM") from None
        lines = out.strip().splitlines()
        if not lines:
            raise BenchError(f"fleet listen printed no report: {self.log()[-500:]}")
        report: dict[str, Any] = json.loads(lines[-1])
        return report

    def kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.communicate()


def _sample(t0: float, factor: float, cpu0: float, agent: Agent) -> Sample:
    real = time.monotonic() - t0
    return Sample(
        real_s=round(real, 2),
        sim_h=real * factor / 3600,
        rss_mb=round(rss_mb(), 2),
        threads=os_threads(),
        fds=open_fds(),
        cpu_s=round(time.process_time() - cpu0, 3),
        transits=agent.pipeline.transits_reported,
        spool_depth=len(agent.outbox),
    )


def run(*, hours: float, start_hour: float, factor: float, sample_every_s: float) -> SoakResult:
    result = SoakResult(start_hour, hours, factor)
    try:
        broker = MosquittoBroker(extra_config="max_queued_messages 0\n")
        broker.start()
    except (BrokerUnavailable, BrokerStartError) as err:
        raise BenchError(f"no broker: {err}") from err
    with (
        contextlib.closing(broker),
        tempfile.TemporaryDirectory(prefix="pole-soak-") as tmp,
        daemon_logging(),
    ):
        work = Path(tmp)
        radar = RadarProcess(
            work / "dev", factor, 0.0, hours * 3600, seed=SEED,
            school_day=start_hour, min_headway_s=MIN_HEADWAY_S,
        )  # fmt: skip
        config = soak_config(work / "state", radar.port, broker)
        listener: Listener | None = None
        agent: Agent | None = None
        try:
            listener = Listener(broker, work / "city.sqlite3", config.pole_id)
            before = (os_threads(), open_fds())
            factory = MockFactory(pin_class=MockPWMPin)
            agent = build_agent(config, ScaledClock(factor), pin_factory=factory)
            agent.start()
            origin = _drive(agent, radar, result, sample_every_s)
            agent.stop("soak over")
            agent = None
            factory.close()
            gc.collect()  # paho's wake-up socketpair is closed only when its client is collected
            result.threads_before_after = (before[0], os_threads())
            result.fds_before_after = (before[1], open_fds())
            time.sleep(1.0)  # the last messages reach the consumer
            result.consumer = listener.finish()
            listener = None
            result.events = _vehicle_events(work / "city.sqlite3", origin)
            result.spool_rows = _spool_rows(config.state_dir / SPOOL_FILE)
        finally:
            if agent is not None:
                agent.stop("soak failed")
            if listener is not None:
                listener.kill()
            radar.finish()
    result.checks = evaluate(result)
    return result


def _drive(
    live: Agent, radar: RadarProcess, result: SoakResult, sample_every_s: float
) -> dt.datetime:
    """Start the traffic, sample until it is over, wait for the last transit and the drain;
    the agent's wall clock at the traffic's simulated 0."""
    factor = result.factor
    if not wait_until(lambda: live.radar.stats.state == "reading", 20):
        raise BenchError(f"the radar did not start reading: {live.radar.stats}")
    if live.mqtt is None or not live.mqtt.wait_connected(20):
        raise BenchError("the agent did not connect to the broker")
    traffic = radar.go()
    result.vehicles = traffic["vehicles"]
    result.beam_s = [(enter, exit_) for enter, exit_ in traffic["beam_s"]]
    # The agent's wall clock at the traffic's simulated 0 (both clocks run from CLOCK_MONOTONIC).
    origin = live.clock.wall() - dt.timedelta(
        seconds=(time.monotonic() - traffic["start_real"]) * factor
    )
    t0, cpu0 = time.monotonic(), time.process_time()
    end = t0 + traffic["sim_seconds"] / factor
    while time.monotonic() < end:
        sample = _sample(t0, factor, cpu0, live)
        if result.samples and int(sample.sim_h) > int(result.samples[-1].sim_h):
            print(
                f"  soak: {int(sample.sim_h)}/{result.hours:g} simulated hours, "
                f"{sample.transits} transits, RSS {sample.rss_mb:.1f} MB, {sample.threads} "
                f"threads, {sample.fds} fds, spool {sample.spool_depth}",
                file=sys.stderr,
                flush=True,
            )
        result.samples.append(sample)
        time.sleep(min(sample_every_s, max(0.0, end - time.monotonic())))
    done = radar.event("done")
    result.unseen = done.get("unseen", [])
    # The last transit closes gap_s after its last frame; then the spool drains.
    time.sleep((GAP_S + 1.0) / factor + 0.2)
    wait_until(lambda: live.pipeline.transits_reported >= result.vehicles, 10, 0.05)
    wait_until(lambda: len(live.outbox) == 0, 60, 0.05)
    result.samples.append(_sample(t0, factor, cpu0, live))
    result.real_s = time.monotonic() - t0
    result.transits = live.pipeline.transits_reported
    result.warnings = live.pipeline.warnings_given
    pins = live.pin_factory.pins.values()
    result.mock_pin_changes = sum(len(getattr(pin, "states", ())) for pin in pins)
    return origin


def _vehicle_events(db: Path, origin: dt.datetime) -> list[tuple[float, float]]:
    """(start, end) of every vehicle event the consumer stored, simulated s from ``origin``."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT payload FROM messages WHERE stream = 'events/vehicle'")
        events = [json.loads(payload) for (payload,) in rows]
    return [
        (
            (dt.datetime.fromisoformat(e["start"]) - origin).total_seconds(),
            (dt.datetime.fromisoformat(e["ts"]) - origin).total_seconds(),
        )
        for e in events
    ]


def _spool_rows(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        (rows,) = conn.execute("SELECT COUNT(*) FROM spool").fetchone()
    return int(rows)


def evaluate(result: SoakResult) -> list[Check]:
    checks = flatness(result.samples, result.hours)
    threads, fds = result.threads_before_after, result.fds_before_after
    checks.append(
        Check(
            "no thread or fd left",
            threads[1] <= threads[0] and fds[1] <= fds[0],
            f"threads {threads[0]} before build, {threads[1]} after stop; "
            f"fds {fds[0]} before, {fds[1]} after",
        )
    )
    streams = result.consumer.get("streams", [])
    matching = match_events(result.beam_s, result.events, [i - 1 for i in result.unseen])
    checks += matching_checks(matching, result.transits, result.factor)
    missing = result.consumer.get("missing", -1)
    checks.append(
        Check(
            "no gaps",
            missing == 0 and result.consumer.get("dropped", -1) == 0,
            f"missing {missing}, dropped {result.consumer.get('dropped')} over "
            f"{len(streams)} streams ({sum(s['received'] for s in streams)} messages)",
        )
    )
    checks.append(
        Check("spool empty", result.spool_rows == 0, f"{result.spool_rows} rows after stop")
    )
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours (default 24)")
    parser.add_argument("--start-hour", type=float, default=0.0, help="hour of the day to start")
    parser.add_argument("--factor", type=float, default=DEFAULT_FACTOR, help="clock factor")
    parser.add_argument("--sample-every", type=float, help="real seconds between samples")
    parser.add_argument("--json", type=Path, help="also write the result as JSON here")
    parser.add_argument("--write-doc", type=Path, help="write the result into this Markdown file")
    args = parser.parse_args(argv)
    every = args.sample_every or max(0.5, min(5.0, args.hours * 3600 / args.factor / 200))
    try:
        result = run(
            hours=args.hours, start_hour=args.start_hour, factor=args.factor, sample_every_s=every
        )
    except BenchError as err:
        print(f"bench.soak: {err}", file=sys.stderr)
        return 2
    print(result.render())
    if args.write_doc is not None:
        when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        text = f"Run {when} on {machine()}:\n\n```\n{result.render()}\n```"
        write_doc(args.write_doc, text, DOC_BEGIN, DOC_END)
    if args.json is not None:
        args.json.write_text(json.dumps(result.as_json()), encoding="utf-8")
    return 0 if result.ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
