"""The publisher used when no broker is configured: messages wait in the bounded outbox."""

from __future__ import annotations

from pole_agent.telemetry.outbox import MemoryOutbox, OutMessage


class OfflinePublisher:
    def __init__(self, outbox: MemoryOutbox) -> None:
        self._outbox = outbox

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        self._outbox.put(OutMessage(topic, payload, qos, retain))

    def link_state(self) -> str:
        return "no broker configured"
