"""A real mosquitto: start, publish/subscribe with paho-mqtt 2, stop, restart on the same port."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from simulator.broker import (
    BrokerStartError,
    BrokerUnavailable,
    MosquittoBroker,
    find_free_port,
    find_mosquitto,
    port_accepts,
)

TIMEOUT_S = 10.0

try:
    find_mosquitto()
except BrokerUnavailable as err:  # pragma: no cover - depends on the machine
    pytest.skip(str(err), allow_module_level=True)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    with MosquittoBroker(work_dir=tmp_path / "broker") as running:
        yield running


def round_trip(broker: MosquittoBroker, topic: str, payload: bytes) -> bytes:
    """Subscribe, publish at QoS 1 and return what the subscriber received."""
    received: queue.Queue[bytes] = queue.Queue()
    subscribed = threading.Event()

    def on_connect(
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: object,
    ) -> None:
        client.subscribe(topic, qos=1)

    def on_subscribe(
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: object,
    ) -> None:
        subscribed.set()

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        received.put(bytes(message.payload))

    subscriber = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-sub")
    subscriber.on_connect = on_connect
    subscriber.on_subscribe = on_subscribe
    subscriber.on_message = on_message
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-pub")
    subscriber.connect(broker.host, broker.port)
    subscriber.loop_start()
    try:
        assert subscribed.wait(TIMEOUT_S), "subscription not acknowledged"
        publisher.connect(broker.host, broker.port)
        publisher.loop_start()
        info = publisher.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout=TIMEOUT_S)
        assert info.is_published()
        return received.get(timeout=TIMEOUT_S)
    finally:
        for client in (publisher, subscriber):
            client.disconnect()
            client.loop_stop()


def test_publish_subscribe_round_trip(broker: MosquittoBroker) -> None:
    assert broker.running
    assert round_trip(broker, "pole/test/speed", b'{"speed":42}') == b'{"speed":42}'
    assert "mosquitto version" in broker.log_text()


def test_stop_and_restart_on_the_same_port(broker: MosquittoBroker) -> None:
    port = broker.port
    broker.stop()
    assert not broker.running
    assert not port_accepts(broker.host, port)
    broker.start()
    assert broker.pid is not None and broker.port == port
    assert round_trip(broker, "pole/test/again", b"back") == b"back"


def test_kill_takes_it_away_at_once(broker: MosquittoBroker) -> None:
    broker.kill()
    assert not broker.running
    assert not port_accepts(broker.host, broker.port)
    broker.start()
    assert port_accepts(broker.host, broker.port)


def test_config_names_the_listener_user_and_extra_lines(tmp_path: Path) -> None:
    broker = MosquittoBroker(
        work_dir=tmp_path, allow_anonymous=False, extra_config="max_keepalive 120\n"
    )
    text = broker.config_text()
    assert f"listener {broker.port} 127.0.0.1" in text
    assert "allow_anonymous false" in text
    assert "persistence false" in text
    assert "\nuser " in text  # so that mosquitto started as root keeps access to 0600 files
    assert text.rstrip().endswith("max_keepalive 120")


def test_a_bad_config_fails_with_the_brokers_log(tmp_path: Path) -> None:
    broker = MosquittoBroker(work_dir=tmp_path, extra_config="no_such_option 1")
    with pytest.raises(BrokerStartError, match="no_such_option"):
        broker.start()
    assert not broker.running


def test_missing_binary_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(BrokerUnavailable, match="apt-get install mosquitto"):
        find_mosquitto(path=str(tmp_path), extra_dirs=())
    with pytest.raises(BrokerUnavailable, match="apt-get install mosquitto"):
        MosquittoBroker(binary=str(tmp_path / "mosquitto"))


def test_free_ports_are_free() -> None:
    port = find_free_port()
    assert 0 < port < 65536
    assert not port_accepts("127.0.0.1", port)
