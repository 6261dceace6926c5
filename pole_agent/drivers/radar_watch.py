"""Is the radar still measuring? Stale and stuck detection over parsed lines. Pure.

The driver sets the sensor to report every frame, zeros included (``BZ``), so on a quiet road
a live sensor still sends a line per frame: silence for ``stale_after_s`` means a hung sensor
or a dead link (stale). A sensor that repeats one non-zero report, identical in every field
(speed, magnitude, range, other targets), for ``stuck_after_s`` is stuck: a real vehicle's
reading moves from frame to frame, and a no-target frame in between resets the watch.

Garbage lines and command echoes do not count as reports: a sensor at the wrong baud rate sends
plenty of bytes and no measurement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pole_agent.perception.radar_lines import REPORT_TYPES, NoTarget, ParsedLine, SpeedFrame

WatchState = Literal["ok", "stale", "stuck"]

#: Frames of one value needed (besides the time) before a sensor can be called stuck.
STUCK_MIN_FRAMES = 3


@dataclass(frozen=True, slots=True)
class WatchVerdict:
    state: WatchState
    reason: str


class RadarWatch:
    """Feed it every parsed line and check it on every tick; all times are monotonic."""

    def __init__(self, stale_after_s: float, stuck_after_s: float) -> None:
        self._stale_after_s = stale_after_s
        self._stuck_after_s = stuck_after_s
        self._last_report_t = float("-inf")
        self._stuck_key: tuple[object, ...] | None = None
        self._stuck_since = 0.0
        self._stuck_frames = 0

    def restart(self, now: float) -> None:
        """A (re)opened link: silence is measured from ``now``, and nothing is stuck yet."""
        self._last_report_t = now
        self._stuck_key = None
        self._stuck_frames = 0

    @property
    def last_report_t(self) -> float:
        return self._last_report_t

    def observe(self, parsed: ParsedLine) -> None:
        if not isinstance(parsed, REPORT_TYPES):
            return
        self._last_report_t = max(self._last_report_t, parsed.t)
        if isinstance(parsed, SpeedFrame):
            key = (parsed.speed_kmh, parsed.magnitude, parsed.range_m, parsed.more)
            if key == self._stuck_key:
                self._stuck_frames += 1
            else:
                self._stuck_key = key
                self._stuck_since = parsed.t
                self._stuck_frames = 1
        elif isinstance(parsed, NoTarget):
            self._stuck_key = None
            self._stuck_frames = 0

    def check(self, now: float) -> WatchVerdict:
        silent = now - self._last_report_t
        if silent > self._stale_after_s:
            return WatchVerdict("stale", f"stale: no report for over {self._stale_after_s:g} s")
        if self._stuck_key is not None and self._stuck_frames >= STUCK_MIN_FRAMES:
            held = self._last_report_t - self._stuck_since
            if held >= self._stuck_after_s:
                return WatchVerdict(
                    "stuck",
                    f"stuck: {self._stuck_key[0]:g} km/h repeated for over "
                    f"{self._stuck_after_s:g} s",
                )
        return WatchVerdict("ok", "")
