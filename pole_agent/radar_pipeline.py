"""From a radar line to the beacon pin and the vehicle event: the warning path.

Runs entirely in the radar reader's thread: parse, track, decide, and light the beacons before
anything else (the telemetry message is made after the pin is set). ``on_tick`` closes transits
whose vehicle is gone, ends the beacons' hold and refreshes the zone's state once a second.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from dataclasses import dataclass

from pole_agent.decisions.beacon_policy import BeaconPolicy, WarningStart
from pole_agent.decisions.zone_schedule import ZoneSchedule, ZoneState
from pole_agent.perception.radar_lines import InfoLine, NoTarget, Rejected, parse_line
from pole_agent.perception.transit import Transit, TransitTracker
from pole_agent.ports import BeaconOutput, Clock
from pole_agent.telemetry.reporter import Reporter

log = logging.getLogger(__name__)

ZONE_REFRESH_S = 1.0


@dataclass(frozen=True, slots=True)
class SeenTransit:
    """A reported transit, for status views."""

    transit: Transit
    limit_kmh: float
    warned: bool


class RadarPipeline:
    def __init__(
        self,
        *,
        clock: Clock,
        schedule: ZoneSchedule,
        tracker: TransitTracker,
        policy: BeaconPolicy,
        beacons: BeaconOutput,
        reporter: Reporter,
        max_speed_kmh: float,
    ) -> None:
        self._clock = clock
        self._schedule = schedule
        self._tracker = tracker
        self._policy = policy
        self._beacons = beacons
        self._reporter = reporter
        self._max_kmh = max_speed_kmh
        self._warnings: dict[int, WarningStart] = {}
        self._zone_checked = float("-inf")
        self.zone: ZoneState = schedule.at(clock.wall())
        self.frames = 0
        self.rejected: Counter[str] = Counter()
        self.info_lines: deque[dict[str, object]] = deque(maxlen=20)
        self.recent: deque[SeenTransit] = deque(maxlen=20)
        self.transits_reported = 0
        self.warnings_given = 0
        self.last_speed_kmh: float | None = None

    def on_line(self, line: bytes, t: float) -> None:
        parsed = parse_line(line, t, self._max_kmh)
        if isinstance(parsed, Rejected):
            self.rejected[parsed.reason] += 1
            if self.rejected.total() <= 10 or self.rejected.total() % 1000 == 0:
                log.warning(
                    "radar line rejected (%s): %r [%d rejected so far]",
                    parsed.reason,
                    parsed.line[:80],
                    self.rejected.total(),
                )
            return
        if isinstance(parsed, NoTarget):
            return
        if isinstance(parsed, InfoLine):
            self.info_lines.append(parsed.fields)
            return
        self.frames += 1
        current, closed = self._tracker.update(parsed)
        if current is not None:
            speed = self._tracker.ground_speed(parsed.speed_kmh)
            self.last_speed_kmh = speed if current.direction == "approaching" else -speed
            warning = self._policy.on_frame(current, speed, self.zone, t)
            if warning is not None:
                self._beacons.activate()
                self._warnings[warning.transit_id] = warning
                self.warnings_given += 1
                log.info(
                    "warning: vehicle %d approaching at %.1f km/h, limit %g",
                    warning.transit_id,
                    speed,
                    warning.limit_kmh,
                )
        for transit in closed:
            self._finish(transit)
        self._settle_beacons(t)

    def on_tick(self, now: float) -> None:
        if now - self._zone_checked >= ZONE_REFRESH_S:
            self._zone_checked = now
            self.zone = self._schedule.at(self._clock.wall())
        for transit in self._tracker.tick(now):
            self._finish(transit)
        self._settle_beacons(now)

    def flush(self) -> None:
        """Report what is still open (at shutdown) and put the beacons out."""
        for transit in self._tracker.flush():
            self._finish(transit)
        self._beacons.deactivate()

    def _settle_beacons(self, now: float) -> None:
        if self._beacons.active and not self._policy.beacons_on(now):
            self._beacons.deactivate()

    def _finish(self, transit: Transit) -> None:
        self._policy.on_transit_end(transit)
        warning = self._warnings.pop(transit.transit_id, None)
        if transit.noise and warning is None:
            return
        self._reporter.vehicle(transit, self.zone, warning)
        self.transits_reported += 1
        self.recent.append(SeenTransit(transit, self.zone.limit_kmh, warning is not None))
        log.info(
            "transit %d %s peak %.1f km/h (limit %g)%s",
            transit.transit_id,
            transit.direction,
            transit.peak_kmh,
            self.zone.limit_kmh,
            ", warned" if warning else "",
        )
