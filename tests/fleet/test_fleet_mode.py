"""Fleet mode (simulator/fleet/, docs/scaling.md): many pole models on one event loop speak the
agent's contract to a real Mosquitto and the reference consumer, lose nothing, and every pole's
Last Will fires when the fleet process is killed with SIGKILL."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pole_agent.clock import ManualClock
from pole_agent.telemetry import topics
from simulator.broker import MosquittoBroker
from simulator.fleet.pole_model import PoleModel, PoleTraffic, offered_rate
from simulator.fleet.runner import FleetOptions, run_fleet
from tests.telemetry.rig import Consumer, persistent_broker, validate_captured

POLES = 200


@pytest.fixture
def city_broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A Mosquitto with no cap on the consumer's queue: with the default (1,000 per client) the
    200 poles' births and discovery configs at connect can outrun a consumer on a loaded machine,
    and the broker then drops some (docs/scaling.md; bench/fleet.py measures it)."""
    with persistent_broker(tmp_path) as broker:
        yield broker


COUNTED = ("events/vehicle", "events/warning", "stats", "health")


def pole_ids(prefix: str, count: int) -> list[str]:
    options = FleetOptions(poles=count, id_prefix=prefix)
    return [options.pole_id(i) for i in range(count)]


def statuses(consumer: Consumer, state: str) -> dict[str, str]:
    """pole id -> boot id of every status of ``state`` the consumer stored."""
    rows = consumer.store.query("SELECT pole_id, boot_id FROM statuses WHERE state = ?", (state,))
    return {str(pole): str(boot) for pole, boot in rows}


def streams_seen(consumer: Consumer) -> Counter[str]:
    """How many poles each counted stream has been received from."""
    seen: Counter[str] = Counter()
    for pole_id, stream, _boot in consumer.consumer.ledger.streams:
        del pole_id
        seen[stream] += 1
    return seen


def test_200_poles_speak_the_contract_lose_nothing_and_leave_last_wills_on_kill9(
    tmp_path: Path, city_broker: MosquittoBroker
) -> None:
    broker = city_broker
    ids = pole_ids("tfleet", POLES)
    consumer = Consumer(tmp_path, broker, ids)
    consumer.start()
    fleet = subprocess.Popen(
        [
            sys.executable, "-m", "simulator.fleet", "--port", str(broker.port),
            "--poles", str(POLES), "--duration", "600", "--id-prefix", "tfleet",
            "--vehicles-per-hour", "3000", "--health-interval", "3", "--stats-interval", "3",
            "--keepalive", "5",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert fleet.stdout is not None
        connected = json.loads(fleet.stdout.readline())
        assert connected["event"] == "connected" and connected["poles"] == POLES
        assert consumer.wait_until(lambda: len(statuses(consumer, "online")) == POLES, 60)
        # Every pole reports health within one interval; traffic and stats follow.
        assert consumer.wait_until(
            lambda: (
                streams_seen(consumer)["health"] == POLES
                and all(streams_seen(consumer)[s] >= POLES // 2 for s in COUNTED)
            ),
            120,
        ), streams_seen(consumer)
    finally:
        fleet.kill()
        fleet.wait(30)
    births = statuses(consumer, "online")
    # SIGKILL closes every socket at once: the broker publishes each pole's Last Will.
    assert consumer.wait_until(lambda: len(statuses(consumer, "offline")) == POLES, 60), (
        f"{len(statuses(consumer, 'offline'))} of {POLES} Last Wills"
    )
    consumer.stop()
    assert statuses(consumer, "offline") == births  # each will names its pole's boot
    report = consumer.consumer.report()
    assert report.missing == 0, report.gaps[:5]
    assert sum(s.duplicates for s in report.streams) == 0
    assert report.counts.get("invalid", 0) == 0 and report.counts.get("error", 0) == 0
    checked = validate_captured(list(consumer.raw))
    assert checked["status-online"] == POLES and checked["status-offline"] == POLES
    assert checked["event-vehicle"] > 0 and checked["event-warning"] > 0
    assert checked["health"] >= POLES and checked["stats"] > 0 and checked["ha-discovery"] > 0


def test_a_clean_run_delivers_every_stamped_message_and_stops_every_pole(
    tmp_path: Path, city_broker: MosquittoBroker
) -> None:
    broker = city_broker
    options = FleetOptions(
        port=broker.port,
        poles=20,
        duration_s=30.0,
        speed=10.0,
        id_prefix="clean",
        traffic=PoleTraffic(health_interval_s=5.0, stats_interval_s=10, discovery=False),
    )
    ids = [options.pole_id(i) for i in range(options.poles)]
    consumer = Consumer(tmp_path, broker, ids)
    consumer.start()
    run = asyncio.run(run_fleet(options))
    assert run.connected == options.poles and run.lost_connections == 0
    assert run.acked == run.sent
    stored = "SELECT count(*) FROM messages"
    assert consumer.wait_until(lambda: consumer.store.query(stored)[0][0] == len(run.stamps), 60)
    assert consumer.wait_until(lambda: len(statuses(consumer, "stopped")) == options.poles, 30)
    consumer.stop()
    report = consumer.consumer.report()
    assert report.missing == 0
    # Every stamp is one stored message: (topic, seq) as the pole made it.
    rows = consumer.store.query("SELECT pole_id, stream, seq FROM messages")
    assert {(topics.topic(p, s), q) for p, s, q in rows} == set(run.stamps)  # type: ignore[arg-type]
    validate_captured(list(consumer.raw))


def test_a_pole_models_message_rate_is_the_one_its_traffic_model_predicts() -> None:
    """An hour of one pole's timeline on a manual clock: counted messages per stream agree with
    ``offered_rate`` (the rate docs/scaling.md and bench/fleet.py state) within sampling noise."""
    clock = ManualClock(start_wall=datetime(2026, 3, 3, 8, 0, tzinfo=UTC))
    made: Counter[str] = Counter()

    def stamp(topic: str, seq: int) -> None:
        parsed = topics.parse(topic)
        assert parsed is not None and seq == made[parsed[1]] + 1  # per stream, from 1, no holes
        made[parsed[1]] += 1

    traffic = PoleTraffic()
    hour = 3600.0
    totals = 0
    for seed in range(3):
        made.clear()
        model = PoleModel(
            f"rate-{seed}", clock=clock, traffic=traffic, seed=seed, duration_s=hour, stamp=stamp
        )
        origin = clock.monotonic()
        for due, act in model.actions(origin):
            clock.advance(max(0.0, origin + due - clock.monotonic()))
            act()
        clock.advance(max(0.0, origin + hour - clock.monotonic()))
        assert made["health"] == hour / traffic.health_interval_s
        windows = hour // traffic.stats_interval_s  # the last may close just past the hour
        assert windows - 1 <= made["stats"] <= windows
        totals += sum(made.values())
    expected = 3 * offered_rate(traffic) * hour
    assert abs(totals - expected) < 0.1 * expected, (totals, expected)


def test_bad_fleet_arguments_are_refused_with_the_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from simulator.fleet.__main__ import main

    assert main(["--poles", "1", "--id-prefix", "Bad_Id"]) == 2
    assert "id_prefix 'Bad_Id'" in capsys.readouterr().err
    for bad in (["--poles", "0"], ["--duration", "-5"], ["--stats-interval", "x"]):
        with pytest.raises(SystemExit) as stopped:
            main(bad)
        assert stopped.value.code == 2
        err = capsys.readouterr().err
        assert "must be positive" in err or "not a number" in err, err
