"""Fleet throughput: many poles at a school morning's rate through one Mosquitto to the city's
reference consumer, with a smaller fleet at the same per-pole rate as the baseline.

Three processes besides the broker, so each one's CPU is its own:

- the fleet: ``python -m simulator.fleet`` (every pole a lightweight model on one event loop,
  publishing through the agent's own ``Reporter``: docs/scaling.md);
- the consumer: ``pole-agent fleet listen`` (``python -m pole_agent fleet listen``), the city's
  reference consumer: validates, de-duplicates and stores every message in SQLite, and reports
  gaps by boot id and seq;
- Mosquitto (``simulator.broker``), as the tests run it.

The rate: the rush-hour traffic the other benchmarks use (1,500 vehicles an hour past each pole,
``bench/resources.py``) with the simulator's traffic model (``simulator.world.TrafficScenario``:
normal speeds 35 +- 8 km/h, half approaching) in an active zone at 30 km/h, so about 37 % of the
vehicles are warned (a warning start and end each); health every 60 s (the agent's default) and,
so that every run has one, stats windows of 60 s (the agent's default is 900 s): they close at
the same wall-clock instant on every pole, as on a real fleet, and that burst is in the figures.

Figures, over the traffic phase (every pole online):

- offered: counted messages the poles published per second (births, discovery and ``stopped``
  are not counted); delivered: what the consumer stored per second; broker msg/s: in + out;
- delay: from the pole model handing the message to its connection (``time.time()``) to the
  consumer storing it (the ``received`` column, set just before the insert), p50 / p99 / max;
- lost: seqs missing in the consumer's own gap report (by boot id and seq), and messages the
  fleet published that the consumer never stored (a tail loss has no gap after it);
- CPU: each process's user + system time over the traffic phase, as % of one core (the machine
  has 2); memory: the broker's and the fleet's resident size at the end of the traffic phase;
- fleet lag: how late the fleet's one loop ran its poles' actions (p99). In an aligned burst the
  fleet makes a thousand messages one after another, which real poles do in parallel: that part
  of the delay is the simulation's.

A third row runs the measured fleet on Mosquitto's default per-client queue (1,000 messages),
which the aligned bursts overflow (``--no-default-queue-row`` skips it).

Run: ``python -m bench.fleet [--quick] [--poles 1000] [--baseline 100] [--duration 60]``. For
``make bench``: ``fleet_throughput(poles, duration_s)`` returns one row's figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from bench.report import paragraph, percentile, table
from bench.sim_pole import ROOT, BenchError
from pole_agent.drivers.mqtt_link import PublishFailedError, publish_once
from pole_agent.telemetry import topics
from pole_agent.telemetry.messages import StatusOffline
from simulator.broker import MosquittoBroker
from simulator.fleet.pole_model import PoleTraffic, offered_rate
from simulator.fleet.runner import read_stamps

VEHICLES_PER_HOUR = PoleTraffic().vehicles_per_hour
STATS_INTERVAL_S = 60
PROBE_POLE = "bench-probe"
CITY_QUEUE = 100_000
"""``max_queued_messages`` for the measured rows: Mosquitto's default (1,000 per client) is
smaller than one aligned stats burst of a 1,000-pole fleet (see the third row)."""
HEADERS = (
    "poles", "broker queue", "offered msg/s", "delivered msg/s", "broker msg/s",
    "events p50 ms", "events p99 ms", "all p99 ms", "max ms", "lost (gaps)", "lost (tail)",
    "fleet lag p99 ms", "fleet CPU %", "broker CPU %", "consumer CPU %", "broker RSS MB",
    "fleet RSS MB", "connect s",
)  # fmt: skip


@dataclass(frozen=True)
class FleetFigures:
    """One fleet run's figures (rates over the traffic phase)."""

    poles: int
    max_queued_messages: int | None
    """The broker's per-client queue (None: Mosquitto's default, 1,000)."""
    run_s: float
    published: int
    """Counted messages the poles made, the stop's last stats windows included."""
    stored: int
    offered_msg_s: float
    delivered_msg_s: float
    broker_msg_s: float
    events_p50_ms: float
    """Delay of events (vehicle, warning): what an operator waits for."""
    events_p99_ms: float
    delay_p99_ms: float
    """Delay of every counted message, the aligned stats and health bursts included."""
    delay_max_ms: float
    missing: int
    """Seqs missing in the consumer's gap report (lost, by boot id + seq)."""
    unstored: int
    """Published, never stored (includes losses after a stream's last stored seq)."""
    duplicates: int
    fleet_lag_p99_ms: float
    """How late the fleet's own loop ran its poles' actions (p99): the share of the delay that
    is the simulation's, not the broker's or the consumer's."""
    fleet_cpu_pct: float
    broker_cpu_pct: float
    consumer_cpu_pct: float
    broker_rss_mb: float
    fleet_rss_mb: float
    connect_s: float

    def row(self) -> list[str]:
        return [
            f"{self.poles:,}",
            "default 1,000"
            if self.max_queued_messages is None
            else f"{self.max_queued_messages:,}",
            f"{self.offered_msg_s:.0f}",
            f"{self.delivered_msg_s:.0f}",
            f"{self.broker_msg_s:.0f}",
            f"{self.events_p50_ms:.1f}",
            f"{self.events_p99_ms:.1f}",
            f"{self.delay_p99_ms:.1f}",
            f"{self.delay_max_ms:.0f}",
            str(self.missing),
            str(self.unstored),
            f"{self.fleet_lag_p99_ms:.1f}",
            f"{self.fleet_cpu_pct:.1f}",
            f"{self.broker_cpu_pct:.1f}",
            f"{self.consumer_cpu_pct:.1f}",
            f"{self.broker_rss_mb:.1f}",
            f"{self.fleet_rss_mb:.1f}",
            f"{self.connect_s:.2f}",
        ]


def rss_mb(pid: int) -> float:
    """Resident memory of a live process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Lines:
    """A child's stdout, line by line, read by a thread (so waiting has a timeout)."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for(self, predicate: Callable[[str], bool], timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        seen = 0
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    if predicate(line):
                        return line
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or (not self._thread.is_alive() and seen == len(self.lines)):
                    raise BenchError(f"expected output did not come; got {self.lines[-5:]}")
                self._changed.wait(min(left, 0.5))

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout_s)


def _event(name: str) -> Callable[[str], bool]:
    def match(line: str) -> bool:
        try:
            return bool(json.loads(line).get("event") == name)
        except (ValueError, AttributeError):
            return False

    return match


def _python(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]


def _env() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def _wait_subscribed(broker: MosquittoBroker, db: Path, timeout_s: float = 30.0) -> None:
    """Publish a probe status until the consumer has stored one: it is then subscribed."""
    payload = StatusOffline(pole_id=PROBE_POLE, boot_id="probe").model_dump_json().encode()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(PublishFailedError):
            publish_once(
                host=broker.host,
                port=broker.port,
                topic=topics.status(PROBE_POLE),
                payload=payload,
                client_id="bench-fleet-probe",
            )
        if _query(db, "SELECT count(*) FROM statuses WHERE pole_id = ?", (PROBE_POLE,)):
            return
        time.sleep(0.2)
    raise BenchError("the consumer did not subscribe")


def _query(db: Path, sql: str, params: tuple[object, ...] = ()) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            value = conn.execute(sql, params).fetchone()[0]
    except sqlite3.Error:
        return 0
    return int(value or 0)


def fleet_throughput(
    poles: int = 1000,
    duration_s: float = 60.0,
    *,
    vehicles_per_hour: float = VEHICLES_PER_HOUR,
    stats_interval_s: int = STATS_INTERVAL_S,
    max_queued_messages: int | None = CITY_QUEUE,
    work_dir: Path | None = None,
) -> FleetFigures:
    """Run ``poles`` pole models for ``duration_s`` real seconds of traffic against a fresh
    Mosquitto and the reference consumer, and measure (see the module docstring).

    The fleet throughput figure for a summary table is ``delivered_msg_s`` (messages a second
    the broker carried from the poles into the consumer's store), next to ``delay_p99_ms`` and
    ``missing``. ``max_queued_messages`` is the broker's per-client queue (None: Mosquitto's
    default). Raises ``BenchError`` if a process does not start or finish.
    """
    with tempfile.TemporaryDirectory(prefix="bench-fleet-", dir=work_dir) as tmp:
        return _run(
            Path(tmp),
            poles,
            duration_s=duration_s,
            vehicles_per_hour=vehicles_per_hour,
            stats_interval_s=stats_interval_s,
            max_queued_messages=max_queued_messages,
        )


def _run(
    tmp: Path,
    poles: int,
    *,
    duration_s: float,
    vehicles_per_hour: float,
    stats_interval_s: int,
    max_queued_messages: int | None,
) -> FleetFigures:
    db, stamps_file = tmp / "fleet.sqlite3", tmp / "stamps.tsv"
    prefix = f"b{poles}"
    queue = "" if max_queued_messages is None else f"max_queued_messages {max_queued_messages}"
    with MosquittoBroker(work_dir=tmp / "broker", extra_config=queue) as broker:
        assert broker.pid is not None
        consumer = subprocess.Popen(
            _python(
                "pole_agent", "fleet", "listen", "--host", broker.host, "--port",
                str(broker.port), "--db", str(db), "--client-id", "bench-fleet-consumer",
                "--report-every", "0", "--json",
            ),
            cwd=ROOT, env=_env(), stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert consumer.stdout is not None
        consumer_out = _Lines(consumer.stdout)
        fleet: subprocess.Popen[str] | None = None
        try:
            _wait_subscribed(broker, db)
            fleet = subprocess.Popen(
                _python(
                    "simulator.fleet", "--host", broker.host, "--port", str(broker.port),
                    "--poles", str(poles), "--duration", str(duration_s),
                    "--vehicles-per-hour", str(vehicles_per_hour),
                    "--stats-interval", str(stats_interval_s), "--id-prefix", prefix,
                    "--stamps", str(stamps_file),
                ),
                cwd=ROOT, env=_env(), stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            assert fleet.stdout is not None
            fleet_out = _Lines(fleet.stdout)
            connected = json.loads(fleet_out.wait_for(_event("connected"), 120))
            broker0, consumer0 = cpu_seconds(broker.pid), cpu_seconds(consumer.pid)
            over = json.loads(fleet_out.wait_for(_event("traffic_over"), duration_s + 120))
            broker1, consumer1 = cpu_seconds(broker.pid), cpu_seconds(consumer.pid)
            memory = rss_mb(broker.pid), rss_mb(fleet.pid)
            done = json.loads(fleet_out.wait_for(_event("done"), 180))
            if fleet.wait(60) != 0:
                raise BenchError(f"the fleet exited with status {fleet.returncode}")
            stamps = read_stamps(stamps_file)
            published = len(stamps)
            counted = "SELECT count(*) FROM messages WHERE pole_id LIKE ?"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if _query(db, counted, (prefix + "-%",)) >= published:
                    break
                time.sleep(0.2)
        finally:
            if fleet is not None and fleet.poll() is None:
                fleet.kill()
                fleet.wait()
            consumer.send_signal(signal.SIGTERM)
            try:
                consumer.wait(60)
            except subprocess.TimeoutExpired:
                consumer.kill()
                consumer.wait()
            consumer_out.join(10)
    report = json.loads(consumer_out.wait_for(lambda line: line.startswith("{"), 5))
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT pole_id, stream, seq, received FROM messages WHERE pole_id LIKE ?",
            (prefix + "-%",),
        ).fetchall()
    t0, t1 = float(connected["at"]), float(over["at"])
    run_s = t1 - t0
    delays, event_delays, delivered = [], [], 0
    for pole_id, stream, seq, received in rows:
        delivered += t0 <= float(received) <= t1
        sent = stamps.get((f"{topics.PREFIX}/{pole_id}/{stream}", int(seq)))
        if sent is not None:
            delays.append((float(received) - sent) * 1000.0)
            if str(stream).startswith("events/"):
                event_delays.append(delays[-1])
    offered = sum(1 for at in stamps.values() if t0 <= at <= t1)
    duplicates = sum(int(s["duplicates"]) for s in report["streams"])
    return FleetFigures(
        poles=poles,
        max_queued_messages=max_queued_messages,
        run_s=run_s,
        published=published,
        stored=len(rows),
        offered_msg_s=offered / run_s,
        delivered_msg_s=delivered / run_s,
        broker_msg_s=(offered + delivered) / run_s,
        events_p50_ms=percentile(event_delays, 50),
        events_p99_ms=percentile(event_delays, 99),
        delay_p99_ms=percentile(delays, 99),
        delay_max_ms=max(delays, default=float("nan")),
        missing=int(report["missing"]),
        unstored=len(stamps) - len(rows),
        duplicates=duplicates,
        fleet_lag_p99_ms=float(done.get("lag_p99_ms", float("nan"))),
        fleet_cpu_pct=100.0 * float(done["cpu_s"]) / run_s,
        broker_cpu_pct=100.0 * (broker1 - broker0) / run_s,
        consumer_cpu_pct=100.0 * (consumer1 - consumer0) / run_s,
        broker_rss_mb=memory[0],
        fleet_rss_mb=memory[1],
        connect_s=float(connected["connect_s"]),
    )


def render(figures: list[FleetFigures], duration_s: float) -> str:
    rate = offered_rate(PoleTraffic(stats_interval_s=STATS_INTERVAL_S))
    lines = [
        f"Fleet throughput: poles at {VEHICLES_PER_HOUR:,.0f} vehicles/h each (expected "
        f"{rate:.2f} msg/s per pole), {duration_s:.0f} s of traffic, one Mosquitto, the "
        "reference consumer storing to SQLite",
        "",
        table(HEADERS, [f.row() for f in figures]),
        "",
    ]
    first, last = figures[0], figures[1] if len(figures) > 1 else figures[0]
    if len(figures) > 1 and first.delivered_msg_s > 0:
        growth = last.poles / first.poles
        ratios = ", ".join(
            f"{name} x{_ratio(getattr(last, key), getattr(first, key))}"
            for name, key in (
                ("delivered", "delivered_msg_s"),
                ("broker CPU", "broker_cpu_pct"),
                ("consumer CPU", "consumer_cpu_pct"),
                ("fleet CPU", "fleet_cpu_pct"),
                ("delay p99", "delay_p99_ms"),
            )
        )
        duplicates = ", ".join(str(f.duplicates) for f in figures)
        lines.append(
            paragraph(
                f"{growth:.0f}x the poles: {ratios}. Broker msg/s counts each message in (from a "
                f"pole) and out (to the consumer). Duplicates stored: {duplicates}."
            )
        )
    for f in figures:
        if f.max_queued_messages is None and f.unstored:
            lines.append(
                paragraph(
                    f"With Mosquitto's default queue (1,000 messages per client) the broker "
                    f"dropped {f.unstored} of {f.published} messages on their way to the "
                    "consumer when the poles' aligned bursts (stats windows, the stop) "
                    "outran it; the consumer's gap report shows only the ones a later seq "
                    f"of the same stream reveals ({f.missing}). Raise max_queued_messages on "
                    "the city broker (docs/scaling.md)."
                )
            )
    return "\n".join(lines)


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}" if b > 0 else "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20 s of traffic per row")
    parser.add_argument("--poles", type=int, default=1000, help="the fleet measured")
    parser.add_argument("--baseline", type=int, default=100, help="the smaller fleet")
    parser.add_argument("--duration", type=float, default=None, help="seconds of traffic")
    parser.add_argument(
        "--no-default-queue-row",
        action="store_true",
        help="skip the row with Mosquitto's default queue",
    )
    args = parser.parse_args(argv)
    if args.poles < 1 or args.baseline < 1:
        parser.error("--poles and --baseline must be positive")
    duration = args.duration or (20.0 if args.quick else 60.0)
    runs: list[tuple[int, int | None]] = [(args.baseline, CITY_QUEUE), (args.poles, CITY_QUEUE)]
    if not args.no_default_queue_row:
        runs.append((args.poles, None))
    figures = []
    for poles, queue in runs:
        print(f"fleet: {poles} poles for {duration:.0f} s", file=sys.stderr, flush=True)
        figures.append(fleet_throughput(poles, duration, max_queued_messages=queue))
    print(render(figures, duration))
    return 0


if __name__ == "__main__":
    sys.exit(main())
