"""A small tracker: the same person or vehicle from frame to frame, on the road plane.

Each frame's observations (a road position in metres, a height for people) are matched to the
open tracks of the same category, nearest first, within a gate that grows with the time since the
track was last seen (``gate_m`` plus ``max_speed_mps`` times that time, around where the track's
velocity puts it now). Unmatched observations open new tracks; a track not seen for ``max_gap_s``
is closed. A track's velocity is the least-squares slope of its positions over the last
``velocity_window_s``, so one jittery foot point does not make a speed. Pure: times come with the
observations.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from pole_agent.perception.camera.detection import Category


@dataclass(frozen=True, slots=True)
class Observation:
    """One detection placed on the road at frame time ``t``."""

    t: float
    category: Category
    x: float
    y: float
    height_m: float | None = None
    score: float = 1.0


@dataclass(frozen=True, slots=True)
class Gate:
    """How far from its predicted place a track may be found again."""

    gate_m: float
    max_speed_mps: float


DEFAULT_GATES: dict[Category, Gate] = {
    "person": Gate(gate_m=1.0, max_speed_mps=4.0),
    "vehicle": Gate(gate_m=3.0, max_speed_mps=30.0),
    "other": Gate(gate_m=1.0, max_speed_mps=10.0),
}


@dataclass
class Track:
    track_id: int
    category: Category
    positions: deque[tuple[float, float, float]] = field(default_factory=lambda: deque(maxlen=64))
    """(t, x, y), oldest first."""
    heights: deque[float] = field(default_factory=lambda: deque(maxlen=32))
    hits: int = 0

    @property
    def last_t(self) -> float:
        return self.positions[-1][0]

    @property
    def position(self) -> tuple[float, float]:
        _, x, y = self.positions[-1]
        return x, y

    def height_m(self) -> float | None:
        """The median of the heights measured so far (None if none could be)."""
        return statistics.median(self.heights) if self.heights else None

    def velocity(self, window_s: float, min_span_s: float = 0.2) -> tuple[float, float] | None:
        """(vx, vy) in m/s over the last ``window_s``; None with too little history."""
        end = self.last_t
        recent = [p for p in self.positions if p[0] >= end - window_s]
        if len(recent) < 2 or recent[-1][0] - recent[0][0] < min_span_s:
            return None
        ts = [p[0] for p in recent]
        mean_t = sum(ts) / len(ts)
        var = sum((t - mean_t) ** 2 for t in ts)
        if var == 0:
            return None
        vx = sum((t - mean_t) * p[1] for t, p in zip(ts, recent, strict=True)) / var
        vy = sum((t - mean_t) * p[2] for t, p in zip(ts, recent, strict=True)) / var
        return vx, vy

    def predicted(self, t: float, window_s: float) -> tuple[float, float]:
        x, y = self.position
        v = self.velocity(window_s)
        if v is None:
            return x, y
        dt = t - self.last_t
        return x + v[0] * dt, y + v[1] * dt


class Tracker:
    def __init__(
        self,
        *,
        max_gap_s: float = 1.0,
        velocity_window_s: float = 1.0,
        gates: dict[Category, Gate] | None = None,
    ) -> None:
        if max_gap_s <= 0 or velocity_window_s <= 0:
            raise ValueError("max_gap_s and velocity_window_s must be positive")
        self.max_gap_s = max_gap_s
        self.velocity_window_s = velocity_window_s
        self.gates = dict(gates or DEFAULT_GATES)
        self._tracks: dict[int, Track] = {}
        self._next_id = 1

    @property
    def tracks(self) -> list[Track]:
        return list(self._tracks.values())

    def update(self, t: float, observations: Sequence[Observation]) -> list[Track]:
        """Match one frame's observations; returns the tracks they updated or opened."""
        for ident in [i for i, tr in self._tracks.items() if t - tr.last_t > self.max_gap_s]:
            del self._tracks[ident]
        pairs: list[tuple[float, int, int]] = []
        for oi, obs in enumerate(observations):
            gate = self.gates.get(obs.category, DEFAULT_GATES["other"])
            for track in self._tracks.values():
                if track.category != obs.category or track.last_t >= t:
                    continue
                px, py = track.predicted(t, self.velocity_window_s)
                distance = math.hypot(obs.x - px, obs.y - py)
                if distance <= gate.gate_m + gate.max_speed_mps * (t - track.last_t):
                    pairs.append((distance, oi, track.track_id))
        pairs.sort()
        used_obs: set[int] = set()
        used_tracks: set[int] = set()
        updated: list[Track] = []
        for _, oi, ident in pairs:
            if oi in used_obs or ident in used_tracks:
                continue
            used_obs.add(oi)
            used_tracks.add(ident)
            updated.append(self._add(self._tracks[ident], observations[oi]))
        for oi, obs in enumerate(observations):
            if oi not in used_obs:
                track = Track(self._next_id, obs.category)
                self._next_id += 1
                self._tracks[track.track_id] = track
                updated.append(self._add(track, obs))
        return updated

    @staticmethod
    def _add(track: Track, obs: Observation) -> Track:
        track.positions.append((obs.t, obs.x, obs.y))
        if obs.height_m is not None:
            track.heights.append(obs.height_m)
        track.hits += 1
        return track
