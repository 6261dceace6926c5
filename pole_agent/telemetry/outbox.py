"""The bounded in-memory queue of messages not yet acknowledged by the broker.

A message leaves it only when the broker has acknowledged it (at-least-once); while the broker
is away messages wait here, and past ``max_messages`` the oldest are dropped and counted. A
durable on-disk spool replaces this for routine use (see CHANGELOG); the interface stays.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OutMessage:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


class MemoryOutbox:
    def __init__(self, max_messages: int) -> None:
        if max_messages < 1:
            raise ValueError("an outbox needs room for at least one message")
        self._max = max_messages
        self._queue: deque[OutMessage] = deque()
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self.dropped = 0
        self.accepted = 0

    def put(self, message: OutMessage) -> None:
        with self._lock:
            if len(self._queue) >= self._max:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(message)
            self.accepted += 1
            self._ready.notify_all()

    def put_back(self, messages: list[OutMessage]) -> None:
        """Return unacknowledged messages to the front, in their order (after a lost link)."""
        with self._lock:
            self._queue.extendleft(reversed(messages))
            while len(self._queue) > self._max:
                self._queue.popleft()
                self.dropped += 1
            self._ready.notify_all()

    def take(self, limit: int, timeout: float) -> list[OutMessage]:
        """Remove and return up to ``limit`` messages, waiting up to ``timeout`` for the first."""
        with self._lock:
            if not self._queue:
                self._ready.wait(timeout)
            out: list[OutMessage] = []
            while self._queue and len(out) < limit:
                out.append(self._queue.popleft())
            return out

    def wake(self) -> None:
        with self._lock:
            self._ready.notify_all()

    def __len__(self) -> int:
        with self._lock:
            return len(self._queue)
