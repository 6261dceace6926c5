"""The agent as the pole runs it (a separate process), killed with SIGKILL mid-stream while the
broker is away, then started again: the spool left on disk is replayed with the old boot's id
and seqs, marked historical, nothing is missing, and the new run has a new boot id (reliability
rows 5 and 11)."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from pole_agent.clock import ScaledClock
from simulator.ops243_emulator import Ops243Emulator
from simulator.world import Vehicle, World
from tests.integration.harness import write_pole_toml
from tests.telemetry.rig import Consumer, persistent_broker, validate_captured

POLE_ID = "kill-pole-1"
SPEED_KMH = 72.0  # 2.5 s in the 50 m beam
HEADWAY_S = 2.0  # alternate directions: 4 s between vehicles of one direction


def write_config(tmp_path: Path, radar_port: str, host: str, port: int) -> Path:
    return write_pole_toml(
        tmp_path,
        pole_id=POLE_ID,
        radar_port=radar_port,
        host=host,
        port=port,
        keepalive_s=2,
        mqtt_extra="reconnect_min_s = 0.2\nreconnect_max_s = 1",
        extra="[telemetry]\nspool_batch_s = 0.2\nstats_interval_s = 10\nhealth_interval_s = 2",
    )


def start_agent(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "pole_agent", "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def spooled_rows(path: Path) -> list[tuple[str, str, int]]:
    """(stream, boot_id, seq) of every message left in a spool file."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = db.execute("SELECT stream, boot_id, seq FROM spool ORDER BY id").fetchall()
    return [(str(s), str(b), int(q)) for s, b, q in rows]


def boots(consumer: Consumer) -> list[str]:
    rows = consumer.store.query("SELECT boot_id FROM statuses WHERE state = 'online' ORDER BY id")
    return list(dict.fromkeys(str(b) for (b,) in rows))


def test_kill9_mid_stream_then_restart_replays_the_spool(tmp_path: Path) -> None:
    clock = ScaledClock(1.0)
    vehicles = [
        Vehicle(i + 1, 1.0 + i * HEADWAY_S, SPEED_KMH, "approaching" if i % 2 else "receding")
        for i in range(40)
    ]
    (tmp_path / "dev").mkdir()
    broker = persistent_broker(tmp_path)
    broker.start()
    consumer = Consumer(tmp_path, broker, [POLE_ID])
    consumer.start()
    agent: subprocess.Popen[bytes] | None = None
    try:
        with Ops243Emulator(World(vehicles, angle_deg=10), clock, tmp_path / "dev") as emulator:
            config = write_config(tmp_path, emulator.port, broker.host, broker.port)
            agent = start_agent(config)
            assert consumer.wait_until(lambda: len(boots(consumer)) == 1, 30)
            first_boot = boots(consumer)[0]
            assert consumer.wait_until(
                lambda: consumer.received(POLE_ID, "events/vehicle", first_boot) >= 2, 30
            )
            broker.stop()
            time.sleep(6.0)  # events keep coming; they can only go to the spool
            killed_at = clock.monotonic()
            agent.send_signal(signal.SIGKILL)
            agent.wait(10)
            left = spooled_rows(tmp_path / "state" / "telemetry-spool.sqlite3")
            assert any(stream == "events/vehicle" for stream, _, _ in left), left

            broker.start()
            agent = start_agent(config)
            assert consumer.wait_until(lambda: len(boots(consumer)) == 2, 30)
            second_boot = boots(consumer)[1]
            expected: dict[str, int] = {}
            for stream, boot_id, seq in left:
                assert boot_id == first_boot
                expected[stream] = max(expected.get(stream, 0), seq)
            assert consumer.wait_until(
                lambda: all(
                    consumer.received(POLE_ID, s, first_boot) >= n for s, n in expected.items()
                ),
                30,
            ), (expected, {s: consumer.received(POLE_ID, s, first_boot) for s in expected})
            assert consumer.wait_until(
                lambda: consumer.received(POLE_ID, "events/vehicle", second_boot) >= 1, 30
            )
            agent.send_signal(signal.SIGTERM)
            assert agent.wait(30) == 0
    finally:
        if agent is not None and agent.poll() is None:
            agent.kill()
        consumer.stop()
        broker.close()

    assert second_boot != first_boot
    report = consumer.consumer.report()
    assert [g for g in report.gaps if g.boot_id == first_boot] == [], report.gaps
    # Every vehicle that had left the beam well before the kill (its transit closes 1 s after,
    # the batch is committed within 0.2 s; generous for a loaded machine) was reported.
    gone = [v for v in vehicles if v.exit_s < killed_at - 4.0]
    assert consumer.received(POLE_ID, "events/vehicle", first_boot) >= len(gone)
    replayed = {(s, q) for s, _, q in left}
    for stream in {s for s, _ in replayed}:
        for row in consumer.rows(POLE_ID, stream, first_boot):
            if (stream, row["seq"]) in replayed:
                assert row["historical"] is True, row
    validate_captured(consumer.raw)
