"""A message on its way to the broker, and the small port the MQTT link drains.

``Spool`` (spool.py) is the one implementation the agent runs: every message is put there first
and leaves only after the broker's acknowledgement. The port is written down here so that the
link depends on what it needs (take, ack, release), not on SQLite.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(slots=True)
class OutMessage:
    """One message to publish, with what the spool and the link need to know about it."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False
    safety: bool = False
    """A warning or fault: kept when the spool is full."""
    epoch: int = -1
    """The link's connection number when the message was made (-1: no connection then). A
    message sent on another connection, or by another boot, is historical."""
    created: float = 0.0
    """Wall clock when it was made (seconds since the epoch), for the spool's age limit."""
    boot_id: str = ""
    """The boot that made it (rows replayed from an earlier boot keep theirs)."""
    key: int = 0
    """The spool's row id; 0 while the message is only in memory."""


class Outbox(Protocol):
    """Where a publisher puts messages and the MQTT link takes them from.

    ``put`` never blocks on I/O (it is called on the warning path). ``take`` returns up to
    ``limit`` messages in order, waiting up to ``timeout`` for the first; each stays in the outbox
    until ``ack`` (the broker acknowledged it) and goes back in front, in order, on ``release``
    (the link was lost before the acknowledgement).
    """

    boot_id: str

    def put(self, message: OutMessage) -> None: ...

    def take(self, limit: int, timeout: float) -> list[OutMessage]: ...

    def ack(self, message: OutMessage) -> None: ...

    def release(self, messages: list[OutMessage]) -> None: ...

    def wake(self) -> None: ...

    def __len__(self) -> int: ...
