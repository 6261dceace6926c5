"""Turns what the pole saw into sequenced messages and hands them to the publisher.

The sequence number is assigned here, when the message is made, not when it is sent: a gap in
``seq`` then means a message was dropped, never that it was late.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import datetime

from pole_agent import __version__
from pole_agent.clock import wall_at
from pole_agent.decisions.beacon_policy import WarningStart
from pole_agent.decisions.zone_schedule import ZoneState
from pole_agent.perception.transit import Transit
from pole_agent.ports import Clock, Publisher
from pole_agent.telemetry import topics
from pole_agent.telemetry.messages import (
    StatusOnline,
    StatusStopped,
    VehicleEvent,
    WarningRecord,
)


class SequenceCounter:
    """Per-topic sequence numbers for one boot; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next: defaultdict[str, int] = defaultdict(lambda: 1)

    def next(self, topic: str) -> int:
        with self._lock:
            value = self._next[topic]
            self._next[topic] = value + 1
            return value


class Reporter:
    def __init__(
        self,
        pole_id: str,
        boot_id: str,
        clock: Clock,
        publisher: Publisher,
        capabilities: list[str],
    ) -> None:
        self.pole_id = pole_id
        self.boot_id = boot_id
        self._clock = clock
        self._publisher = publisher
        self._capabilities = capabilities
        self._seq = SequenceCounter()
        self.started = clock.wall()
        self.published: list[tuple[str, bytes]] = []
        """The last few messages handed to the publisher, newest last (for status views)."""

    def _wall(self, mono: float) -> datetime:
        return wall_at(self._clock.wall(), self._clock.monotonic(), mono)

    def _emit(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self._publisher.publish(topic, payload, qos=1, retain=retain)
        self.published = [*self.published[-19:], (topic, payload)]

    def vehicle(self, transit: Transit, zone: ZoneState, warning: WarningStart | None) -> None:
        topic = topics.vehicle_events(self.pole_id)
        record = None
        if warning is not None:
            record = WarningRecord(
                rule=warning.rule,
                at=self._wall(warning.t),
                speed_kmh=round(warning.speed_kmh, 1),
                limit_kmh=warning.limit_kmh,
                confirm_frames=warning.confirm_frames,
            )
        speed = round(transit.peak_kmh, 1)  # over_limit must agree with the published speed
        event = VehicleEvent(
            pole_id=self.pole_id,
            boot_id=self.boot_id,
            seq=self._seq.next(topic),
            ts=self._wall(transit.end_t),
            transit_id=transit.transit_id,
            start=self._wall(transit.start_t),
            speed_kmh=speed,
            median_kmh=round(transit.median_kmh, 1),
            direction=transit.direction,
            samples=transit.samples,
            limit_kmh=zone.limit_kmh,
            zone_active=zone.active,
            over_limit=speed > zone.limit_kmh,
            warned=warning is not None,
            warning=record,
        )
        self._emit(topic, event.model_dump_json().encode())

    def online(self) -> bytes:
        """The birth message; made anew (with its own seq) at each connect."""
        topic = topics.status(self.pole_id)
        return (
            StatusOnline(
                pole_id=self.pole_id,
                boot_id=self.boot_id,
                seq=self._seq.next(topic),
                ts=self._clock.wall(),
                agent_version=__version__,
                started=self.started,
                capabilities=self._capabilities,
            )
            .model_dump_json()
            .encode()
        )

    def stopped(self, reason: str) -> bytes:
        topic = topics.status(self.pole_id)
        return (
            StatusStopped(
                pole_id=self.pole_id,
                boot_id=self.boot_id,
                seq=self._seq.next(topic),
                ts=self._clock.wall(),
                reason=reason,
            )
            .model_dump_json()
            .encode()
        )
