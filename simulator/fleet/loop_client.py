"""One MQTT connection driven by an asyncio event loop: paho-mqtt's external-loop API.

The fleet runs a thousand connections in one thread, so no connection may own a thread (paho's
``loop_start``) or block. paho is made for this: its socket is non-blocking after the connect,
``on_socket_register_write`` tells us when it has bytes to send, and ``loop_read`` /
``loop_write`` / ``loop_misc`` do one step of work each. The loop watches each socket with
``add_reader`` / ``add_writer``; one task calls ``loop_misc`` for every client once a second
(keepalive pings). This is the same arrangement aiomqtt uses, without the extra dependency.

The connection speaks what the agent's ``MqttLink`` speaks (pole_agent/drivers/mqtt_link.py):
MQTT 5, client id ``spole-<pole_id>``, the pole id as user name, QoS 1, a retained Last Will on
the status topic. The TCP connect itself is paho's blocking ``socket.create_connection``: on the
loopback or a LAN it takes well under a millisecond, so it is done inline.

This is the simulator's one module that imports paho for the fleet (the product's is
pole_agent/drivers/mqtt_link.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

log = logging.getLogger(__name__)


class FleetConnectError(RuntimeError):
    """A pole model could not connect (refused, unreachable, no CONNACK in time)."""


class LoopClient:
    """A QoS 1 publisher on the running event loop; ``publish`` only queues (never blocks)."""

    def __init__(
        self,
        *,
        client_id: str,
        username: str,
        will_topic: str,
        will_payload: bytes,
        keepalive_s: int = 30,
        max_inflight: int = 20,
        password: str | None = None,
    ) -> None:
        self.client_id = client_id
        self.sent = 0
        self.acked = 0
        self.lost = False
        """The broker or the network closed the connection (not our ``disconnect``)."""
        self._keepalive = keepalive_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected: asyncio.Future[ReasonCode] | None = None
        self._closing = False
        self._sock: Any = None
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            reconnect_on_failure=False,
        )
        client.username_pw_set(username, password)
        client.will_set(will_topic, will_payload, qos=1, retain=True)
        client.max_inflight_messages_set(max_inflight)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write
        self._client = client

    # -- the life of the connection -------------------------------------------------------------

    async def connect(self, host: str, port: int, timeout_s: float = 10.0) -> None:
        """Connect and wait for the broker's CONNACK; raises ``FleetConnectError``."""
        self._loop = asyncio.get_running_loop()
        self._connected = self._loop.create_future()
        try:
            self._client.connect(host, port, self._keepalive)
        except (OSError, ValueError) as err:
            raise FleetConnectError(f"{self.client_id}: cannot reach {host}:{port}: {err}") from err
        try:
            reason = await asyncio.wait_for(self._connected, timeout_s)
        except TimeoutError as err:
            self.abort()
            raise FleetConnectError(f"{self.client_id}: no CONNACK within {timeout_s} s") from err
        if reason.is_failure:
            self.abort()
            raise FleetConnectError(f"{self.client_id}: the broker refused: {reason}")

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Queue one QoS 1 message; paho sends it when the loop finds the socket writable and
        keeps at most ``max_inflight`` unacknowledged (the rest wait in paho's queue, in order)."""
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_QUEUE_SIZE):
            log.debug("%s: publish on %s: %s", self.client_id, topic, info.rc)
        self.sent += 1

    @property
    def unacked(self) -> int:
        return self.sent - self.acked

    def tick(self) -> None:
        """Keepalive (PINGREQ) and timeouts: call about once a second."""
        if self._sock is not None:
            self._client.loop_misc()

    def disconnect(self) -> None:
        """A clean MQTT DISCONNECT (the broker discards the Last Will)."""
        self._closing = True
        self._client.disconnect()

    def abort(self) -> None:
        """Drop the TCP connection with no DISCONNECT: the broker publishes the Last Will."""
        self._closing = True
        sock, self._sock = self._sock, None
        if sock is not None:
            self._unwatch(sock)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    # -- paho callbacks (all on the loop's thread) -------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, *_: Any
    ) -> None:
        if self._connected is not None and not self._connected.done():
            self._connected.set_result(reason)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, *args: Any) -> None:
        if not self._closing:
            self.lost = True
            log.warning("%s: connection lost", self.client_id)

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, *_: Any) -> None:
        self.acked += 1

    def _on_socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        assert self._loop is not None
        self._sock = sock
        self._loop.add_reader(sock, self._read)

    def _on_socket_close(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._unwatch(sock)
        if self._sock is sock:
            self._sock = None

    def _on_register_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        assert self._loop is not None
        self._loop.add_writer(sock, self._write)

    def _on_unregister_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        assert self._loop is not None
        self._loop.remove_writer(sock)

    def _read(self) -> None:
        self._client.loop_read()

    def _write(self) -> None:
        self._client.loop_write()

    def _unwatch(self, sock: Any) -> None:
        if self._loop is None or sock is None:
            return
        try:
            self._loop.remove_reader(sock)
            self._loop.remove_writer(sock)
        except (ValueError, OSError):
            pass  # the socket is already closed


async def keep_alive(clients: Iterable[LoopClient], stop: asyncio.Event) -> None:
    """Tick every client once a second until ``stop`` is set (one task for the whole fleet)."""
    while not stop.is_set():
        for client in list(clients):
            client.tick()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
