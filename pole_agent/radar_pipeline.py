"""From a radar line to the beacon pin and the vehicle event: the warning path.

Runs entirely in the radar reader's thread: parse, join the frame to its transit, decide, and
light the beacons before anything else (the tracks' bookkeeping, the sign, the voice and the
telemetry message come after the pin is set). ``on_tick`` closes transits whose vehicle is gone,
ends the beacons' hold and refreshes the zone's state once a second.

The radar's health (``on_sensor_health``, wired from the HealthBoard in app.py) is part of every
decision: while the road radar is failed (unplugged, stale or stuck) the pipeline has no current
speed (``last_speed_kmh`` is None: a sign shows nothing rather than a wrong number), frames that
still arrive (a stuck sensor's) are counted but never tracked or warned on, and
``time_to_arrival_s`` is None. ``sensor_state`` is what the fail-safe state machine (issue 6)
reads. When it is found stuck, the frames it repeated until then are taken back from the tracker:
no vehicle event is made of them (a warning given on them still ends).
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from dataclasses import dataclass

from pole_agent.decisions.beacon_policy import BeaconPolicy, WarningStart
from pole_agent.decisions.zone_schedule import ZoneSchedule, ZoneState
from pole_agent.health import ComponentHealth, HealthState
from pole_agent.perception.radar_lines import (
    CounterReport,
    DetectedObject,
    InfoLine,
    NoTarget,
    ObjectReport,
    ParsedLine,
    RangeFrame,
    Rejected,
    SpectrumLine,
    parse_line,
)
from pole_agent.perception.transit import Transit, TransitTracker
from pole_agent.ports import BeaconOutput, Clock, WarningHook
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
        has_range: bool = False,
        warning_outputs: WarningHook | None = None,
    ) -> None:
        self._clock = clock
        self._warning_outputs = warning_outputs
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
        # Advanced by every tick of the reader thread: the systemd watchdog reads it to tell a
        # live warning path from a stuck one (pole_agent/watchdog.py).
        self.ticks = 0
        self.last_tick: float | None = None
        self._joined_last: set[int] = set()
        self.has_range = has_range
        """The radar measures range (OPS243-C): arrival times can be known."""
        self.sensor_state: HealthState = "ok"
        self.sensor_reason = ""
        self.frames_untrusted = 0
        """Speed frames that arrived while the radar was failed (e.g. stuck): never used."""
        self.range_frames = 0
        self.spectra = 0
        self.sensor_reports: Counter[str] = Counter()
        """The sensor's own summaries by kind: object, detected_object, counter."""
        self.last_sensor_report: ObjectReport | DetectedObject | CounterReport | None = None

    @property
    def clutter_frames(self) -> int:
        """Frames of closed transits that no vehicle's track confirmed (rain, spikes, a stuck
        sensor's repetition): counted, never reported (pole_agent/perception/speed_track.py)."""
        return self._tracker.clutter_frames

    @property
    def speed_trusted(self) -> bool:
        """Whether the road radar's speeds may be used (it is not failed)."""
        return self.sensor_state != "failed"

    def on_sensor_health(self, health: ComponentHealth) -> None:
        """The road radar's health changed (called in the thread that reported it)."""
        found_stuck = health.state == "failed" and self.sensor_state != "failed"
        self.sensor_state = health.state
        self.sensor_reason = health.reason
        if health.state == "failed":
            self.last_speed_kmh = None
        if found_stuck and health.reason.startswith("stuck"):
            # Its repeated frames since it stuck are no vehicle's: take them back (the
            # transit they made, or joined, is then reported without them).
            self._tracker.drop_stuck_runs()

    def time_to_arrival_s(self, now: float) -> float | None:
        """Seconds until the nearest approaching vehicle reaches the radar's cross-section, from
        its last range and speed; None when unknown: no range (OPS243-A), no approaching
        vehicle, or the radar is not trusted. Never a guess."""
        if not self.has_range or not self.speed_trusted:
            return None
        nearest = self._tracker.nearest_approaching()
        if nearest is None or nearest.range_m is None:
            return None
        speed_mps = nearest.recent_speed() / 3.6
        if speed_mps <= 0:
            return None
        along = self._tracker.along_road_m(nearest.range_m) - speed_mps * (now - nearest.range_t)
        return max(0.0, along) / speed_mps

    def on_line(self, line: bytes, t: float) -> None:
        self.on_parsed(parse_line(line, t, self._max_kmh))

    def on_parsed(self, parsed: ParsedLine) -> None:
        """One parsed radar line (the driver parses each line once)."""
        t = parsed.t
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
            if self.speed_trusted:
                self._tracker.empty_frame()  # no track continues across an empty frame
            return
        if isinstance(parsed, InfoLine):
            self.info_lines.append(parsed.fields)
            return
        if isinstance(parsed, RangeFrame):
            self.range_frames += 1
            if self.speed_trusted:
                self._tracker.update_ranges(parsed)
            return
        if isinstance(parsed, SpectrumLine):
            self.spectra += 1
            return
        if isinstance(parsed, ObjectReport | DetectedObject | CounterReport):
            kind = {ObjectReport: "object", DetectedObject: "detected_object"}.get(
                type(parsed), "counter"
            )
            self.sensor_reports[kind] += 1
            self.last_sensor_report = parsed
            return
        self.frames += 1
        if not self.speed_trusted:
            self.frames_untrusted += 1
            return
        # The join only: the tracks' bookkeeping (speed continuity, for the record) waits until
        # the beacon pin is set.
        update = self._tracker.join_frame(parsed)
        closed = update.closed
        joined_now: set[int] = set()
        for index, (current, speed) in enumerate(update.joined):
            joined_now.add(current.transit_id)
            if index == 0:
                self.last_speed_kmh = speed if current.direction == "approaching" else -speed
            if current.samples > 1 and current.transit_id not in self._joined_last:
                # The transit missed the sensor's previous frame (another target was reported
                # instead): its over-limit frames are not consecutive.
                self._policy.missed_frame(current.transit_id)
            warning = self._policy.on_frame(current, speed, self.zone, t)
            if warning is not None:
                self._beacons.activate()
                if self._warning_outputs is not None:
                    self._warning_outputs.refresh(t)  # the sign and the voice, before telemetry
                self._warnings[warning.transit_id] = warning
                self.warnings_given += 1
                self._reporter.warning_start(warning, self.zone)  # after the pin: queues only
                log.info(
                    "warning: vehicle %d approaching at %.1f km/h, limit %g",
                    warning.transit_id,
                    speed,
                    warning.limit_kmh,
                )
        self._tracker.record_tracks()
        self._joined_last = joined_now
        for transit in closed:
            self._finish(transit)
        self._settle_beacons(t)

    def on_tick(self, now: float) -> None:
        self.ticks += 1
        self.last_tick = now
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
        if self._warning_outputs is not None:
            # Sign, speed digits, speaker, fail-safe and heartbeat too (issue 6).
            self._warning_outputs.refresh(now)
            return
        if self._beacons.active and not self._policy.beacons_on(now):
            self._beacons.deactivate()

    def _finish(self, transit: Transit) -> None:
        self._policy.on_transit_end(transit)
        warning = self._warnings.pop(transit.transit_id, None)
        if warning is not None:
            self._reporter.warning_end(warning, transit, self.zone)
        if transit.noise and (warning is None or transit.sensor_stuck):
            # Not a vehicle. One that warned is still reported, unless its frames were a
            # stuck sensor's: its warning is closed above, and the fault event says why.
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
