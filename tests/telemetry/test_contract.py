"""The whole agent on a simulated pole, against a real broker: every kind of message it
publishes, captured from the broker, validates against its shipped JSON Schema; the birth says
what the contract promises; discovery configs are retained; the Last Will carries the boot id."""

from __future__ import annotations

import json
import time
from pathlib import Path

from gpiozero.pins.mock import MockFactory, MockPWMPin

from pole_agent.app import build_agent
from pole_agent.clock import ScaledClock
from pole_agent.config import load_config
from pole_agent.drivers.mqtt_link import MqttSubscriber
from simulator.broker import MosquittoBroker
from simulator.ops243_emulator import Ops243Emulator
from simulator.world import Vehicle, World
from tests.integration.harness import SIM_CONFIG, sim_config
from tests.telemetry.rig import Consumer, Rig, validate_captured


def test_every_published_message_matches_its_schema(
    tmp_path: Path, broker: MosquittoBroker
) -> None:
    clock = ScaledClock(20.0)
    base = load_config(SIM_CONFIG)
    vehicles = [
        Vehicle(1, 2.0, 48.0, "approaching"),  # warned
        Vehicle(2, 14.0, 25.0, "receding"),
        Vehicle(3, 40.0, 44.0, "approaching"),  # after the radar came back
    ]
    world = World(vehicles, angle_deg=base.radars.road.mounting_angle_deg)
    (tmp_path / "dev").mkdir()
    emulator = Ops243Emulator(world, clock, tmp_path / "dev", seed=3)
    config = sim_config(tmp_path, radar_port=emulator.port, broker=broker)
    config = config.model_copy(
        update={
            "config_version": 7,
            "telemetry": config.telemetry.model_copy(
                update={"stats_interval_s": 10, "health_interval_s": 5.0, "spool_batch_s": 0.05}
            ),
        }
    )
    agent = build_agent(config, clock, pin_factory=MockFactory(pin_class=MockPWMPin))
    consumer = Consumer(tmp_path, broker, [config.pole_id])
    consumer.start()
    emulator.start()
    agent.start()
    boot = agent.boot_id
    try:
        assert consumer.wait_until(
            lambda: consumer.received(config.pole_id, "events/vehicle", boot) >= 2, 30
        )
        emulator.unplug()
        assert consumer.wait_until(
            lambda: consumer.received(config.pole_id, "events/fault", boot) >= 1, 20
        )
        emulator.replug()

        def radar_recovered() -> bool:
            faults = consumer.rows(config.pole_id, "events/fault", boot)
            return any(f["component"] == "radar.road" and f["phase"] == "recovery" for f in faults)

        assert consumer.wait_until(
            lambda: (
                radar_recovered()
                and consumer.received(config.pole_id, "health", boot) >= 2
                and consumer.received(config.pole_id, "stats", boot) >= 2
            ),
            40,
        )
    finally:
        agent.stop("test over")
        emulator.stop()
    assert consumer.wait_until(
        lambda: any(
            json.loads(p).get("state") == "stopped"
            for t, p, _ in consumer.raw
            if t.endswith("/status")
        ),
        10,
    )
    consumer.stop()

    counts = validate_captured(consumer.raw)
    for stem in (
        "status-online", "status-stopped", "event-vehicle", "event-warning", "event-fault",
        "stats", "health", "ha-discovery",
    ):  # fmt: skip
        assert counts.get(stem, 0) >= 1, (stem, counts)
    assert consumer.consumer.counts.get("invalid", 0) == 0

    online = next(json.loads(p) for t, p, _ in consumer.raw if b'"online"' in p)
    assert online["boot_id"] == boot
    assert online["config_version"] == 7
    assert online["models"] == []
    assert set(online["radars"]) == {"road"}
    assert online["versions"]["python"] and online["versions"]["sqlite"]
    assert online["capabilities"] == ["radar", "beacons", "voice"]  # the record player

    warnings = consumer.rows(config.pole_id, "events/warning", boot)
    assert [w["phase"] for w in warnings][:2] == ["start", "end"]
    assert warnings[0]["warning_id"] == warnings[1]["warning_id"]
    assert warnings[0]["decision"]["rule"] == "over-limit-approaching"
    faults = consumer.rows(config.pole_id, "events/fault", boot)
    radar_faults = [f for f in faults if f["component"] == "radar.road"]
    assert radar_faults[0]["phase"] == "fault"
    # Each recovery closes an episode that a fault opened, with the same id.
    opened = {f["fault_id"] for f in radar_faults if f["phase"] == "fault"}
    recoveries = [f for f in radar_faults if f["phase"] == "recovery"]
    assert recoveries and all(f["fault_id"] in opened for f in recoveries), radar_faults
    health = consumer.rows(config.pole_id, "health", boot)[-1]
    assert health["clock_trusted"] is True  # now wired (reliability row 13)
    assert health["spool"]["dropped_total"] == 0
    assert "radar.road" in health["components"]
    stats = consumer.rows(config.pole_id, "stats", boot)
    assert sum(s["total"]["count"] for s in stats) == consumer.received(
        config.pole_id, "events/vehicle", boot
    )
    assert sum(s["warnings"] for s in stats) >= 1
    # Discovery configs are retained: a newcomer gets them.
    late: list[tuple[str, bool]] = []
    subscriber = MqttSubscriber(
        host=broker.host,
        port=broker.port,
        client_id="late-dashboard",
        filters=["homeassistant/#"],
        on_message=lambda t, p, r: late.append((t, r)),
    )
    subscriber.start()
    try:
        deadline = time.monotonic() + 10
        while len(late) < 9 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        subscriber.stop()
    assert len(late) >= 9 and all(retained for _, retained in late)


def test_last_will_on_a_lost_link_carries_the_boot_id(
    tmp_path: Path, broker: MosquittoBroker
) -> None:
    consumer = Consumer(tmp_path, broker, ["rig-pole-1"])
    consumer.start()
    rig = Rig(tmp_path, broker)
    rig.start()
    try:
        assert rig.link.wait_connected(10)
        client = rig.link._client  # the connection dies under the link (a cut cable)
        assert client is not None
        sock = client.socket()
        assert sock is not None
        sock.close()
        assert consumer.wait_until(lambda: any(b'"offline"' in p for _, p, _ in consumer.raw), 20)
    finally:
        rig.stop()
        consumer.stop()
    will = next(json.loads(p) for _, p, _ in consumer.raw if b'"offline"' in p)
    assert will == {
        "schema_version": 1,
        "state": "offline",
        "pole_id": "rig-pole-1",
        "boot_id": rig.boot_id,
    }
    validate_captured(consumer.raw)


def test_the_pole_subscribes_before_it_says_online(tmp_path: Path) -> None:
    """Whoever sees `online` may send a command at once: the pole's SUBSCRIBE must reach the
    broker before its birth message, on every connect (read from Mosquitto's own debug log)."""
    with MosquittoBroker(extra_config="log_type debug") as broker:
        rig = Rig(tmp_path, broker, subscriptions=("spole/rig-pole-1/cmd/+",))
        rig.start()
        try:
            assert rig.link.wait_connected(10)
            deadline = time.monotonic() + 10
            while "'spole/rig-pole-1/status'" not in broker.log_text():
                assert time.monotonic() < deadline, broker.log_text()[-2000:]
                time.sleep(0.05)
        finally:
            rig.stop()
        lines = broker.log_text().splitlines()
    mine = [line for line in lines if "from spole-rig-pole-1" in line]
    subscribe = next(i for i, line in enumerate(mine) if "Received SUBSCRIBE" in line)
    birth = next(
        i for i, line in enumerate(mine)
        if "Received PUBLISH" in line and "'spole/rig-pole-1/status'" in line
    )  # fmt: skip
    assert subscribe < birth, mine[:12]


def test_fleet_listen_command_reports_what_it_stored(
    tmp_path: Path, broker: MosquittoBroker
) -> None:
    import subprocess
    import sys

    listener = subprocess.Popen(
        [
            sys.executable, "-m", "pole_agent", "fleet", "listen", "--host", broker.host,
            "--port", str(broker.port), "--db", str(tmp_path / "city.sqlite3"),
            "--pole", "rig-pole-1", "--client-id", "city-test", "--duration", "6",
            "--report-every", "0", "--json", "--fail-on-missing",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    rig = Rig(tmp_path, broker)
    try:
        time.sleep(2.0)  # let the listener subscribe (its session starts now)
        rig.start()
        assert rig.link.wait_connected(10)
        for _ in range(5):
            rig.vehicle()
        rig.warning()
        out, err = listener.communicate(timeout=30)
    finally:
        rig.stop()
        if listener.poll() is None:
            listener.kill()
    assert listener.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert report["missing"] == 0 and report["dropped"] == 0
    received = {(s["stream"], s["received"]) for s in report["streams"]}
    assert ("events/vehicle", 6) in received
    assert ("events/warning", 2) in received
