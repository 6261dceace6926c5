"""Speed frames grouped into one record per vehicle transit.

A Doppler radar reports the strongest target many times a second while a vehicle crosses its
beam. The city wants one record per vehicle: its peak speed corrected for the radar's mounting
angle, its direction, when it started and ended. One transit is kept open per direction (a radar
that sees an approaching and a receding vehicle at once alternates between them); a transit ends
when no frame of its direction arrives for ``gap_s``. Transits with fewer than ``min_samples``
frames are marked as noise (a bird, a single bad line) and counted; the caller reports them
only if something warned on them.

Pure: the clock is whatever times the frames carry and ``tick`` is given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from pole_agent.config import TrackingConfig
from pole_agent.perception.radar_lines import SpeedFrame

Direction = Literal["approaching", "receding"]

#: Speeds kept per transit for its median; a sensor stuck on one value must not grow memory.
MAX_KEPT_SPEEDS = 2000


@dataclass(slots=True)
class OpenTransit:
    """A vehicle still in the beam."""

    transit_id: int
    direction: Direction
    start_t: float
    last_t: float
    peak_kmh: float
    samples: int = 1
    speeds: list[float] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Transit:
    """A finished vehicle transit (speeds are angle-corrected ground speeds, km/h)."""

    transit_id: int
    direction: Direction
    start_t: float
    end_t: float
    peak_kmh: float
    median_kmh: float
    samples: int
    noise: bool = False
    """Fewer frames than ``min_samples``: not a vehicle, unless something warned on it."""


class TransitTracker:
    """Turns speed frames into transits; one instance per radar."""

    def __init__(self, config: TrackingConfig, mounting_angle_deg: float) -> None:
        self._config = config
        self._correction = 1.0 / math.cos(math.radians(mounting_angle_deg))
        self._open: dict[Direction, OpenTransit] = {}
        self._next_id = 1
        self.noise_transits = 0
        """Transits closed with fewer than ``min_samples`` frames."""

    def ground_speed(self, radial_kmh: float) -> float:
        """Angle-corrected ground speed (unsigned) for a measured radial speed."""
        return abs(radial_kmh) * self._correction

    def update(self, frame: SpeedFrame) -> tuple[OpenTransit | None, list[Transit]]:
        """Add a frame. Returns the transit it joined (None if ignored) and any that closed.

        Transits of either direction whose gap expired before this frame are closed first, so
        that a new vehicle after a gap starts a new transit.
        """
        closed = self.tick(frame.t)
        speed = self.ground_speed(frame.speed_kmh)
        if speed < self._config.min_speed_kmh:
            return None, closed
        direction: Direction = "approaching" if frame.speed_kmh > 0 else "receding"
        current = self._open.get(direction)
        if current is None:
            current = OpenTransit(
                transit_id=self._next_id,
                direction=direction,
                start_t=frame.t,
                last_t=frame.t,
                peak_kmh=speed,
                speeds=[speed],
            )
            self._next_id += 1
            self._open[direction] = current
        else:
            current.last_t = frame.t
            current.samples += 1
            if len(current.speeds) < MAX_KEPT_SPEEDS:
                current.speeds.append(speed)
            current.peak_kmh = max(current.peak_kmh, speed)
        return current, closed

    def tick(self, now: float) -> list[Transit]:
        """Close every open transit whose last frame is older than the gap."""
        closed: list[Transit] = []
        for direction in list(self._open):
            current = self._open[direction]
            if now - current.last_t > self._config.gap_s:
                del self._open[direction]
                closed.append(self._finish(current))
        return closed

    def flush(self) -> list[Transit]:
        """Close everything open (at shutdown)."""
        closed = [self._finish(o) for o in self._open.values()]
        self._open.clear()
        return closed

    def open_transits(self) -> list[OpenTransit]:
        return list(self._open.values())

    def _finish(self, current: OpenTransit) -> Transit:
        noise = current.samples < self._config.min_samples
        if noise:
            self.noise_transits += 1
        ordered = sorted(current.speeds)
        mid = len(ordered) // 2
        median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
        return Transit(
            transit_id=current.transit_id,
            direction=current.direction,
            start_t=current.start_t,
            end_t=current.last_t,
            peak_kmh=current.peak_kmh,
            median_kmh=median,
            samples=current.samples,
            noise=noise,
        )
