"""Speed frames grouped into one record per vehicle transit.

A Doppler radar reports the strongest target (or the first few) many times a second while a
vehicle crosses its beam. The city wants one record per vehicle: its peak and median speed
corrected for the radar's geometry, its direction, when it started and ended, and (with an
OPS243-C) how far away it was first seen.

Each target of a frame joins the open transit it continues, judged by:

- direction (the sign of the Doppler shift);
- time: no more than ``gap_s`` since the transit's last frame (dropouts shorter than that are
  bridged);
- speed: within ``speed_jump_kmh`` of the transit's recent speeds, plus what a vehicle can
  accelerate in the time between;
- range, when both have one: within ``range_jump_m`` of where the transit's vehicle should be
  now, extrapolated from its last range at its measured radial speed.

A target that continues no transit starts a new one, so two vehicles close together stay two
transits when their speeds (or ranges) differ; two vehicles at the same speed with no range and
less than ``gap_s`` apart cannot be told apart by any Doppler radar and make one transit.

Joining is generous so that a warning never waits; the record is strict. Each transit keeps a
track (``speed_track.SpeedTrack``): its frames continuous in speed over consecutive sensor
frames, five in a row at least. The finished ``Transit`` (peak, median, start, end, frame count)
is made of the track's frames only; the other frames (rain, spikes, a stuck sensor's
repetition) are counted as clutter. A transit ends ``gap_s`` after its track's last frame (after
its last frame while it has no track), so clutter never keeps a vehicle's transit open for the
next one. Transits with fewer than ``min_samples`` track frames are noise (rain, a bird, a
spike) and are counted; the caller reports them only if something warned on them.

The warning needs only the join: ``join_frame`` joins and returns at once, and
``record_tracks`` (which the pipeline calls once the beacon pin is set) gives the frame to the
tracks. Every other call of the tracker records what is pending first, so its state is always
what ``update_frame`` (both at once) would have made.

Geometry (docs/radar.md): the radar reads the radial speed ``v cos(phi)``, where ``phi`` is the
angle between its line of sight to the vehicle and the lane. Without range ``phi`` is taken as
the mounting angle. With range ``r`` and a lateral offset ``d`` (the distance from the radar to
the lane's centre line), ``cos(phi) = sqrt(r^2 - d^2) / r`` at each frame; near the radar, where
that angle passes ``MAX_GEOMETRY_ANGLE_DEG``, the mounting angle is used instead.

Pure: the clock is whatever times the frames carry and ``tick`` is given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from pole_agent.config import TrackingConfig
from pole_agent.perception.radar_lines import RangeFrame, SpeedFrame
from pole_agent.perception.speed_track import SpeedTrack, TrackState, median_of

Direction = Literal["approaching", "receding"]

#: Speeds kept per transit for its median; a sensor stuck on one value must not grow memory.
MAX_KEPT_SPEEDS = 2000
#: What a road vehicle can change its speed by per second (about 4 m/s^2), km/h per s.
MAX_ACCEL_KMH_PER_S = 15.0
#: Speeds the continuity check compares against (the nearest of them counts).
RECENT_SPEEDS = 3
#: A range report pairs with a speed report this close in time (they come in the same frame).
PAIR_WINDOW_S = 0.2
#: Beyond this line-of-sight angle the range geometry is too steep to correct with.
MAX_GEOMETRY_ANGLE_DEG = 60.0


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
    recent: list[float] = field(default_factory=list)
    """The last few speeds, for the continuity check."""
    first_range_m: float | None = None
    """Range when the transit was first seen with one (OPS243-C)."""
    range_m: float | None = None
    """Latest range and when it was measured, with the radial speed then (km/h, signed)."""
    range_t: float = 0.0
    radial_kmh: float = 0.0
    undo: tuple[float, float, float, bool, TrackState] | None = None
    """(last_t, peak, radial, speed kept, track) before the latest frame, so that a range
    report showing that frame was another vehicle's can take it back (set when the frame's
    track bookkeeping is recorded)."""
    track: SpeedTrack = field(default_factory=SpeedTrack)
    """The frames that are the vehicle's (speed continuity): what the record is made of."""
    sensor_stuck: bool = False
    """Frames of it that repeated one value were taken back (the sensor was found stuck)."""

    def close_after(self) -> float:
        """The time the transit's gap counts from: its latest confirmed frame, or before any
        is confirmed, its latest frame (clutter alone never keeps a vehicle's transit open)."""
        return self.last_t if self.track.last_t is None else self.track.last_t

    def recent_speed(self) -> float:
        """The latest speed (km/h, ground)."""
        return self.recent[-1] if self.recent else self.peak_kmh

    def speed_jump(self, speed: float) -> float:
        """How far ``speed`` is from the nearest of the recent speeds (so one odd frame in
        the history neither leads nor breaks the transit)."""
        return min((abs(speed - s) for s in self.recent), default=abs(speed - self.peak_kmh))

    def predicted_range(self, t: float) -> float | None:
        """Where the vehicle should be at ``t`` (m from the radar), from its last range."""
        if self.range_m is None:
            return None
        return self.range_m - self.radial_kmh / 3.6 * (t - self.range_t)


@dataclass(frozen=True, slots=True)
class Transit:
    """A finished vehicle transit (speeds are geometry-corrected ground speeds, km/h)."""

    transit_id: int
    direction: Direction
    start_t: float
    end_t: float
    peak_kmh: float
    median_kmh: float
    samples: int
    noise: bool = False
    """Fewer confirmed frames than ``min_samples``: not a vehicle, unless something warned on
    it."""
    first_range_m: float | None = None
    """Range at first detection (m), when the radar measures range."""
    clutter_frames: int = 0
    """Frames the transit took that its track did not confirm (spikes, rain, a stuck run)."""
    sensor_stuck: bool = False
    """Frames of it were taken back when the sensor was found stuck (``drop_stuck_runs``)."""


@dataclass(frozen=True, slots=True)
class FrameUpdate:
    """What one frame did: the transits its targets joined (with their ground speeds) and the
    transits that closed before it."""

    joined: list[tuple[OpenTransit, float]]
    closed: list[Transit]


@dataclass(frozen=True, slots=True)
class _PendingTrack:
    """A frame joined to a transit whose track has not taken it yet (``record_tracks``)."""

    transit: OpenTransit
    frame_index: int
    t: float
    speed: float
    busy_before: bool
    undo: tuple[float, float, float, bool] | None
    """(last_t, peak, radial, speed kept) before the frame; None for a transit's first."""


class TransitTracker:
    """Turns speed (and range) frames into transits; one instance per radar."""

    def __init__(
        self,
        config: TrackingConfig,
        mounting_angle_deg: float,
        lateral_offset_m: float | None = None,
    ) -> None:
        self._config = config
        self._correction = 1.0 / math.cos(math.radians(mounting_angle_deg))
        self._offset = lateral_offset_m
        self._min_cos = math.cos(math.radians(MAX_GEOMETRY_ANGLE_DEG))
        self._open: list[OpenTransit] = []
        self._next_id = 1
        self._last_joined: list[OpenTransit] = []
        self._last_frame_t = float("-inf")
        self._pending_ranges: RangeFrame | None = None
        self.noise_transits = 0
        """Transits closed with fewer than ``min_samples`` confirmed frames."""
        self.clutter_frames = 0
        """Frames taken into transits that no track confirmed (over closed transits)."""
        self.stuck_frames_dropped = 0
        """Confirmed frames taken back because the sensor was found stuck."""
        self._frame_index = 0
        self._busy_before = False
        """Whether the tracker took an echo of the sensor frame before the current one."""
        self._busy_now = False
        self._pending: list[_PendingTrack] = []

    def ground_speed(self, radial_kmh: float, range_m: float | None = None) -> float:
        """Geometry-corrected ground speed (unsigned) for a measured radial speed."""
        if range_m is not None and self._offset is not None and range_m > self._offset:
            cos_phi = math.sqrt(range_m * range_m - self._offset * self._offset) / range_m
            if cos_phi >= self._min_cos:
                return abs(radial_kmh) / cos_phi
        return abs(radial_kmh) * self._correction

    def along_road_m(self, range_m: float) -> float:
        """Distance along the lane to the radar's cross-section for a measured range."""
        if self._offset is None or range_m <= self._offset:
            return range_m if self._offset is None else 0.0
        return math.sqrt(range_m * range_m - self._offset * self._offset)

    def update(self, frame: SpeedFrame) -> tuple[OpenTransit | None, list[Transit]]:
        """Add a frame. Returns the transit its strongest target joined (None if ignored) and
        any that closed (those whose gap expired before this frame)."""
        result = self.update_frame(frame)
        return (result.joined[0][0] if result.joined else None), result.closed

    def update_frame(self, frame: SpeedFrame) -> FrameUpdate:
        """Add every target of a frame; each joins at most one transit, each transit takes at
        most one target of the frame."""
        update = self.join_frame(frame)
        self.record_tracks()
        return update

    def join_frame(self, frame: SpeedFrame) -> FrameUpdate:
        """``update_frame`` less the tracks' bookkeeping, for the warning path: call
        ``record_tracks`` once the warning is out (any other call of the tracker does it
        first)."""
        closed = self.tick(frame.t)
        self._frame_index += 1
        self._busy_before = self._busy_now
        pending = self._pending_ranges
        self._pending_ranges = None
        spare = list(pending.ranges_m) if pending and frame.t - pending.t <= PAIR_WINDOW_S else []
        joined: list[tuple[OpenTransit, float]] = []
        taken: set[int] = set()
        for echo in frame.echoes():
            range_m = echo.range_m
            if range_m is None and spare:
                range_m = spare.pop(0)
            speed = self.ground_speed(echo.speed_kmh, range_m)
            if speed < self._config.min_speed_kmh:
                continue
            current = self._join(echo.speed_kmh, speed, range_m, frame.t, taken)
            taken.add(current.transit_id)
            joined.append((current, speed))
        self._last_joined = [transit for transit, _ in joined]
        self._last_frame_t = frame.t
        self._busy_now = bool(joined)  # (a range report may still move a frame: same frame)
        return FrameUpdate(joined, closed)

    def record_tracks(self) -> None:
        """Give the frames joined since the last call to their transits' tracks (speed
        continuity, ``speed_track.SpeedTrack``), each with its undo snapshot."""
        pending, self._pending = self._pending, []
        for item in pending:
            track = item.transit.track
            if item.undo is not None:
                item.transit.undo = (*item.undo, track.state())
            track.add(item.frame_index, item.t, item.speed, item.busy_before)

    def empty_frame(self) -> None:
        """The sensor reported nothing in a frame (a zero report): no track continues across
        it."""
        self.record_tracks()
        self._frame_index += 1
        self._busy_before, self._busy_now = self._busy_now, False

    def drop_stuck_runs(self) -> int:
        """The sensor has been found stuck: take back the frames at the end of each open
        transit that repeat one value; returns the confirmed frames taken back."""
        self.record_tracks()
        dropped = 0
        for current in self._open:
            taken = current.track.drop_repeated()
            if taken:
                current.sensor_stuck = True
                dropped += taken
        self.stuck_frames_dropped += dropped
        return dropped

    def update_ranges(self, frame: RangeFrame) -> None:
        """Add a range report: it belongs to the speed frame just before it (same sensor frame),
        target by target; with no speed frame yet, it waits for the next one."""
        self.record_tracks()
        if frame.t - self._last_frame_t > PAIR_WINDOW_S or not self._last_joined:
            self._pending_ranges = frame
            return
        spare = list(frame.ranges_m)
        for transit in self._last_joined:
            if not spare:
                break
            predicted = transit.predicted_range(frame.t)
            if predicted is None:
                self._set_range(transit, spare.pop(0), frame.t)
                continue
            best = min(spare, key=lambda r: abs(r - predicted))
            spare.remove(best)
            if abs(best - predicted) <= self._config.range_jump_m:
                self._set_range(transit, best, frame.t)
            else:
                self._rehome(transit, best, frame.t)
        self._last_joined = []
        self.record_tracks()  # a frame moved to another transit

    def tick(self, now: float) -> list[Transit]:
        """Close every open transit whose last frame is older than the gap."""
        self.record_tracks()
        closed: list[Transit] = []
        still: list[OpenTransit] = []
        for current in self._open:
            if now - current.close_after() > self._config.gap_s:
                closed.append(self._finish(current))
            else:
                still.append(current)
        if closed:
            self._open = still
            self._last_joined = [t for t in self._last_joined if t in still]
        return closed

    def flush(self) -> list[Transit]:
        """Close everything open (at shutdown)."""
        self.record_tracks()
        closed = [self._finish(o) for o in self._open]
        self._open.clear()
        self._last_joined = []
        return closed

    def open_transits(self) -> list[OpenTransit]:
        self.record_tracks()
        return list(self._open)

    def nearest_approaching(self) -> OpenTransit | None:
        """The approaching vehicle closest to the radar (by range; else the latest seen)."""
        approaching = [o for o in self._open if o.direction == "approaching"]
        if not approaching:
            return None
        ranged = [o for o in approaching if o.range_m is not None]
        if ranged:
            return min(ranged, key=lambda o: o.range_m or 0.0)
        return max(approaching, key=lambda o: o.last_t)

    # -- internals ---------------------------------------------------------------------------

    def _join(
        self, radial: float, speed: float, range_m: float | None, t: float, taken: set[int]
    ) -> OpenTransit:
        direction: Direction = "approaching" if radial > 0 else "receding"
        best: OpenTransit | None = None
        best_cost = math.inf
        for candidate in self._open:
            if candidate.direction != direction or candidate.transit_id in taken:
                continue
            dt = t - candidate.last_t
            allowed = self._config.speed_jump_kmh + MAX_ACCEL_KMH_PER_S * max(0.0, dt)
            jump = candidate.speed_jump(speed)
            if jump > allowed:
                continue
            cost = jump / allowed + 0.5 * max(0.0, dt) / self._config.gap_s
            predicted = candidate.predicted_range(t)
            if range_m is not None and predicted is not None:
                miss = abs(range_m - predicted)
                if miss > self._config.range_jump_m:
                    continue
                cost += miss / self._config.range_jump_m
            if cost < best_cost:
                best, best_cost = candidate, cost
        if best is None:
            best = OpenTransit(
                self._next_id, direction, t, t, speed, speeds=[speed], recent=[speed]
            )
            self._next_id += 1
            self._open.append(best)
            undo = None
        else:
            kept = len(best.speeds) < MAX_KEPT_SPEEDS
            undo = (best.last_t, best.peak_kmh, best.radial_kmh, kept)
            best.last_t = t
            best.samples += 1
            if kept:
                best.speeds.append(speed)
            best.recent.append(speed)
            if len(best.recent) > RECENT_SPEEDS:
                del best.recent[0]
            best.peak_kmh = max(best.peak_kmh, speed)
        self._pending.append(
            _PendingTrack(best, self._frame_index, t, speed, self._busy_before, undo)
        )
        best.radial_kmh = radial
        if range_m is not None:
            self._set_range(best, range_m, t)
        return best

    def _rehome(self, transit: OpenTransit, range_m: float, t: float) -> None:
        """The frame ``transit`` just took was, by its range, another vehicle's: take it back
        and give it (with its range) to the transit it fits, or a new one."""
        if transit.undo is None or transit.last_t != t:
            return  # a transit's first frame, or an old one: nothing to take back
        last_t, peak, radial, kept, track = transit.undo
        speed = transit.recent[-1]
        moved_radial = transit.radial_kmh
        transit.undo = None
        transit.last_t, transit.peak_kmh, transit.radial_kmh = last_t, peak, radial
        transit.samples -= 1
        transit.track.restore(track)
        transit.recent.pop()
        if kept:
            transit.speeds.pop()
        self._join(moved_radial, speed, range_m, t, {transit.transit_id})

    def _set_range(self, transit: OpenTransit, range_m: float, t: float) -> None:
        if transit.first_range_m is None:
            transit.first_range_m = range_m
        transit.range_m = range_m
        transit.range_t = t

    def _finish(self, current: OpenTransit) -> Transit:
        """The record of the transit's confirmed frames; a transit with none (noise, reported
        only if something warned on it) keeps what it took, for the warning's record."""
        track = current.track
        noise = track.confirmed < self._config.min_samples
        if noise:
            self.noise_transits += 1
        self.clutter_frames += current.samples - track.confirmed
        median = track.median()
        if median is None or track.first_t is None or track.last_t is None:
            record = (current.start_t, current.last_t, current.peak_kmh, current.samples)
            median = median_of(current.speeds)
        else:
            record = (track.first_t, track.last_t, track.peak_kmh, track.confirmed)
        start_t, end_t, peak, samples = record
        return Transit(
            transit_id=current.transit_id,
            direction=current.direction,
            start_t=start_t,
            end_t=end_t,
            peak_kmh=peak,
            median_kmh=median,
            samples=samples,
            noise=noise,
            first_range_m=current.first_range_m,
            clutter_frames=current.samples - track.confirmed,
            sensor_stuck=current.sensor_stuck,
        )
