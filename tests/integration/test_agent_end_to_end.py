"""The whole agent on a simulated pole: emulator on a real pty, real broker, mock pins."""

from __future__ import annotations

import contextlib
import math
import sqlite3
import time
from pathlib import Path

import pytest

from simulator.broker import MosquittoBroker
from simulator.monitor import BrokerMonitor
from simulator.world import Vehicle
from tests.integration.harness import BEACON_PINS, episodes, make_pole

LIMIT = 30.0
ANGLE = 15.0  # deploy/config/simulator.toml

# (speed km/h, direction): a mix of over and under the limit, both directions.
VEHICLES = [
    (42.0, "approaching"),
    (25.0, "approaching"),
    (48.0, "receding"),
    (36.0, "approaching"),
    (22.0, "receding"),
    (55.0, "approaching"),
    (28.5, "approaching"),
    (33.0, "receding"),
]
HEADWAY_S = 16.0  # simulated seconds between entries: vehicles never share the beam


def spooled(path: Path) -> dict[str, int]:
    """Messages waiting in a (closed) spool file, by stream."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT stream, COUNT(*) FROM spool GROUP BY stream").fetchall()
    return {str(stream): int(count) for stream, count in rows}


def place(start_s: float) -> list[Vehicle]:
    return [
        Vehicle(i + 1, start_s + i * HEADWAY_S, speed, direction)  # type: ignore[arg-type]
        for i, (speed, direction) in enumerate(VEHICLES)
    ]


def test_vehicles_in_events_out_and_beacons_follow_the_speeders(
    tmp_path: Path, broker: MosquittoBroker
) -> None:
    vehicles = place(start_s=3.0)
    pole = make_pole(tmp_path, vehicles, factor=10.0, broker=broker, flash_hz=5.0)
    monitor = BrokerMonitor(broker.host, broker.port, pole.agent.config.pole_id)
    monitor.start()
    pole.emulator.start()
    pole.agent.start()
    try:
        assert monitor.wait_for_state("online", timeout=10)
        got_all = monitor.wait_until(lambda m: m.count("events/vehicle") >= len(VEHICLES), 60)
        assert got_all, f"only {monitor.count('events/vehicle')} of {len(VEHICLES)} events"
    finally:
        pole.agent.stop("test over")
        pole.emulator.stop()
    assert monitor.wait_for_state("stopped", timeout=10)
    monitor.stop()

    events = [m.json() for m in monitor.messages("events/vehicle")]
    assert len(events) == len(VEHICLES)
    assert [e["seq"] for e in events] == list(range(1, len(VEHICLES) + 1))
    boot_ids = {e["boot_id"] for e in events}
    assert boot_ids == {pole.agent.boot_id}
    for event, vehicle in zip(events, vehicles, strict=True):
        assert event["direction"] == vehicle.direction
        # Peak of noisy, quantised frames, corrected by 1/cos(angle): within ~1.5 km/h.
        assert event["speed_kmh"] == pytest.approx(vehicle.speed_kmh, abs=1.5), event
        assert event["limit_kmh"] == LIMIT
        assert event["over_limit"] == (event["speed_kmh"] > LIMIT)
        should_warn = vehicle.direction == "approaching" and vehicle.speed_kmh > LIMIT
        assert event["warned"] == should_warn, event
        if should_warn:
            assert event["warning"]["rule"] == "over-limit-approaching"
            assert event["warning"]["speed_kmh"] > LIMIT
        assert event["pole_id"] == pole.agent.config.pole_id
        assert event["ts"].endswith("Z")

    speeders = sum(1 for v in vehicles if v.direction == "approaching" and v.speed_kmh > LIMIT)
    for gpio in BEACON_PINS:
        history = pole.pin_history(gpio)
        # Flashing at 5 Hz has 0.1 s off phases; vehicles are >= 1 s (real) apart.
        assert episodes(history, min_off_s=0.5) == speeders, (gpio, history)
        assert not history[-1].state, "beacons must be off after a clean stop"
    assert pole.agent.pipeline.rejected.total() == 0

    statuses = [m.json() for m in monitor.messages("status")]
    assert statuses[0]["state"] == "online"
    assert statuses[0]["boot_id"] == pole.agent.boot_id
    assert statuses[-1]["state"] == "stopped"
    # A newcomer learns the pole's last state from the retained status.
    late = BrokerMonitor(broker.host, broker.port, pole.agent.config.pole_id)
    late.start()
    try:
        assert late.wait_for_state("stopped", timeout=5)
        assert late.messages("status")[0].retain
    finally:
        late.stop()


def test_agent_without_broker_still_warns_and_queues(tmp_path: Path) -> None:
    """No broker configured at all: the warning path is untouched and events wait in memory."""
    vehicles = [Vehicle(1, 2.0, 45.0, "approaching"), Vehicle(2, 12.0, 45.0, "receding")]
    pole = make_pole(tmp_path, vehicles, factor=10.0)
    pole.emulator.start()
    pole.agent.start()
    try:
        deadline = time.monotonic() + 30
        while pole.agent.pipeline.transits_reported < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        pole.agent.stop()
        pole.emulator.stop()
    assert pole.agent.pipeline.transits_reported == 2
    assert pole.agent.publisher.link_state() == "no broker configured"
    # Kept on disk (the spool) with the warning's start and end and the last stats window.
    assert spooled(pole.agent.outbox.path)["events/vehicle"] == 2
    assert episodes(pole.pin_history(17), min_off_s=0.5) == 1


def test_unreachable_broker_does_not_stop_the_warnings(tmp_path: Path) -> None:
    """A broker configured but down: beacons still warn, events wait for it."""
    from simulator.broker import find_free_port

    vehicles = [Vehicle(1, 2.0, 50.0, "approaching")]
    pole = make_pole(tmp_path, vehicles, factor=10.0, mqtt_port=find_free_port())
    pole.emulator.start()
    pole.agent.start()
    try:
        deadline = time.monotonic() + 30
        while pole.agent.pipeline.transits_reported < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pole.agent.publisher.link_state() != "connected"
    finally:
        pole.agent.stop()
        pole.emulator.stop()
    assert pole.agent.pipeline.warnings_given == 1
    assert spooled(pole.agent.outbox.path)["events/vehicle"] == 1
    assert any(s.state for s in pole.pin_history(27))


def test_garbage_on_the_line_is_counted_and_never_warns(tmp_path: Path) -> None:
    pole = make_pole(tmp_path, [], factor=10.0)
    pole.emulator.start()
    pole.agent.start()
    try:
        deadline = time.monotonic() + 10
        while pole.agent.radar.stats.state != "reading" and time.monotonic() < deadline:
            time.sleep(0.02)
        for seed in range(5):
            pole.emulator.inject_garbage(40, seed=seed)
        for line in (b"999\r\n", b"999\r\n", b'{"speed":"fast"}\r\n', b"nan\r\n", b'{"spe\r\n'):
            pole.emulator.inject_line(line)
        deadline = time.monotonic() + 10
        while pole.agent.pipeline.rejected.total() < 10 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        pole.agent.stop()
        pole.emulator.stop()
    rejected = pole.agent.pipeline.rejected
    assert rejected.total() == 10, rejected
    assert rejected["out_of_range"] == 2
    assert pole.agent.pipeline.warnings_given == 0
    assert not any(s.state for s in pole.pin_history(17))


def test_radar_unplugged_and_replugged_is_read_again(tmp_path: Path) -> None:
    vehicles = [Vehicle(1, 30.0, 45.0, "approaching")]
    pole = make_pole(tmp_path, vehicles, factor=10.0)
    pole.emulator.start()
    pole.agent.start()
    try:
        deadline = time.monotonic() + 10
        while pole.agent.radar.stats.state != "reading" and time.monotonic() < deadline:
            time.sleep(0.02)
        pole.emulator.unplug()
        deadline = time.monotonic() + 10
        while pole.agent.radar.stats.state == "reading" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert pole.agent.radar.stats.state in ("disconnected", "unavailable")
        pole.emulator.replug()
        deadline = time.monotonic() + 20
        while pole.agent.pipeline.transits_reported < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        pole.agent.stop()
        pole.emulator.stop()
    assert pole.agent.radar.stats.opens >= 2
    assert pole.agent.pipeline.transits_reported == 1
    assert pole.agent.pipeline.warnings_given == 1
    assert math.isclose(pole.agent.pipeline.zone.limit_kmh, LIMIT)
