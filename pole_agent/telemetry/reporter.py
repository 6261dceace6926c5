"""Turns what the pole saw into sequenced messages and hands them to the publisher.

The sequence number is assigned here, when the message is made, not when it is sent: a gap in
``seq`` then means a message was dropped, never that it was late. The publisher only queues
(``Publisher.publish`` never waits on the network or the disk), so the radar's thread can report
right after it has lit the beacons.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pole_agent import __version__
from pole_agent.clock import wall_at
from pole_agent.decisions.beacon_policy import WarningStart
from pole_agent.decisions.warning_policy import DecisionRecord
from pole_agent.decisions.zone_schedule import ZoneState
from pole_agent.health import ComponentHealth
from pole_agent.perception.transit import Transit
from pole_agent.ports import Clock, Publisher
from pole_agent.telemetry import topics
from pole_agent.telemetry.messages import (
    DecisionEvent,
    FaultEvent,
    JsonScalar,
    Message,
    ModelVersion,
    PedestrianEvent,
    StatusOnline,
    StatusStopped,
    VehicleEvent,
    WarningEvent,
    WarningRecord,
    encode,
)
from pole_agent.telemetry.report_messages import HealthReport, SpeedSummary, StatsReport
from pole_agent.telemetry.stats import Summary, TrafficStats, Window

M = TypeVar("M", bound=Message)

RadarIdentities = dict[str, dict[str, JsonScalar] | None]


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


@dataclass
class BirthInfo:
    """What the birth message says besides the boot: filled in from app wiring."""

    versions: dict[str, str] = field(default_factory=dict)
    models: list[ModelVersion] = field(default_factory=list)
    radars: Callable[[], RadarIdentities] = dict
    config_version: int = 0


class Reporter:
    def __init__(
        self,
        pole_id: str,
        boot_id: str,
        clock: Clock,
        publisher: Publisher,
        capabilities: list[str],
        *,
        birth: BirthInfo | None = None,
        stats_interval_s: int = 900,
        warning_hold_s: float = 0.0,
        clutter_frames: Callable[[], int] | None = None,
    ) -> None:
        """``clutter_frames`` reads the road radar's running clutter count (the pipeline's
        ``clutter_frames``) for the stats windows; None: no radar, 0 in every window."""
        self.pole_id = pole_id
        self.boot_id = boot_id
        self._clock = clock
        self._publisher = publisher
        self._capabilities = capabilities
        self._birth = birth or BirthInfo()
        self._seq = SequenceCounter()
        self._stats_interval = stats_interval_s
        self._clutter_frames = clutter_frames
        self._hold_s = warning_hold_s
        self._stats: TrafficStats | None = None
        self._stats_lock = threading.Lock()
        self._ids_lock = threading.Lock()
        self._warning_ids: dict[int, int] = {}
        self._next_warning_id = 1
        self._faults: dict[str, int] = {}
        self._next_fault_id = 1
        self.started = clock.wall()
        self.started_mono = clock.monotonic()
        self.published: list[tuple[str, bytes]] = []
        """The last few messages handed to the publisher, newest last (for status views)."""

    # -- helpers -----------------------------------------------------------------------------

    def _wall(self, mono: float) -> datetime:
        return wall_at(self._clock.wall(), self._clock.monotonic(), mono)

    def _make(self, model: type[M], topic: str, ts: datetime, **fields: Any) -> M:
        return model(
            pole_id=self.pole_id,
            boot_id=self.boot_id,
            seq=self._seq.next(topic),
            ts=ts,
            **fields,
        )

    def _emit(self, topic: str, message: Message, *, retain: bool = False) -> None:
        payload = encode(message)
        self._publisher.publish(topic, payload, qos=1, retain=retain)
        self.published = [*self.published[-19:], (topic, payload)]

    # -- events ------------------------------------------------------------------------------

    def vehicle(
        self,
        transit: Transit,
        zone: ZoneState,
        warning: WarningStart | None,
        vehicle_class: str = "unclassified",
    ) -> None:
        topic = topics.vehicle_events(self.pole_id)
        record = None if warning is None else self._record(warning)
        speed = round(transit.peak_kmh, 1)  # over_limit must agree with the published speed
        over = speed > zone.limit_kmh
        end = self._wall(transit.end_t)
        event = self._make(
            VehicleEvent,
            topic,
            end,
            transit_id=transit.transit_id,
            start=self._wall(transit.start_t),
            speed_kmh=speed,
            median_kmh=round(transit.median_kmh, 1),
            direction=transit.direction,
            vehicle_class=vehicle_class,
            samples=transit.samples,
            limit_kmh=zone.limit_kmh,
            zone_active=zone.active,
            over_limit=over,
            warned=warning is not None,
            warning=record,
        )
        self._emit(topic, event)
        closed = self._stats_for(zone).add_transit(
            direction=transit.direction,
            peak_kmh=speed,
            over_limit=over,
            vehicle_class=vehicle_class,
            zone=zone,
            at=self._clock.wall(),
        )
        self._emit_windows(closed)

    def _record(self, warning: WarningStart) -> WarningRecord:
        return WarningRecord(
            rule=warning.rule,
            at=self._wall(warning.t),
            speed_kmh=round(warning.speed_kmh, 1),
            limit_kmh=warning.limit_kmh,
            confirm_frames=warning.confirm_frames,
        )

    def pedestrian(
        self,
        *,
        pedestrian_id: int,
        start_t: float,
        end_t: float,
        child: bool | None,
        child_confidence: float | None,
        crossing: bool,
        source: str,
        warned: bool,
    ) -> None:
        """A pedestrian seen near the crossing (the kerb radar model's ``KerbPedestrianLog``)."""
        topic = topics.pedestrian_events(self.pole_id)
        event = self._make(
            PedestrianEvent,
            topic,
            self._wall(end_t),
            pedestrian_id=pedestrian_id,
            start=self._wall(start_t),
            child=child,
            child_confidence=child_confidence,
            crossing=crossing,
            source=source,
            warned=warned,
        )
        self._emit(topic, event)

    def decision(self, record: DecisionRecord) -> None:
        """A decision record from the warning rules (called in the thread that decided: the
        message goes to the spool's queue). Over-limit records are left to ``warning_start``,
        which publishes the same decision with its warning id on events/warning."""
        if record.kind == "over_limit":
            return
        topic = topics.decision_events(self.pole_id)
        event = self._make(
            DecisionEvent,
            topic,
            self._wall(record.t),
            kind=record.kind,
            rule=record.rule,
            trigger=record.trigger,
            inputs=dict(record.inputs),
            outputs=list(record.outputs),
        )
        self._emit(topic, event)

    def warning_start(self, warning: WarningStart, zone: ZoneState) -> None:
        """The beacons were just lit for ``warning`` (called right after, in the same thread)."""
        with self._ids_lock:
            warning_id = self._next_warning_id
            self._next_warning_id += 1
            self._warning_ids[warning.transit_id] = warning_id
        topic = topics.warning_events(self.pole_id)
        event = self._make(
            WarningEvent,
            topic,
            self._wall(warning.t),
            phase="start",
            warning_id=warning_id,
            transit_id=warning.transit_id,
            decision=self._record(warning),
            zone_active=zone.active,
        )
        self._emit(topic, event)
        self._emit_windows(self._stats_for(zone).add_warning(zone, self._clock.wall()))

    def warning_end(self, warning: WarningStart, transit: Transit, zone: ZoneState) -> None:
        """The warned vehicle's transit ended; the beacons hold ``warning_hold_s`` more."""
        with self._ids_lock:
            warning_id = self._warning_ids.pop(warning.transit_id, 0)
        if not warning_id:
            return
        topic = topics.warning_events(self.pole_id)
        event = self._make(
            WarningEvent,
            topic,
            self._wall(transit.end_t),
            phase="end",
            warning_id=warning_id,
            transit_id=warning.transit_id,
            decision=self._record(warning),
            zone_active=zone.active,
            peak_kmh=round(transit.peak_kmh, 1),
            hold_until=self._wall(transit.end_t + self._hold_s),
        )
        self._emit(topic, event)

    def on_health_change(self, current: ComponentHealth, previous: ComponentHealth | None) -> None:
        """A HealthBoard listener: fault, update and recovery events."""
        before = previous.state if previous is not None else None
        if current.state == before:
            return
        with self._ids_lock:
            if current.state == "ok":
                fault_id = self._faults.pop(current.name, 0)
                phase = "recovery"
            elif current.name in self._faults:
                fault_id = self._faults[current.name]
                phase = "update"
            else:
                fault_id = self._next_fault_id
                self._next_fault_id += 1
                self._faults[current.name] = fault_id
                phase = "fault"
        if not fault_id:
            return  # ok on first report, or ok again without a fault this boot
        topic = topics.fault_events(self.pole_id)
        since = self._wall(current.since)
        event = self._make(
            FaultEvent,
            topic,
            since,
            phase=phase,
            fault_id=fault_id,
            component=current.name,
            state=current.state,
            previous=before,
            reason=current.reason[:500],
            since=since,
        )
        self._emit(topic, event)

    # -- periodic ----------------------------------------------------------------------------

    def _stats_for(self, zone: ZoneState) -> TrafficStats:
        with self._stats_lock:
            if self._stats is None:
                self._stats = TrafficStats(
                    self._stats_interval, self._clock.wall(), zone, self._clutter_frames
                )
            return self._stats

    def roll_stats(self, zone: ZoneState) -> None:
        """Publish the stats window if it has ended (called by the telemetry timer)."""
        self._emit_windows(self._stats_for(zone).roll(self._clock.wall(), zone))

    def close_stats(self) -> None:
        """Publish the open window, cut short (at a clean stop)."""
        with self._stats_lock:
            stats, self._stats = self._stats, None
        if stats is not None:
            self._emit_windows([stats.close(self._clock.wall())])

    def _emit_windows(self, windows: list[Window]) -> None:
        topic = topics.stats(self.pole_id)
        for window in windows:
            report = self._make(
                StatsReport,
                topic,
                window.end,
                window_start=window.start,
                window_end=window.end,
                partial=window.partial,
                zone_active=window.zone.active,
                limit_kmh=window.zone.limit_kmh,
                schedule_window=window.zone.window,
                total=_summary(window.total),
                approaching=_summary(window.by_direction["approaching"]),
                receding=_summary(window.by_direction["receding"]),
                warnings=window.warnings,
                clutter_frames=window.clutter_frames,
            )
            self._emit(topic, report)

    def health(self, **fields: Any) -> HealthReport:
        """Publish a health report made of ``fields`` (health_report.py gathers them)."""
        topic = topics.health(self.pole_id)
        report = self._make(HealthReport, topic, self._clock.wall(), **fields)
        self._emit(topic, report)
        return report

    # -- status (returned, not queued: the link publishes them itself) ------------------------

    def online(self) -> bytes:
        """The birth message; made anew (with its own seq) at each connect."""
        topic = topics.status(self.pole_id)
        try:
            radars = self._birth.radars()
        except Exception:  # a radar driver's view must never block the birth
            radars = {}
        message = self._make(
            StatusOnline,
            topic,
            self._clock.wall(),
            agent_version=__version__,
            versions=self._birth.versions,
            models=self._birth.models,
            radars=radars,
            config_version=self._birth.config_version,
            started=self.started,
            capabilities=self._capabilities,
        )
        return encode(message)

    def stopped(self, reason: str) -> bytes:
        topic = topics.status(self.pole_id)
        return encode(self._make(StatusStopped, topic, self._clock.wall(), reason=reason))


def _summary(summary: Summary) -> SpeedSummary:
    return SpeedSummary(
        count=summary.count,
        over_limit=summary.over_limit,
        p50_kmh=summary.p50_kmh,
        p85_kmh=summary.p85_kmh,
        p98_kmh=summary.p98_kmh,
        max_kmh=summary.max_kmh,
        by_class=summary.by_class,
    )
