"""The city's side of remote management, for fault tests: signs and sends desired configs and
commands through a real broker, and reads what the pole answers (a monitor of its topics)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pole_agent.remote.envelope import load_private_key, sign
from simulator.broker import MosquittoBroker
from simulator.monitor import BrokerMonitor
from tests.remote.mqtt_probe import Probe


class City:
    """Signs and sends desired configs and commands to one pole, reads its answers."""

    def __init__(self, broker: MosquittoBroker, key: Path, pole_id: str) -> None:
        self.key = load_private_key(key)
        self.pole_id = pole_id
        self.probe = Probe(broker.host, broker.port, "city-test")
        assert self.probe.connect()
        self.monitor = BrokerMonitor(broker.host, broker.port, pole_id)
        self.monitor.start()

    def envelope(self, kind: str, expires_in_s: float = 300.0) -> dict[str, Any]:
        expires = datetime.now(UTC) + timedelta(seconds=expires_in_s)
        return {"kind": kind, "pole_id": self.pole_id, "expires_at": expires.isoformat()}

    def send(
        self, topic: str, message: dict[str, Any], key: Ed25519PrivateKey | None = None
    ) -> float:
        """Sign (with the fleet key unless another is given) and publish; returns when the
        broker acknowledged it (``time.monotonic()``, the monitor's time base)."""
        return self.send_unsigned(topic, sign(message, key or self.key))

    def send_unsigned(self, topic: str, message: dict[str, Any]) -> float:
        assert self.probe.publish(topic, json.dumps(message).encode()) is not None
        return time.monotonic()

    def replies(self, suffix: str) -> list[dict[str, Any]]:
        return [m.json() for m in self.monitor.messages(suffix)]

    def close(self) -> None:
        self.monitor.stop()
        self.probe.close()


def online_boots(monitor: BrokerMonitor) -> list[str]:
    statuses = (m.json() for m in monitor.messages("status"))
    return [s["boot_id"] for s in statuses if s["state"] == "online"]


def more_than(suffix: str, count: int, online: bool, monitor: BrokerMonitor) -> bool:
    """More than ``count`` messages on ``suffix`` (``online``: boots that came online)."""
    if online:
        return len(online_boots(monitor)) > count
    return len(monitor.messages(suffix)) > count
