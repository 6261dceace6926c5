"""The link to the city's MQTT broker (paho-mqtt 2, MQTT 5). The only module that imports paho.

Messages wait in the outbox until the broker acknowledges them (QoS 1 PUBACK): a drain thread
hands at most ``max_inflight`` to paho at a time and removes each only on its acknowledgement; a
lost link puts the unacknowledged ones back in front, so delivery is at least once and in order.
The birth (``online``, retained) is published on every connect, the Last Will says ``offline``
with this boot's id, and ``close`` publishes ``stopped`` before disconnecting.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from pole_agent.config import MqttConfig
from pole_agent.telemetry.outbox import MemoryOutbox, OutMessage

log = logging.getLogger(__name__)


class MqttLink:
    """Publisher port over a real broker connection."""

    def __init__(
        self,
        config: MqttConfig,
        *,
        client_id: str,
        username: str,
        status_topic: str,
        birth: Callable[[], bytes],
        last_will: bytes,
        outbox: MemoryOutbox,
        max_inflight: int = 20,
    ) -> None:
        self._config = config
        self._status_topic = status_topic
        self._birth = birth
        self._outbox = outbox
        self._max_inflight = max_inflight
        self._lock = threading.Lock()
        self._inflight: dict[int, OutMessage] = {}
        self._early_acks: set[int] = set()
        self._direct: set[int] = set()  # status messages published outside the outbox
        self._slots = threading.Semaphore(max_inflight)
        self._connected = threading.Event()
        self._stopping = threading.Event()
        self._state = "connecting"
        self.delivered = 0
        self.connects = 0
        self.last_error = ""

        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        client.username_pw_set(username, self._read_password())
        client.will_set(status_topic, last_will, qos=1, retain=True)
        if config.tls is not None:
            client.tls_set(
                ca_certs=str(config.tls.ca_file),
                certfile=str(config.tls.cert_file) if config.tls.cert_file else None,
                keyfile=str(config.tls.key_file) if config.tls.key_file else None,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.max_inflight_messages_set(max_inflight)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_publish = self._on_publish
        self._client = client
        self._drain = threading.Thread(target=self._drain_loop, name="mqtt-drain", daemon=True)

    def _read_password(self) -> str | None:
        if self._config.password_file is None:
            return None
        return self._config.password_file.read_text(encoding="utf-8").strip()

    # -- Publisher port ----------------------------------------------------------------------

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        self._outbox.put(OutMessage(topic, payload, qos, retain))

    def link_state(self) -> str:
        return self._state

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        self._client.connect_async(
            self._config.host, self._config.port, keepalive=self._config.keepalive_s
        )
        self._client.loop_start()
        self._drain.start()

    def close(self, stopped_payload: bytes, timeout: float = 3.0) -> None:
        """Flush what can be flushed, publish ``stopped`` and disconnect."""
        self._stopping.set()
        self._outbox.wake()
        self._drain.join(timeout=timeout)
        if self._connected.is_set():
            info = self._client.publish(self._status_topic, stopped_payload, qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=timeout)
            except (RuntimeError, ValueError) as err:
                log.warning("could not publish stopped status: %s", err)
            self._client.disconnect()
        self._client.loop_stop()
        self._state = "closed"

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    # -- paho callbacks (paho's network thread) ----------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            self._state = f"refused: {reason}"
            self.last_error = str(reason)
            log.warning("broker refused the connection: %s", reason)
            return
        self.connects += 1
        self._state = "connected"
        log.info("connected to broker %s:%s", self._config.host, self._config.port)
        info = client.publish(self._status_topic, self._birth(), qos=1, retain=True)
        with self._lock:
            self._direct.add(info.mid)
        self._connected.set()
        self._outbox.wake()

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        # Called on every failed attempt; log the first of a series, not each retry.
        if not self._state.startswith("unreachable"):
            log.warning(
                "broker %s:%s unreachable; events wait in memory, retrying",
                self._config.host,
                self._config.port,
            )
        self._state = "unreachable, retrying"

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._connected.clear()
        if not self._stopping.is_set():
            self._state = "disconnected, retrying"
            log.warning("lost the broker: %s", reason)
        with self._lock:
            pending = list(self._inflight.values())  # publication order
            self._inflight.clear()
            self._early_acks.clear()
            self._direct.clear()
        for _ in pending:
            self._slots.release()
        if pending:
            self._outbox.put_back(pending)

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._lock:
            if mid in self._direct:
                self._direct.discard(mid)
                return
            message = self._inflight.pop(mid, None)
            if message is None:
                self._early_acks.add(mid)
                return
        self._slots.release()
        if reason.is_failure:
            log.warning("broker rejected a message on %s: %s", message.topic, reason)
            self.last_error = str(reason)
        self.delivered += 1

    # -- the drain thread ----------------------------------------------------------------------

    def _drain_loop(self) -> None:
        while not self._stopping.is_set():
            if not self._connected.wait(timeout=0.5):
                continue
            if not self._slots.acquire(timeout=0.5):
                continue
            batch = self._outbox.take(1, timeout=0.5)
            if not batch:
                self._slots.release()
                continue
            message = batch[0]
            # paho's lock order forbids holding ours across publish(): an acknowledgement that
            # arrives before the mid is registered is parked in _early_acks and settled here.
            info = self._client.publish(
                message.topic, message.payload, qos=message.qos, retain=message.retain
            )
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                self._slots.release()
                self._outbox.put_back([message])
                self._connected.wait(timeout=0.5)
                continue
            with self._lock:
                early = info.mid in self._early_acks
                if early:
                    self._early_acks.discard(info.mid)
                else:
                    self._inflight[info.mid] = message
            if early:
                self._slots.release()
                self.delivered += 1
