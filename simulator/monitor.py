"""A subscriber that records what one pole published, as it arrived at the broker.

The demo shows it; the integration tests assert on it. (The city's full reference consumer,
with de-duplication and gap reports, is a separate tool.)
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from pole_agent.telemetry import topics


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    at: float

    def json(self) -> dict[str, Any]:
        value = json.loads(self.payload)
        if not isinstance(value, dict):
            raise ValueError(f"{self.topic}: payload is not a JSON object")
        return value


class BrokerMonitor:
    def __init__(
        self,
        host: str,
        port: int,
        pole_id: str,
        *,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.pole_id = pole_id
        self._prefix = f"{topics.PREFIX}/{pole_id}/"
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._received: list[Received] = []
        self._subscribed = threading.Event()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"monitor-{uuid.uuid4().hex[:8]}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        if username is not None:
            client.username_pw_set(username, password)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self._client = client
        self._host, self._port = host, port

    def start(self, timeout: float = 10.0) -> None:
        self._client.connect(self._host, self._port, keepalive=30)
        self._client.loop_start()
        if not self._subscribed.wait(timeout):
            raise TimeoutError(f"monitor could not subscribe at {self._host}:{self._port}")

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: mqtt.Client, *args: Any) -> None:
        client.subscribe(topics.all_of(self.pole_id), qos=1)

    def _on_subscribe(self, *args: Any) -> None:
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        item = Received(msg.topic, bytes(msg.payload), bool(msg.retain), time.monotonic())
        with self._lock:
            self._received.append(item)
            self._changed.notify_all()

    def messages(self, suffix: str | None = None) -> list[Received]:
        """Everything received, or only topics ``spole/<pole>/<suffix>``."""
        with self._lock:
            items = list(self._received)
        if suffix is None:
            return items
        return [m for m in items if m.topic == self._prefix + suffix]

    def count(self, suffix: str) -> int:
        return len(self.messages(suffix))

    def last_state(self) -> str | None:
        statuses = self.messages("status")
        if not statuses:
            return None
        try:
            return str(statuses[-1].json().get("state"))
        except ValueError:
            return None

    def wait_until(self, predicate: Callable[[BrokerMonitor], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                self._lock.release()
                try:
                    if predicate(self):
                        return True
                finally:
                    self._lock.acquire()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 0.2))

    def wait_for_state(self, state: str, timeout: float) -> bool:
        return self.wait_until(lambda m: m.last_state() == state, timeout)
