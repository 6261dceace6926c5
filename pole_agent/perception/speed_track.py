"""Which frames of a transit are its vehicle's: the continuity rule behind a transit's record.

A transit (``transit.OpenTransit``) takes every frame the join rule gives it, so that a warning
never waits (docs/warnings.md). What it then *reports* is its track: the frames that a road
vehicle can have made, judged by speed continuity over consecutive sensor frames.

- Two frames are **continuous** when the second comes in the sensor's next frame (or the one
  after, when the tracker took an echo of the frame between: a single-target radar reports the
  strongest echo only, so another vehicle, rain or spray can take one of a vehicle's frames; a
  zero report between breaks the chain) and its speed is within ``FRAME_JITTER_KMH`` plus what
  a braking vehicle loses in the time between (``MAX_BRAKE_KMH_PER_S``, 1 g) of the first's.
- A **run** is a chain of continuous frames. A run of ``RUN_FRAMES`` frames is **confirmed**;
  every frame that continues a confirmed run is confirmed at once.
- A frame that does not continue a confirmed run, in the frame or two after its last frame, is
  **clutter** (a spike, a rain echo taken into a car's transit): it is skipped, and the run goes
  on from its last frame. Later, or before any run is confirmed, a discontinuous frame starts a
  new run (the frames of an unconfirmed run it ends are clutter).

The record (``Transit``) is made of confirmed frames only: first and last frame, frame count,
median, and peak: the highest speed two consecutive confirmed frames both reach (a held peak,
which one frame's noise does not raise; for a vehicle still speeding up, one frame's change
below its last frame). A transit with fewer than ``min_samples`` confirmed frames is noise.
The rain and spikes of docs/scenarios.md's ``rain-clutter`` never make a run: rain echoes of
one direction seldom come in five frames in a row, a spike never twice.

A stuck sensor repeats one value exactly. When the radar is found stuck (``drop_repeated``), the
frames at the end of the transit that repeat one value are taken back, with whatever they did to
the track.

Pure: frame numbers and times come with the calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Frames a run needs to be confirmed: rain in one direction in five frames in a row, each
#: within a few km/h of the last, is rare; every vehicle crossing a beam at 10 Hz makes dozens.
RUN_FRAMES = 5
#: Speed difference between two frames of one vehicle besides its acceleration: the radar's
#: noise and FFT bins (0.2-0.4 km/h), a vehicle's parts (wheels, body) taking turns, km/h.
FRAME_JITTER_KMH = 4.0
#: What a vehicle can change its speed by per second, braking hard (1 g is about 35 km/h/s):
#: every real vehicle, buses and emergency stops included, stays within it.
MAX_BRAKE_KMH_PER_S = 36.0
#: A run may skip this many sensor frames, if the tracker took an echo of each.
MAX_SKIPPED_FRAMES = 1
#: Identical frames in a row that a stuck sensor's repetition is taken back from (as the
#: driver's watch, pole_agent/drivers/radar_watch.py).
STUCK_MIN_FRAMES = 3
#: Speeds kept for the median; a sensor stuck on one value must not grow memory.
MAX_TRACK_SPEEDS = 2000


def continuous(speed: float, after: float, dt: float) -> bool:
    """Whether a vehicle at ``after`` km/h can read ``speed`` km/h ``dt`` seconds later."""
    return abs(speed - after) <= FRAME_JITTER_KMH + MAX_BRAKE_KMH_PER_S * max(0.0, dt)


@dataclass(frozen=True, slots=True)
class TrackState:
    """Everything a ``SpeedTrack`` needs to go back to (all scalars, and its pending frames)."""

    confirmed: int
    peak_kmh: float
    last_kmh: float
    kept: int
    first_t: float | None
    last_t: float | None
    run: tuple[tuple[int, float, float], ...]
    run_len: int
    run_last: tuple[int, float, float] | None
    streak_kmh: float | None
    streak_len: int
    before_streak: TrackState | None


@dataclass(slots=True)
class SpeedTrack:
    """The confirmed frames of one transit (see the module's docstring)."""

    confirmed: int = 0
    peak_kmh: float = 0.0
    """The highest speed two consecutive confirmed frames both reach (a held peak: one
    frame's noise or a spike on one frame does not raise it)."""
    last_kmh: float = 0.0
    """The latest confirmed frame's speed."""
    speeds: list[float] = field(default_factory=list)
    """Confirmed speeds, for the median (at most ``MAX_TRACK_SPEEDS``)."""
    first_t: float | None = None
    last_t: float | None = None
    """Times of the first and latest confirmed frames."""
    run: list[tuple[int, float, float]] = field(default_factory=list)
    """(frame number, t, speed) of the current run while it is not confirmed."""
    run_len: int = 0
    run_last: tuple[int, float, float] | None = None
    streak_kmh: float | None = None
    """The speed the latest frames repeat exactly, and how many do."""
    streak_len: int = 0
    before_streak: TrackState | None = None
    """The track before the first frame of that repetition (for a stuck sensor's)."""

    def state(self, nested: bool = True) -> TrackState:
        """A copy of the track; ``nested`` False leaves out its ``before_streak`` (so that
        snapshots never chain)."""
        return TrackState(
            self.confirmed,
            self.peak_kmh,
            self.last_kmh,
            len(self.speeds),
            self.first_t,
            self.last_t,
            tuple(self.run),
            self.run_len,
            self.run_last,
            self.streak_kmh,
            self.streak_len,
            self.before_streak if nested else None,
        )

    def restore(self, state: TrackState) -> None:
        self.confirmed, self.peak_kmh, self.last_kmh = (
            state.confirmed,
            state.peak_kmh,
            state.last_kmh,
        )
        del self.speeds[state.kept :]
        self.first_t, self.last_t = state.first_t, state.last_t
        self.run = list(state.run)
        self.run_len, self.run_last = state.run_len, state.run_last
        self.streak_kmh, self.streak_len = state.streak_kmh, state.streak_len
        self.before_streak = state.before_streak

    def add(self, index: int, t: float, speed: float, busy_before: bool) -> bool:
        """Add the transit's frame of sensor frame ``index``; ``busy_before``: the sensor's
        frame before it had an echo. Returns whether the frame is confirmed (now)."""
        if speed == self.streak_kmh:
            self.streak_len += 1
        else:
            self.before_streak = self.state(nested=False)
            self.streak_kmh, self.streak_len = speed, 1
        last = self.run_last
        if last is not None:
            skipped = index - last[0] - 1
            reachable = skipped == 0 or (0 < skipped <= MAX_SKIPPED_FRAMES and busy_before)
            if reachable and continuous(speed, last[2], t - last[1]):
                return self._extend(index, t, speed)
            if self.run_len >= RUN_FRAMES and skipped <= MAX_SKIPPED_FRAMES:
                return False  # clutter in a confirmed run: skipped
        self.run = [(index, t, speed)]
        self.run_len, self.run_last = 1, (index, t, speed)
        return self._confirm_run() if RUN_FRAMES <= 1 else False

    def drop_repeated(self) -> int:
        """If the latest frames repeat one value exactly (``STUCK_MIN_FRAMES`` or more: a stuck
        sensor's), take them back; returns the confirmed frames taken back."""
        before = self.before_streak
        if self.streak_len < STUCK_MIN_FRAMES or before is None:
            return 0
        dropped = self.confirmed - before.confirmed
        self.restore(before)
        self.run, self.run_len, self.run_last = [], 0, None
        self.streak_kmh, self.streak_len, self.before_streak = None, 0, None
        return dropped

    def _extend(self, index: int, t: float, speed: float) -> bool:
        self.run_last = (index, t, speed)
        self.run_len += 1
        if self.run_len < RUN_FRAMES:
            self.run.append((index, t, speed))
            return False
        if self.run_len == RUN_FRAMES:
            self.run.append((index, t, speed))
            return self._confirm_run()
        self._confirm(t, speed)
        return True

    def _confirm_run(self) -> bool:
        for _, t, speed in self.run:
            self._confirm(t, speed)
        self.run = []
        return True

    def _confirm(self, t: float, speed: float) -> None:
        if self.first_t is None:
            self.first_t = t
        self.last_t = t
        if self.confirmed == 0:
            self.peak_kmh = speed
        elif self.confirmed == 1:
            self.peak_kmh = min(self.last_kmh, speed)
        elif self.confirmed > 1:
            self.peak_kmh = max(self.peak_kmh, min(self.last_kmh, speed))
        self.last_kmh = speed
        self.confirmed += 1
        if len(self.speeds) < MAX_TRACK_SPEEDS:
            self.speeds.append(speed)

    def median(self) -> float | None:
        return median_of(self.speeds) if self.speeds else None


def median_of(speeds: list[float]) -> float:
    """The median of a non-empty list (the mean of the middle two for an even count)."""
    ordered = sorted(speeds)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
