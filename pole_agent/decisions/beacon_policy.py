"""When the beacons warn an approaching driver. Pure: times come with the calls.

Rule "over-limit-approaching": while the zone is active, an approaching vehicle whose
angle-corrected speed is over the limit on ``confirm_frames`` consecutive frames of its transit
turns the beacons on; they stay on while that transit is open and until ``hold_s`` after its last
frame. A receding vehicle never warns (the driver cannot see the beacons), and one bad line can
never warn because at least two consecutive frames are needed. Consecutive over-limit frames must
also be continuous in speed as one vehicle's are (``speed_track.continuous``: within a few km/h
plus hard braking over the time between): two rain spikes with blank frames between are not a
streak, while a real vehicle's frames on both sides of a dropout or a spike are.

This is the over-limit rule alone; ``warning_policy.WarningPolicy`` inherits it unchanged and adds
the sign, the speed display, the child warning, fail-safe and decision records (docs/warnings.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from pole_agent.config import WarningConfig
from pole_agent.decisions.zone_schedule import ZoneState
from pole_agent.perception.speed_track import continuous
from pole_agent.perception.transit import OpenTransit, Transit

RULE_OVER_LIMIT = "over-limit-approaching"


@dataclass(frozen=True, slots=True)
class WarningStart:
    """Why the beacons were turned on: the decision record of one warning."""

    transit_id: int
    t: float
    rule: str
    speed_kmh: float
    limit_kmh: float
    confirm_frames: int


class BeaconPolicy:
    def __init__(self, config: WarningConfig) -> None:
        self._config = config
        self._streak: dict[int, int] = {}
        self._last_over: dict[int, tuple[float, float]] = {}  # (speed, t) of the streak's last
        self._warned: set[int] = set()
        self._open_warned: set[int] = set()
        self._hold_until = float("-inf")

    def on_frame(
        self, transit: OpenTransit, speed_kmh: float, zone: ZoneState, t: float
    ) -> WarningStart | None:
        """Feed one frame of an open transit; returns a WarningStart when it starts a warning."""
        if transit.direction != "approaching" or not zone.active:
            self._streak.pop(transit.transit_id, None)
            self._last_over.pop(transit.transit_id, None)
            return None
        if transit.transit_id in self._warned:
            return None
        if speed_kmh <= zone.limit_kmh:
            self._streak[transit.transit_id] = 0
            return None
        streak = self._streak.get(transit.transit_id, 0)
        last = self._last_over.get(transit.transit_id)
        if streak and last is not None and not continuous(speed_kmh, last[0], t - last[1]):
            streak = 0  # not the same vehicle's speed: this frame starts a new streak
        streak += 1
        self._streak[transit.transit_id] = streak
        self._last_over[transit.transit_id] = (speed_kmh, t)
        if streak < self._config.confirm_frames:
            return None
        del self._streak[transit.transit_id]
        self._last_over.pop(transit.transit_id, None)
        self._warned.add(transit.transit_id)
        self._open_warned.add(transit.transit_id)
        return WarningStart(
            transit_id=transit.transit_id,
            t=t,
            rule=RULE_OVER_LIMIT,
            speed_kmh=speed_kmh,
            limit_kmh=zone.limit_kmh,
            confirm_frames=self._config.confirm_frames,
        )

    def missed_frame(self, transit_id: int) -> None:
        """The transit missed a sensor frame (another target was reported instead): its
        over-limit frames are no longer consecutive, so its confirmation starts again."""
        if transit_id in self._streak:
            self._streak[transit_id] = 0

    def on_transit_end(self, transit: Transit) -> bool:
        """Record that a transit ended; returns whether it was warned."""
        self._streak.pop(transit.transit_id, None)
        self._last_over.pop(transit.transit_id, None)
        if transit.transit_id not in self._warned:
            return False
        self._warned.discard(transit.transit_id)
        self._open_warned.discard(transit.transit_id)
        self._hold_until = max(self._hold_until, transit.end_t + self._config.hold_s)
        return True

    def beacons_on(self, now: float) -> bool:
        """Whether the beacons should be flashing now."""
        return bool(self._open_warned) or now < self._hold_until
