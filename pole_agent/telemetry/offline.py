"""The publisher used when no broker is configured: messages wait in the spool, on disk, and
are sent (marked historical) by a later boot that has a broker."""

from __future__ import annotations

from pole_agent.telemetry import topics
from pole_agent.telemetry.outbox import Outbox, OutMessage


class OfflinePublisher:
    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        self._outbox.put(OutMessage(topic, payload, qos, retain, safety=topics.is_safety(topic)))

    def link_state(self) -> str:
        return "no broker configured"
