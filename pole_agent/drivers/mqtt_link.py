"""The link to the city's MQTT broker (paho-mqtt 2, MQTT 5). The only module that imports paho.

``MqttLink`` is the pole's publisher. Messages wait in the outbox (the on-disk spool) until the
broker acknowledges them (QoS 1 PUBACK): a drain thread keeps at most ``max_inflight`` in flight
and acknowledges each to the spool only on its PUBACK; a lost link puts the unacknowledged ones
back in front, so delivery is at least once and in order per topic. A message sent on a later
connection than the one it was made on (or by an earlier boot) goes out with
``historical: true``.

The link owns its reconnects: each connection is a fresh paho client (so nothing paho kept from a
dead connection is re-sent behind the spool's back), run by paho's thread with paho's own
reconnect turned off; between connections the link waits a capped, jittered backoff on the
agent's clock. On every connect it publishes the birth (``online``, retained) and the Home
Assistant discovery configs; the Last Will says ``offline`` with this boot's id; ``close``
publishes ``stopped`` before disconnecting.

``MqttSubscriber`` is the consumer's side (``pole-agent fleet listen``): a persistent session, so
the broker keeps what arrives while the consumer is away.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from pole_agent.config import MqttConfig
from pole_agent.health import HealthBoard, HealthState
from pole_agent.ports import Clock
from pole_agent.telemetry import topics
from pole_agent.telemetry.backoff import Backoff
from pole_agent.telemetry.messages import mark_historical
from pole_agent.telemetry.outbox import Outbox, OutMessage
from pole_agent.telemetry.report_messages import LinkReport

log = logging.getLogger(__name__)

HEALTH_NAME = "mqtt"


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
        outbox: Outbox,
        clock: Clock,
        retained_on_connect: Callable[[], list[tuple[str, bytes]]] = list,
        health: HealthBoard | None = None,
        max_inflight: int = 20,
        backoff: Backoff | None = None,
        subscriptions: tuple[str, ...] = (),
        on_message: Callable[[str, bytes], object] | None = None,
    ) -> None:
        """``subscriptions`` (QoS 1) are made on every connect; what arrives on them goes to
        ``on_message(topic, payload)`` in paho's thread (remote config and commands)."""
        self._config = config
        self._subscriptions = subscriptions
        self._on_message_cb = on_message
        self._client_id = client_id
        self._username = username
        self._password = self._read_password()
        self._status_topic = status_topic
        self._birth = birth
        self._last_will = last_will
        self._outbox = outbox
        self._clock = clock
        self._retained_on_connect = retained_on_connect
        self._health = health
        self._max_inflight = max_inflight
        self._backoff = backoff or Backoff(config.reconnect_min_s, config.reconnect_max_s)
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._client: mqtt.Client | None = None
        self._connected = False
        self._inflight: dict[int, OutMessage] = {}
        self._early_acks: set[int] = set()
        self._direct: set[int] = set()  # status and discovery, published outside the outbox
        self._lost = threading.Event()
        self._closing = threading.Event()
        self._state = "connecting"
        self.delivered = 0
        self.rejected = 0
        self.connects = 0
        self.attempts = 0
        self.last_error = ""
        self._manager = threading.Thread(target=self._run, name="mqtt-link", daemon=True)
        self._drain = threading.Thread(target=self._drain_loop, name="mqtt-drain", daemon=True)

    def _read_password(self) -> str | None:
        if self._config.password_file is None:
            return None
        return self._config.password_file.read_text(encoding="utf-8").strip()

    # -- Publisher port ----------------------------------------------------------------------

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        with self._lock:
            epoch = self.connects if self._connected else -1
        safety = topics.is_safety(topic)
        self._outbox.put(OutMessage(topic, payload, qos, retain, safety=safety, epoch=epoch))

    def link_state(self) -> str:
        return self._state

    def link_report(self) -> LinkReport:
        return LinkReport(
            state=self._state,
            connects=self.connects,
            delivered=self.delivered,
            rejected=self.rejected,
        )

    @property
    def connected(self) -> bool:
        return self._connected

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        self._manager.start()
        self._drain.start()

    def wait_connected(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self._connected:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self, stopped_payload: bytes, timeout: float = 3.0) -> None:
        """Send what can be sent within ``timeout`` (the rest stays in the spool), publish
        ``stopped`` and disconnect."""
        deadline = time.monotonic() + timeout
        while self._connected and time.monotonic() < deadline:
            with self._lock:
                idle = not self._inflight
            if idle and len(self._outbox) == 0:
                break
            time.sleep(0.01)
        self._closing.set()
        self._outbox.wake()
        with self._room:
            self._room.notify_all()
        if self._drain.is_alive():
            self._drain.join(timeout)
        if self._manager.is_alive():
            self._manager.join(timeout + 6.0)
        client = self._client
        if client is not None:
            if self._connected:
                info = client.publish(self._status_topic, stopped_payload, qos=1, retain=True)
                try:
                    info.wait_for_publish(timeout=timeout)
                except (RuntimeError, ValueError) as err:
                    log.warning("could not publish stopped status: %s", err)
            client.disconnect()
            self._lost.wait(timeout)
            client.loop_stop()
        self._state = "closed"

    # -- connections (the manager thread) ------------------------------------------------------

    def _new_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self._client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            reconnect_on_failure=False,
        )
        client.username_pw_set(self._username, self._password)
        client.will_set(self._status_topic, self._last_will, qos=1, retain=True)
        tls = self._config.tls
        if tls is not None:
            client.tls_set(
                ca_certs=str(tls.ca_file),
                certfile=str(tls.cert_file) if tls.cert_file else None,
                keyfile=str(tls.key_file) if tls.key_file else None,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        client.max_inflight_messages_set(self._max_inflight)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def _run(self) -> None:
        while not self._closing.is_set():
            client = self._new_client()
            self._lost.clear()
            self.attempts += 1
            try:
                client.connect(self._config.host, self._config.port, self._config.keepalive_s)
            except (OSError, ValueError) as err:
                self._unreachable(str(err))
                self._pause()
                continue
            with self._lock:
                self._client = client
            client.loop_start()
            while not self._lost.wait(0.2):
                if self._closing.is_set():
                    return  # close() disconnects this client
            client.loop_stop()
            with self._lock:
                if self._client is client:
                    self._client = None
            self._pause()

    def _pause(self) -> None:
        delay = self._backoff.next_delay()
        self._closing.wait(delay / self._clock.factor)

    def _unreachable(self, error: str) -> None:
        self.last_error = error
        if not self._state.startswith("unreachable"):
            log.warning(
                "broker %s:%s unreachable (%s); events wait in the spool, retrying",
                self._config.host,
                self._config.port,
                error,
            )
        self._state = "unreachable, retrying"
        self._report("degraded", f"broker unreachable: {error}")

    def _report(self, state: HealthState, reason: str) -> None:
        if self._health is not None:
            self._health.report(HEALTH_NAME, state, reason, self._clock.monotonic())

    # -- paho callbacks (paho's thread) --------------------------------------------------------

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
            self._report("degraded", f"broker refused the connection: {reason}")
            return
        self._backoff.reset()
        # Subscribe before saying online: the broker handles a connection's packets in order,
        # so a command sent by someone who saw `online` finds the subscription in place (each
        # connection is a clean session, so nothing is subscribed before this).
        if self._subscriptions:
            client.subscribe([(name, 1) for name in self._subscriptions])
        direct = [(self._status_topic, self._birth()), *self._retained_on_connect()]
        with self._lock:
            self.connects += 1
            self._connected = True
            for topic, payload in direct:
                self._direct.add(client.publish(topic, payload, qos=1, retain=True).mid)
            self._room.notify_all()
        self._state = "connected"
        log.info("connected to broker %s:%s", self._config.host, self._config.port)
        self._report("ok", f"connected to {self._config.host}:{self._config.port}")
        self._outbox.wake()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._lock:
            was_connected = self._connected and client is self._client
            if client is self._client:
                self._connected = False
            pending = list(self._inflight.values())  # publication order
            self._inflight.clear()
            self._early_acks.clear()
            self._direct.clear()
            self._room.notify_all()
        if pending:
            self._outbox.release(pending)
        if was_connected and not self._closing.is_set():
            self._state = "disconnected, retrying"
            log.warning("lost the broker: %s", reason)
            self._report("degraded", f"lost the broker: {reason}")
        self._lost.set()

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._lock:
            if client is not self._client:
                return
            if mid in self._direct:
                self._direct.discard(mid)
                return
            message = self._inflight.pop(mid, None)
            if message is None:
                self._early_acks.add(mid)
                return
            self._room.notify_all()
        self._settle(message, reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if self._on_message_cb is None:
            return
        try:
            self._on_message_cb(msg.topic, bytes(msg.payload))
        except Exception:  # a handler bug must not kill paho's thread
            log.exception("message handler failed on %s", msg.topic)

    def _settle(self, message: OutMessage, reason: ReasonCode | None) -> None:
        if reason is not None and reason.is_failure:
            # Refused (not authorised ...): sending it again would be refused again.
            self.rejected += 1
            self.last_error = str(reason)
            log.warning("broker refused a message on %s: %s", message.topic, reason)
        else:
            self.delivered += 1
        self._outbox.ack(message)

    # -- the drain thread ----------------------------------------------------------------------

    def _drain_loop(self) -> None:
        while not self._closing.is_set():
            with self._room:
                if not self._connected or len(self._inflight) >= self._max_inflight:
                    self._room.wait(0.5)
                    continue
                room = self._max_inflight - len(self._inflight)
            batch = self._outbox.take(room, timeout=0.5)
            if batch:
                self._send(batch)

    def _send(self, batch: list[OutMessage]) -> None:
        with self._lock:
            client, epoch = self._client, self.connects
            ok = client is not None and self._connected
        if not ok or client is None:
            self._outbox.release(batch)
            return
        boot_id = self._outbox.boot_id
        for index, message in enumerate(batch):
            payload = message.payload
            if message.epoch != epoch or message.boot_id != boot_id:
                payload = mark_historical(payload)
            # paho's lock order forbids holding ours across publish(): an acknowledgement that
            # arrives before the mid is registered is parked in _early_acks and settled here.
            info = client.publish(message.topic, payload, qos=message.qos, retain=message.retain)
            with self._lock:
                live = client is self._client and self._connected
                early = live and info.mid in self._early_acks
                if early:
                    self._early_acks.discard(info.mid)
                elif live and info.rc == mqtt.MQTT_ERR_SUCCESS:
                    self._inflight[info.mid] = message
            if early:
                self._settle(message, None)
            elif not live or info.rc != mqtt.MQTT_ERR_SUCCESS:
                self._outbox.release(batch[index:])
                return


class MqttSubscriber:
    """A consumer's connection: QoS 1 subscriptions in a persistent MQTT 5 session (the broker
    keeps messages for ``session_expiry_s`` while it is away); paho reconnects it. Each message
    goes to ``on_message(topic, payload, retain)`` in paho's thread; its PUBACK is sent after
    ``on_message`` returns, so what the consumer stored is what it acknowledged."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        client_id: str,
        filters: list[str],
        on_message: Callable[[str, bytes, bool], object],
        username: str | None = None,
        password: str | None = None,
        ca_file: Path | None = None,
        session_expiry_s: int = 86400,
        keepalive_s: int = 30,
    ) -> None:
        self._host, self._port, self._keepalive = host, port, keepalive_s
        self._filters = filters
        self._on_message_cb = on_message
        self._session_expiry = session_expiry_s
        self._subscribed = threading.Event()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
        )
        if username is not None:
            client.username_pw_set(username, password)
        if ca_file is not None:
            client.tls_set(ca_certs=str(ca_file), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self._client = client
        self.connects = 0

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self._session_expiry
        self._client.connect_async(
            self._host, self._port, self._keepalive, clean_start=False, properties=props
        )
        self._client.loop_start()

    def wait_subscribed(self, timeout: float) -> bool:
        return self._subscribed.wait(timeout)

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: mqtt.Client, userdata: Any, *args: Any) -> None:
        self.connects += 1
        self._subscribed.clear()
        client.subscribe([(f, 1) for f in self._filters])

    def _on_subscribe(self, *args: Any) -> None:
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            self._on_message_cb(msg.topic, bytes(msg.payload), bool(msg.retain))
        except Exception:  # a consumer bug must not kill paho's thread
            log.exception("message handler failed on %s", msg.topic)


class PublishFailedError(Exception):
    """``publish_once`` could not deliver: refused connection, refused message or timeout."""


def publish_once(
    *,
    host: str,
    port: int,
    topic: str,
    payload: bytes,
    retain: bool = False,
    client_id: str,
    username: str | None = None,
    password: str | None = None,
    ca_file: Path | None = None,
    timeout_s: float = 10.0,
) -> None:
    """Connect, publish one message at QoS 1, wait for its PUBACK and disconnect (``pole-agent
    fleet send``). Raises PublishFailedError naming what went wrong (the broker's reason code)."""
    connected: list[ReasonCode] = []
    acked: list[ReasonCode] = []
    done = threading.Event()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
    )
    if username is not None:
        client.username_pw_set(username, password)
    if ca_file is not None:
        client.tls_set(ca_certs=str(ca_file), tls_version=ssl.PROTOCOL_TLS_CLIENT)

    def on_connect(c: mqtt.Client, u: Any, f: Any, reason: ReasonCode, p: Any) -> None:
        connected.append(reason)
        if reason.is_failure:
            done.set()
        else:
            c.publish(topic, payload, qos=1, retain=retain)

    def on_publish(c: mqtt.Client, u: Any, mid: int, reason: ReasonCode, p: Any) -> None:
        acked.append(reason)
        done.set()

    client.on_connect = on_connect
    client.on_publish = on_publish
    try:
        client.connect(host, port, 30)
    except (OSError, ValueError) as err:
        raise PublishFailedError(f"cannot reach {host}:{port}: {err}") from None
    client.loop_start()
    try:
        if not done.wait(timeout_s):
            raise PublishFailedError(f"no answer from {host}:{port} within {timeout_s} s")
        if connected and connected[0].is_failure:
            raise PublishFailedError(f"the broker refused the connection: {connected[0]}")
        if acked and acked[0].is_failure:
            raise PublishFailedError(f"the broker refused the message on {topic}: {acked[0]}")
    finally:
        client.disconnect()
        client.loop_stop()
