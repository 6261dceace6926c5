"""Telemetry throughput: events per second through the spool and the broker, and the spool's
replay rate after an outage, next to a baseline of publishing straight through paho.

Three runs against one private Mosquitto, in the same process and the same minute:

- BASELINE: a bare paho client publishes N QoS 1 messages (the same payload size, at most 20 in
  flight) and waits for every PUBACK: what paho and the broker cost at the least.
- LIVE: the agent's path: ``Reporter.vehicle`` (pydantic model, JSON) -> ``MqttLink.publish``
  -> the SQLite spool (batched commits) -> the drain -> PUBACK -> the row deleted; timed from
  the first event to the spool being empty. The cost of ``publish`` as the radar thread sees it
  (it only queues) is reported too.
- REPLAY: the broker stopped, N events made (they go to disk), the broker started: time from the
  reconnect (after the link's backoff) to the spool being empty.
- SPOOL WRITE, no broker: N vehicle events ``put`` into a ``Spool`` (the agent's batched writer
  thread) and committed to disk (``close`` commits the last batch), next to the baseline a
  straightforward writer would be: the same file format (``spool_db``: schema, WAL, synchronous
  NORMAL), one transaction per message, on the caller's thread.

Run: ``python -m bench.telemetry_throughput [--quick] [--events N]``. It prints a table and
never asserts a timing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from bench.report import percentile, save_figures, table
from pole_agent.clock import SystemClock
from pole_agent.config import MqttConfig, TelemetryConfig
from pole_agent.decisions.zone_schedule import ZoneState
from pole_agent.drivers.mqtt_link import MqttLink
from pole_agent.perception.transit import Transit
from pole_agent.telemetry import spool_db, topics
from pole_agent.telemetry.messages import StatusOffline
from pole_agent.telemetry.outbox import OutMessage
from pole_agent.telemetry.reporter import Reporter
from pole_agent.telemetry.spool import Spool
from simulator.broker import MosquittoBroker

POLE = "bench-pole-1"
ZONE = ZoneState(active=True, limit_kmh=30.0, window="day")


def baseline(broker: MosquittoBroker, count: int, size: int) -> float:
    """Messages per second, straight through paho (QoS 1, 20 in flight)."""
    done = threading.Event()
    acked = 0
    slots = threading.Semaphore(20)

    def on_publish(*_: object) -> None:
        nonlocal acked
        acked += 1
        slots.release()
        if acked == count:
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    client.on_publish = on_publish
    client.max_inflight_messages_set(20)
    client.connect(broker.host, broker.port)
    client.loop_start()
    payload = b"x" * size
    started = time.perf_counter()
    for _ in range(count):
        slots.acquire()
        client.publish(topics.vehicle_events(POLE), payload, qos=1)
    if not done.wait(120):
        raise RuntimeError(f"baseline: only {acked} of {count} acknowledged")
    elapsed = time.perf_counter() - started
    client.disconnect()
    client.loop_stop()
    return count / elapsed


class Pipeline:
    """The agent's telemetry path on the real clock."""

    def __init__(self, tmp: Path, broker: MosquittoBroker) -> None:
        clock = SystemClock()
        self.spool = Spool(
            tmp / "spool.sqlite3",
            boot_id="bench",
            clock=clock,
            max_bytes=1 << 30,
            max_age_s=86400,
            batch_s=0.5,
        )
        holder: dict[str, Reporter] = {}
        config = MqttConfig(host=broker.host, port=broker.port, reconnect_max_s=1.0)
        self.link = MqttLink(
            config,
            client_id=f"spole-{POLE}",
            username=POLE,
            status_topic=topics.status(POLE),
            birth=lambda: holder["r"].online(),  # noqa: PLW0108 (late binding)
            last_will=StatusOffline(pole_id=POLE, boot_id="bench").model_dump_json().encode(),
            outbox=self.spool,
            clock=clock,
        )
        self.reporter = Reporter(POLE, "bench", clock, self.link, ["radar"])
        holder["r"] = self.reporter
        self._n = 0
        self.publish_ns: list[int] = []

    def start(self) -> None:
        self.spool.start()
        self.link.start()
        if not self.link.wait_connected(10):
            raise RuntimeError("the link did not connect")

    def events(self, count: int) -> None:
        for _ in range(count):
            self._n += 1
            t = time.monotonic()
            transit = Transit(self._n, "approaching", t - 2, t - 1, 41.3, 38.2, 20)
            started = time.perf_counter_ns()
            self.reporter.vehicle(transit, ZONE, None)
            self.publish_ns.append(time.perf_counter_ns() - started)

    def wait_empty(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while len(self.spool) > 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(self.spool)} messages never left the spool")
            time.sleep(0.005)

    def stop(self) -> None:
        self.link.close(self.reporter.stopped("bench over"))
        self.spool.close()


class Recorder:
    """A Publisher that keeps what it is given as spool messages (the write benchmark's input)."""

    def __init__(self) -> None:
        self.messages: list[OutMessage] = []

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        self.messages.append(OutMessage(topic, payload, qos, retain, boot_id="bench"))

    def link_state(self) -> str:
        return "recording"


def vehicle_messages(count: int) -> list[OutMessage]:
    """``count`` vehicle events as the reporter makes them."""
    recorder = Recorder()
    reporter = Reporter(POLE, "bench", SystemClock(), recorder, ["radar"])
    for n in range(1, count + 1):
        t = time.monotonic()
        reporter.vehicle(Transit(n, "approaching", t - 2, t - 1, 41.3, 38.2, 20), ZONE, None)
    return [m for m in recorder.messages if m.topic == topics.vehicle_events(POLE)]


def spool_write(path: Path, messages: list[OutMessage]) -> tuple[float, list[float]]:
    """The agent's spool: messages/s from the first put to all committed; put() times in us."""
    spool = Spool(
        path, boot_id="bench", clock=SystemClock(), max_bytes=1 << 30, max_age_s=86400,
        batch_s=TelemetryConfig().spool_batch_s,
    )  # fmt: skip
    spool.start()
    put_us: list[float] = []
    started = time.perf_counter()
    for message in messages:
        t = time.perf_counter_ns()
        spool.put(message)
        put_us.append((time.perf_counter_ns() - t) / 1000)
    spool.close()
    return len(messages) / (time.perf_counter() - started), put_us


def naive_write(path: Path, messages: list[OutMessage]) -> tuple[float, list[float]]:
    """The baseline: same file format, one INSERT and COMMIT per message on the caller's thread;
    messages/s and the time each write holds its caller, in us."""
    write_us: list[float] = []
    with contextlib.closing(spool_db.open_db(path)) as conn:
        started = time.perf_counter()
        for message in messages:
            t = time.perf_counter_ns()
            conn.execute("BEGIN IMMEDIATE")
            spool_db.insert(conn, [message])
            conn.execute("COMMIT")
            write_us.append((time.perf_counter_ns() - t) / 1000)
        elapsed = time.perf_counter() - started
    return len(messages) / elapsed, write_us


def until(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(0.001)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.telemetry_throughput", description=__doc__
    )
    parser.add_argument("--quick", action="store_true", help="2,000 events instead of 20,000")
    parser.add_argument("--events", type=int, default=None, help="events per run")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    count = args.events or (2000 if args.quick else 20000)

    with (
        tempfile.TemporaryDirectory(prefix="bench-telemetry-") as tmp,
        MosquittoBroker(extra_config="max_queued_messages 0\n") as broker,
    ):
        pipeline = Pipeline(Path(tmp), broker)
        pipeline.start()
        print(f"live: {count} vehicle events through the spool ...", file=sys.stderr)
        started = time.perf_counter()
        pipeline.events(count)
        made = time.perf_counter() - started
        pipeline.wait_empty()
        live_elapsed = time.perf_counter() - started
        live_publish = list(pipeline.publish_ns)
        size = len(pipeline.reporter.published[-1][1])
        print(f"baseline: {count} QoS 1 messages straight through paho ...", file=sys.stderr)
        base_rate = baseline(broker, count, size)

        print(f"replay: {count} events made while the broker is down ...", file=sys.stderr)
        broker.stop()
        until(lambda: not pipeline.link.connected)
        pipeline.events(count)
        while pipeline.spool.unwritten or pipeline.spool.stats().depth < count:
            time.sleep(0.01)  # until every event is on disk
        time.sleep(1.0)
        on_disk = pipeline.spool.stats().bytes
        broker.start()
        until(lambda: pipeline.link.connected)  # the reconnect's backoff is not the replay
        replay_started = time.perf_counter()
        pipeline.wait_empty()
        replay_elapsed = time.perf_counter() - replay_started
        pipeline.stop()

        print(
            f"spool write: {count} events, spool and one-transaction-per-message ...",
            file=sys.stderr,
        )
        messages = vehicle_messages(count)
        naive_rate, naive_us = naive_write(Path(tmp) / "naive.sqlite3", messages)
        write_rate, put_us = spool_write(Path(tmp) / "write.sqlite3", messages)

    us = [n / 1000 for n in live_publish]
    rows = [
        ["paho straight (baseline)", f"{base_rate:,.0f}", "-", "-"],
        [
            "reporter -> spool -> broker (live)",
            f"{count / live_elapsed:,.0f}",
            f"{percentile(us, 50):.0f} / {percentile(us, 99):.0f}",
            f"{count / made:,.0f}",
        ],
        [
            "spool replay after an outage",
            f"{count / replay_elapsed:,.0f}",
            "-",
            f"{on_disk / 2**20:.1f} MiB on disk",
        ],
        [
            "one transaction per message (baseline)",
            f"{naive_rate:,.0f}",
            f"{percentile(naive_us, 50):.0f} / {percentile(naive_us, 99):.0f}",
            "committed, no broker",
        ],
        [
            "spool write (batched)",
            f"{write_rate:,.0f}",
            f"{percentile(put_us, 50):.1f} / {percentile(put_us, 99):.1f}",
            "committed, no broker",
        ],
    ]
    print(
        f"Telemetry throughput: {count} events of ~{size} bytes, QoS 1, Mosquitto on loopback, "
        f"{os.cpu_count()} CPUs"
    )
    print(
        table(
            ["path", "events/s (acked)", "publish us p50/p99", "made/s or spool size"],
            rows,
        )
    )
    save_figures(
        args.json,
        {
            "events": count,
            "size_bytes": size,
            "paho_rate": base_rate,
            "live_rate": count / live_elapsed,
            "replay_rate": count / replay_elapsed,
            "spool_write_rate": write_rate,
            "naive_write_rate": naive_rate,
            "spool_put_us_p99": percentile(put_us, 99),
            "naive_write_us_p99": percentile(naive_us, 99),
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
