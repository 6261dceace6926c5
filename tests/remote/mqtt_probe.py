"""A small synchronous MQTT 5 client for probing what a broker allows: connect (the reason code),
subscribe (the granted codes), publish (the PUBACK reason) and what arrived."""

from __future__ import annotations

import queue
import ssl
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

TIMEOUT_S = 10.0


class Probe:
    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        *,
        username: str | None = None,
        password: str | None = None,
        ca_file: Path | None = None,
        cert_file: Path | None = None,
        key_file: Path | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        if ca_file is not None:
            self.client.tls_set(
                ca_certs=str(ca_file),
                certfile=str(cert_file) if cert_file else None,
                keyfile=str(key_file) if key_file else None,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        self.connack: queue.Queue[ReasonCode] = queue.Queue()
        self.subacks: queue.Queue[list[ReasonCode]] = queue.Queue()
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.disconnected = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect

    def _on_connect(self, c: mqtt.Client, u: object, f: object, rc: ReasonCode, p: object) -> None:
        self.connack.put(rc)

    def _on_subscribe(
        self, c: mqtt.Client, u: object, mid: int, rcs: list[ReasonCode], p: object
    ) -> None:
        self.subacks.put(rcs)

    def _on_message(self, c: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
        self.messages.put((msg.topic, bytes(msg.payload)))

    def _on_disconnect(self, c: mqtt.Client, u: object, *args: object) -> None:
        self.disconnected.set()
        self.connack.put(ReasonCode(2, identifier=0x87))  # a refused TLS handshake lands here

    def connect(self) -> bool:
        """True if the broker accepted the connection."""
        try:
            self.client.connect(self.host, self.port, 30)
        except (OSError, ssl.SSLError):
            return False
        self.client.loop_start()
        try:
            rc = self.connack.get(timeout=TIMEOUT_S)
        except queue.Empty:
            return False
        return not rc.is_failure

    def subscribe(self, topic_filter: str) -> list[ReasonCode]:
        self.client.subscribe(topic_filter, qos=1)
        return self.subacks.get(timeout=TIMEOUT_S)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> ReasonCode | None:
        """The PUBACK's reason (mosquitto answers 0x87 'Not authorized' to a denied publish)."""
        result: queue.Queue[ReasonCode] = queue.Queue()

        def on_publish(c: mqtt.Client, u: object, mid: int, rc: ReasonCode, p: object) -> None:
            result.put(rc)

        self.client.on_publish = on_publish
        self.client.publish(topic, payload, qos=1, retain=retain)
        try:
            return result.get(timeout=TIMEOUT_S)
        except queue.Empty:
            return None

    def received(self, wait_s: float) -> list[tuple[str, bytes]]:
        out: list[tuple[str, bytes]] = []
        try:
            out.append(self.messages.get(timeout=wait_s))
            while True:
                out.append(self.messages.get(timeout=0.2))
        except queue.Empty:
            return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def no_properties() -> Properties | None:
    return None
