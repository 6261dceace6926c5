"""Store and forward against a real Mosquitto that the tests stop and start (reliability rows
1-4): nothing lost, historical flags, order per topic, the cap's drop policy, reconnect backoff.

The pole's telemetry runs on a scaled clock (x100): ten simulated minutes at 10 msg/s take
about six real seconds. Every check of what arrived goes through the reference consumer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pole_agent.telemetry.spool_db import MIN_MAX_BYTES, PAGE_SIZE
from simulator.broker import MosquittoBroker
from tests.telemetry.rig import Consumer, Rig, persistent_broker, validate_captured

#: The link's in-flight window (MqttLink's default, which the rig keeps).
MAX_INFLIGHT = 20
RATE_PER_S = 10  # simulated messages per second


@pytest.fixture
def city_broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    broker = persistent_broker(tmp_path)
    broker.start()
    yield broker
    broker.close()


def traffic(rig: Rig, seconds: float, *, warning_every: int = 0, fault_every: int = 0) -> None:
    """``seconds`` of simulated traffic at RATE_PER_S vehicle events a second (the clock moves
    one simulated second per RATE_PER_S events), with a warning or a fault now and then."""
    count = int(seconds * RATE_PER_S)
    for n in range(1, count + 1):
        rig.vehicle()
        if warning_every and n % warning_every == 0:
            rig.warning()
        if fault_every and n % fault_every == 0:
            rig.fault()
        if n % RATE_PER_S == 0:
            rig.clock.sleep(1.0)


def seqs_made_during(rig: Rig, action: Callable[[], None]) -> dict[str, range]:
    before = dict(rig.made)
    action()
    return {s: range(before.get(s, 0) + 1, n + 1) for s, n in rig.made.items()}


def test_ten_minute_outage_loses_nothing(tmp_path: Path, city_broker: MosquittoBroker) -> None:
    consumer = Consumer(tmp_path, city_broker, ["rig-pole-1"])
    consumer.start()
    rig = Rig(tmp_path, city_broker)
    rig.start()
    try:
        assert rig.link.wait_connected(10)
        traffic(rig, 30, warning_every=50)
        city_broker.stop()
        peak_bytes = peak_disk = 0

        def outage() -> None:
            nonlocal peak_bytes, peak_disk
            for _ in range(10):  # ten simulated minutes, one at a time
                traffic(rig, 60, warning_every=100, fault_every=300)
                stats = rig.spool.stats()
                peak_bytes = max(peak_bytes, stats.bytes)
                peak_disk = max(peak_disk, stats.disk_bytes)

        during = seqs_made_during(rig, outage)
        assert len(during["events/vehicle"]) >= 6000
        assert not rig.link.connected
        city_broker.start()
        traffic(rig, 30, warning_every=50)
        assert consumer.wait_until(
            lambda: consumer.has_all(rig.pole_id, rig.boot_id, rig.made), 90
        ), (
            {s: consumer.received(rig.pole_id, s, rig.boot_id) for s in rig.made},
            rig.made,
        )
    finally:
        rig.stop()
        consumer.stop()

    report = consumer.consumer.report()
    assert [g for g in report.gaps if g.boot_id == rig.boot_id] == []
    for summary in report.streams:
        if summary.boot_id == rig.boot_id:
            assert summary.late == 0, summary  # order per topic kept
            # Every seq up to the last made (the link's own faults add to events/fault).
            assert summary.received == summary.max_seq >= rig.made.get(summary.stream, 0), summary
    for stream, seqs in during.items():
        rows = consumer.rows(rig.pole_id, stream, rig.boot_id)
        flags = {row["seq"]: row["historical"] for row in rows}
        assert all(flags[seq] for seq in seqs), f"{stream}: a message made offline not historical"
    first_live = consumer.rows(rig.pole_id, "events/vehicle", rig.boot_id)[0]
    assert first_live["historical"] is False
    assert peak_bytes <= rig.spool.max_bytes
    assert 0 < peak_disk <= rig.spool.max_bytes  # the cap is on the spool's files
    assert rig.spool.dropped == 0
    assert len(rig.spool) == 0
    validate_captured(consumer.raw)


def test_flapping_broker_six_cycles(tmp_path: Path, city_broker: MosquittoBroker) -> None:
    consumer = Consumer(tmp_path, city_broker, ["rig-pole-1"])
    consumer.start()
    rig = Rig(tmp_path, city_broker, reconnect_max_s=5.0)
    rig.start()
    try:
        assert rig.link.wait_connected(10)
        for _cycle in range(6):
            traffic(rig, 10, warning_every=30)
            city_broker.stop()
            traffic(rig, 20, warning_every=30, fault_every=70)
            city_broker.start()
        traffic(rig, 5)
        assert consumer.wait_until(
            lambda: consumer.has_all(rig.pole_id, rig.boot_id, rig.made), 90
        ), (
            {s: consumer.received(rig.pole_id, s, rig.boot_id) for s in rig.made},
            rig.made,
        )
    finally:
        rig.stop()
        consumer.stop()
    report = consumer.consumer.report()
    assert [g for g in report.gaps if g.boot_id == rig.boot_id] == []
    for summary in report.streams:
        if summary.boot_id == rig.boot_id:
            assert summary.late == 0, summary
            assert summary.received == summary.max_seq >= rig.made.get(summary.stream, 0)
    assert rig.link.connects >= 7
    # Duplicates only as at-least-once allows, and marked: a copy after the first is either the
    # pole's resend of a message whose acknowledgement the outage lost (flagged historical,
    # at most the link's in-flight window per outage) or the broker redelivering the very same
    # publish to the consumer after its restart (identical bytes, also one window per restart).
    copies: dict[tuple[str, int], list[bytes]] = {}
    for topic, payload, retain in consumer.raw:
        body = json.loads(payload)
        if not retain and body.get("boot_id") == rig.boot_id and "seq" in body:
            copies.setdefault((topic, body["seq"]), []).append(payload)
    duplicates = 0
    for key, seen in copies.items():
        for index, payload in enumerate(seen[1:], 1):
            duplicates += 1
            assert json.loads(payload)["historical"] or payload in seen[:index], (key, seen)
    assert duplicates == sum(s.duplicates for s in report.streams if s.boot_id == rig.boot_id)
    assert duplicates <= 6 * 2 * MAX_INFLIGHT, duplicates
    # The link's own faults and recoveries were reported too (made while it was down).
    mqtt_faults = [
        row for row in consumer.rows(rig.pole_id, "events/fault", rig.boot_id)
        if row["component"] == "mqtt"
    ]  # fmt: skip
    assert {row["phase"] for row in mqtt_faults} == {"fault", "recovery"}
    validate_captured(consumer.raw)


def test_spool_cap_drops_routine_oldest_first_and_keeps_safety(
    tmp_path: Path, city_broker: MosquittoBroker
) -> None:
    cap = 2 * MIN_MAX_BYTES  # room for every warning and fault the traffic makes
    consumer = Consumer(tmp_path, city_broker, ["rig-pole-1"])
    consumer.start()
    rig = Rig(tmp_path, city_broker, max_bytes=cap)
    rig.start()
    try:
        assert rig.link.wait_connected(10)
        city_broker.stop()
        traffic(rig, 200, warning_every=40, fault_every=100)  # ~1 MB of events into 256 KiB
        assert consumer.wait_until(
            lambda: rig.spool.stats().drops != [],
            10,
        )
        stats = rig.spool.stats()
        assert stats.disk_bytes <= cap + 16 * PAGE_SIZE  # the cap and one batch
        assert stats.dropped["events/vehicle"] > 0
        assert "events/warning" not in stats.dropped
        assert "events/fault" not in stats.dropped
        assert stats.dropped_safety == 0
        city_broker.start()
        # Once the spool has drained, a health report tells the consumer every dropped seq (a
        # report made while the spool is full may itself push out a few more, which the next
        # report names: until then the consumer counts them as missing, not as lost).
        assert consumer.wait_until(lambda: len(rig.spool) == 0, 60)
        rig.health_report()
        assert consumer.wait_until(
            lambda: (
                consumer.received(rig.pole_id, "health", rig.boot_id) >= 1
                and not consumer.consumer.report().missing
            ),
            60,
        ), [(g.stream, g.first_seq, g.last_seq, g.kind) for g in consumer.consumer.report().gaps]
    finally:
        rig.stop()
        consumer.stop()
    report = consumer.consumer.report()
    mine = [g for g in report.gaps if g.boot_id == rig.boot_id]
    assert {g.stream for g in mine} <= {"events/vehicle", "stats"}  # routine streams only
    assert all(g.kind == "dropped" for g in mine)
    for stream, count in rig.spool.dropped_by_stream.items():
        assert sum(g.count for g in mine if g.stream == stream) == count, stream
    # Oldest first: the dropped vehicle seqs are one run from the start of the outage.
    vehicle_gaps = [g for g in mine if g.stream == "events/vehicle"]
    assert len(vehicle_gaps) == 1 and vehicle_gaps[0].first_seq == 1
    for stream in ("events/warning", "events/fault"):
        assert consumer.received(rig.pole_id, stream, rig.boot_id) >= rig.made[stream]
    validate_captured(consumer.raw)


def test_refused_connections_back_off_capped_and_jittered(tmp_path: Path) -> None:
    """The broker refuses the pole (no credentials): attempts are spaced by the backoff (on the
    simulated clock), never hammered; the link says refused and the health board degraded."""
    with MosquittoBroker(allow_anonymous=False) as broker:
        rig = Rig(tmp_path, broker, factor=100.0, reconnect_max_s=30.0)
        started = rig.clock.monotonic()
        rig.start()
        try:
            deadline = time.monotonic() + 60
            while rig.link.attempts < 8 and time.monotonic() < deadline:
                time.sleep(0.01)
            elapsed = rig.clock.monotonic() - started
            attempts = rig.link.attempts
            state = rig.link.link_state()
        finally:
            rig.stop()
    assert attempts >= 8
    # Seven waits of at least half their step (1, 2, 4, 8, 16, 30, 30 s) came before attempt 8.
    assert elapsed >= 0.5 + 1 + 2 + 4 + 8 + 15 + 15, elapsed
    assert state.startswith("refused"), state
    mqtt = rig.health.get("mqtt")
    assert mqtt is not None and mqtt.state == "degraded"
