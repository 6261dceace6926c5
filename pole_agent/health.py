"""The health of every component, in one place that decisions, telemetry and status read.

Each component reports its own state (``ok``, ``degraded`` or ``failed``, with a reason) when it
changes; listeners are told of every change (telemetry turns them into fault and recovery
events; the fail-safe logic reads the snapshot). Thread-safe: drivers report from their own
threads. Times are the caller's monotonic clock readings, so tests can use a simulated clock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

log = logging.getLogger(__name__)

HealthState = Literal["ok", "degraded", "failed"]

_RANK: dict[HealthState, int] = {"ok": 0, "degraded": 1, "failed": 2}


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    """One component's health: its state, why, and since when (monotonic)."""

    name: str
    state: HealthState
    reason: str
    since: float


HealthListener = Callable[[ComponentHealth, ComponentHealth | None], None]
"""Called with the new health and the previous one (None the first time a component reports)."""


class HealthBoard:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._components: dict[str, ComponentHealth] = {}
        self._listeners: list[HealthListener] = []

    def subscribe(self, listener: HealthListener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def report(self, name: str, state: HealthState, reason: str, now: float) -> bool:
        """Record a component's state; returns True (and tells listeners) if it changed.

        Repeating the same state and reason is cheap and changes nothing, so drivers may call
        this on every check.
        """
        with self._lock:
            previous = self._components.get(name)
            if previous is not None and previous.state == state and previous.reason == reason:
                return False
            current = ComponentHealth(name, state, reason, now)
            self._components[name] = current
            listeners = list(self._listeners)
        if previous is None or previous.state != state:
            level = logging.INFO if state == "ok" else logging.WARNING
            log.log(level, "health %s: %s (%s)", name, state, reason)
        for listener in listeners:
            try:
                listener(current, previous)
            except Exception:
                log.exception("health listener failed")
        return True

    def get(self, name: str) -> ComponentHealth | None:
        with self._lock:
            return self._components.get(name)

    def snapshot(self) -> dict[str, ComponentHealth]:
        with self._lock:
            return dict(self._components)

    def overall(self) -> HealthState:
        """The worst state of any component (``ok`` when none has reported)."""
        with self._lock:
            states = [c.state for c in self._components.values()]
        return max(states, key=_RANK.__getitem__, default="ok")
