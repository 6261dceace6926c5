"""Traffic statistics per window: counts by direction and class, p50/p85/p98 of the per-transit
peak speeds (never raw radar samples), over-limit counts and warnings. Pure: times are given.

Windows are aligned to the wall clock (a 900 s window runs :00-:15, :15-:30, ...) so that poles
can be compared window by window; a window also ends early when the zone's activity or limit
changes, so one window never mixes two limits ("per schedule window"). Percentiles interpolate
linearly between the closest ranks of the sorted peaks (numpy's default method).

Radar clutter (frames no vehicle's track confirmed) is counted by the tracker, not here: a window
reads that running count when it opens and when it closes, and keeps the difference.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pole_agent.decisions.zone_schedule import ZoneState

DIRECTIONS = ("approaching", "receding")


def percentile(ordered: list[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of an already sorted, non-empty list."""
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True, slots=True)
class Summary:
    count: int
    over_limit: int
    p50_kmh: float | None
    p85_kmh: float | None
    p98_kmh: float | None
    max_kmh: float | None
    by_class: dict[str, int]


@dataclass
class _Tally:
    peaks: list[float] = field(default_factory=list)
    over_limit: int = 0
    classes: Counter[str] = field(default_factory=Counter)

    def summary(self) -> Summary:
        ordered = sorted(self.peaks)
        if not ordered:
            return Summary(0, 0, None, None, None, None, {})
        return Summary(
            count=len(ordered),
            over_limit=self.over_limit,
            p50_kmh=round(percentile(ordered, 50), 1),
            p85_kmh=round(percentile(ordered, 85), 1),
            p98_kmh=round(percentile(ordered, 98), 1),
            max_kmh=round(ordered[-1], 1),
            by_class=dict(sorted(self.classes.items())),
        )


@dataclass(frozen=True, slots=True)
class Window:
    """A closed window, ready to publish."""

    start: datetime
    end: datetime
    partial: bool
    zone: ZoneState
    total: Summary
    by_direction: dict[str, Summary]
    warnings: int
    clutter_frames: int


def _key(zone: ZoneState) -> tuple[bool, float, str]:
    """What makes a new schedule window (not the school-day flag alone)."""
    return zone.active, zone.limit_kmh, zone.window


class _Open:
    def __init__(
        self, start: datetime, end: datetime, zone: ZoneState, partial: bool, clutter: int
    ) -> None:
        self.start = start
        self.end = end
        self.zone = zone
        self.partial = partial
        self.tallies = {d: _Tally() for d in DIRECTIONS}
        self.warnings = 0
        self.clutter_at_start = clutter

    def close(self, at: datetime, partial: bool, clutter: int) -> Window:
        total = _Tally()
        for tally in self.tallies.values():
            total.peaks += tally.peaks
            total.over_limit += tally.over_limit
            total.classes.update(tally.classes)
        return Window(
            start=self.start,
            end=at,
            partial=self.partial or partial,
            zone=self.zone,
            total=total.summary(),
            by_direction={d: t.summary() for d, t in self.tallies.items()},
            warnings=self.warnings,
            # A count that went back (a new tracker) restarted from 0 inside the window.
            clutter_frames=clutter - self.clutter_at_start
            if clutter >= self.clutter_at_start
            else clutter,
        )


class TrafficStats:
    """Accumulates the open window; thread-safe (transits come from the radar's thread, the
    timer rolls windows from its own).

    ``clutter_frames`` reads the road radar's running clutter count (None: no radar, 0 in every
    window): each window reports how much it grew while the window was open."""

    def __init__(
        self,
        interval_s: int,
        now: datetime,
        zone: ZoneState,
        clutter_frames: Callable[[], int] | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("a stats window needs a positive length")
        self._interval = interval_s
        self._clutter = clutter_frames or (lambda: 0)
        self._lock = threading.Lock()
        self._open = _Open(
            now,
            self._boundary_after(now),
            zone,
            partial=not self._aligned(now),
            clutter=self._clutter(),
        )

    def _boundary_after(self, at: datetime) -> datetime:
        epoch = at.timestamp()
        return datetime.fromtimestamp((epoch // self._interval + 1) * self._interval, UTC)

    def _aligned(self, at: datetime) -> bool:
        return at.timestamp() % self._interval == 0

    def add_transit(
        self,
        *,
        direction: str,
        peak_kmh: float,
        over_limit: bool,
        vehicle_class: str,
        zone: ZoneState,
        at: datetime,
    ) -> list[Window]:
        """Count one transit; returns windows this closed (a zone change, a passed boundary)."""
        with self._lock:
            closed = self._roll(at, zone)
            tally = self._open.tallies.get(direction)
            if tally is not None:
                tally.peaks.append(peak_kmh)
                tally.over_limit += over_limit
                tally.classes[vehicle_class] += 1
            return closed

    def add_warning(self, zone: ZoneState, at: datetime) -> list[Window]:
        with self._lock:
            closed = self._roll(at, zone)
            self._open.warnings += 1
            return closed

    def roll(self, now: datetime, zone: ZoneState) -> list[Window]:
        """Close the open window if its end has passed or the zone changed."""
        with self._lock:
            return self._roll(now, zone)

    def close(self, now: datetime) -> Window:
        """Close the open window early (the agent stops); the stats object is done."""
        with self._lock:
            return self._open.close(
                max(now, self._open.start), partial=True, clutter=self._clutter()
            )

    def _roll(self, now: datetime, zone: ZoneState) -> list[Window]:
        current = self._open
        if now >= current.end:
            # A late roll (the clock jumped, the agent was stopped) skips empty windows.
            clutter = self._clutter()
            window = current.close(current.end, partial=False, clutter=clutter)
            start = current.end if now < self._boundary_after(current.end) else now
            self._open = _Open(
                start, self._boundary_after(now), zone, start != current.end, clutter
            )
            return [window]
        if _key(zone) != _key(current.zone):
            at = max(now, current.start)
            clutter = self._clutter()
            self._open = _Open(at, current.end, zone, True, clutter)
            return [current.close(at, partial=True, clutter=clutter)]
        return []
