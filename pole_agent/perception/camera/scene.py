"""From one frame's detections to what the warning rules need: children at the kerb, vehicles
coming.

For every detection of a person or a vehicle, the box's bottom centre is put on the road by the
calibration (a box cut by the frame's bottom edge has no visible foot and is counted, not placed)
and, for people, the box's height is measured in metres (not when its top is cut by the frame).
The tracker follows them; a track is reported once it has been seen in ``min_hits`` frames, so
one false detection never makes a warning:

- a person on the footway within ``kerb_band_m`` of either kerb is "at the kerb"; anywhere on the
  carriageway (on the crosswalk or not) they are reported as "crosswalk"; only within
  ``watch_length_m`` of the crossing along the road. A child is a track whose median height is at
  most ``child_max_height_m``, an adult one of at least ``adult_min_height_m``; between the two,
  or with no height, "unknown" (the warning rules decide what unknown means);
- a vehicle whose velocity (measured over at least ``speed_span_s``) points at the crossing line
  (``x = crossing_x_m``) and is at least ``min_vehicle_speed_kmh`` is approaching; its arrival
  is its distance along the road to that line divided by its speed along the road.

Pure: the frame's time comes with the call.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from pole_agent.perception.camera.calibration import GroundCalibration
from pole_agent.perception.camera.detection import Detection
from pole_agent.perception.camera.tracker import Observation, Track, Tracker
from pole_agent.ports import PedestrianKind, PedestrianSeen, VehicleApproaching

Place = Literal["kerb", "crosswalk"]


@dataclass(frozen=True, slots=True)
class RoadZones:
    """Where the kerbs and the crossing are, in road metres (docs/camera.md)."""

    kerb_y_m: float = -0.5
    far_kerb_y_m: float = -7.5
    kerb_band_m: float = 1.0
    crossing_x_m: float = 6.0
    watch_length_m: float = 15.0

    def __post_init__(self) -> None:
        if self.kerb_y_m == self.far_kerb_y_m:
            raise ValueError("kerb_y_m and far_kerb_y_m must differ (the carriageway between)")
        if self.kerb_band_m <= 0 or self.watch_length_m <= 0:
            raise ValueError("kerb_band_m and watch_length_m must be positive")

    def place(self, x: float, y: float) -> Place | None:
        """Where a person at (x, y) is, for the warning rules; None when it does not matter."""
        if abs(x - self.crossing_x_m) > self.watch_length_m:
            return None
        low, high = sorted((self.kerb_y_m, self.far_kerb_y_m))
        if low <= y <= high:
            return "crosswalk"
        if low - self.kerb_band_m <= y < low or high < y <= high + self.kerb_band_m:
            return "kerb"
        return None


@dataclass(frozen=True, slots=True)
class SceneSettings:
    child_max_height_m: float = 1.45
    adult_min_height_m: float = 1.55
    min_hits: int = 2
    min_vehicle_speed_kmh: float = 3.0
    edge_margin: float = 0.005
    """A box within this (normalised) distance of the frame's edge is cut by it."""
    speed_span_s: float = 0.5
    """A vehicle's speed is measured over at least this long before it is reported: over two or
    three frames a foot point's jitter of a few pixels is metres per second."""

    def kind(self, height_m: float | None) -> PedestrianKind:
        if height_m is None:
            return "unknown"
        if height_m <= self.child_max_height_m:
            return "child"
        if height_m >= self.adult_min_height_m:
            return "adult"
        return "unknown"


@dataclass
class SceneReport:
    pedestrians: list[PedestrianSeen] = field(default_factory=list)
    vehicles: list[VehicleApproaching] = field(default_factory=list)


class CameraScene:
    def __init__(
        self,
        calibration: GroundCalibration,
        zones: RoadZones,
        settings: SceneSettings | None = None,
        tracker: Tracker | None = None,
        *,
        source: str = "camera",
    ) -> None:
        self.calibration = calibration
        self.zones = zones
        self.settings = settings or SceneSettings()
        self.tracker = tracker or Tracker()
        self.source = source
        self.counts: Counter[str] = Counter()
        """placed, foot_cut (box cut by the frame's bottom), off_road (foot above the horizon),
        other (neither a person nor a vehicle), pedestrian_reports, vehicle_reports."""

    def observe(self, t: float, detection: Detection) -> Observation | None:
        """A detection on the road, or None (counted) when it cannot be placed."""
        category = detection.category
        if category == "other":
            self.counts["other"] += 1
            return None
        margin = self.settings.edge_margin
        if detection.box[3] >= 1.0 - margin:
            self.counts["foot_cut"] += 1
            return None
        ground = self.calibration.image_to_road(detection.foot)
        if ground is None:
            self.counts["off_road"] += 1
            return None
        height = None
        if category == "person" and detection.box[1] > margin:
            height = self.calibration.height_m(detection.foot, detection.head)
            if height is not None and not 0.3 <= height <= 2.6:
                height = None  # not a standing person (a box around a group, a poster)
        self.counts["placed"] += 1
        return Observation(t, category, ground[0], ground[1], height, detection.score)

    def on_frame(self, t: float, detections: list[Detection]) -> SceneReport:
        observations = [o for o in (self.observe(t, d) for d in detections) if o is not None]
        report = SceneReport()
        for track in self.tracker.update(t, observations):
            if track.hits < self.settings.min_hits:
                continue
            if track.category == "person":
                seen = self._pedestrian(t, track)
                if seen is not None:
                    report.pedestrians.append(seen)
            elif track.category == "vehicle":
                coming = self._vehicle(t, track)
                if coming is not None:
                    report.vehicles.append(coming)
        self.counts["pedestrian_reports"] += len(report.pedestrians)
        self.counts["vehicle_reports"] += len(report.vehicles)
        return report

    def _pedestrian(self, t: float, track: Track) -> PedestrianSeen | None:
        x, y = track.position
        where = self.zones.place(x, y)
        if where is None:
            return None
        return PedestrianSeen(
            t=t,
            kind=self.settings.kind(track.height_m()),
            where=where,
            range_m=round(math.hypot(x, y), 2),
            source=self.source,
            track_id=track.track_id,
        )

    def _vehicle(self, t: float, track: Track) -> VehicleApproaching | None:
        velocity = track.velocity(self.tracker.velocity_window_s, self.settings.speed_span_s)
        if velocity is None:
            return None
        vx, vy = velocity
        x, _ = track.position
        to_line = self.zones.crossing_x_m - x
        speed_kmh = math.hypot(vx, vy) * 3.6
        if to_line * vx <= 0 or speed_kmh < self.settings.min_vehicle_speed_kmh:
            return None  # moving away from the crossing (or past it), or standing
        return VehicleApproaching(
            t=t,
            speed_kmh=round(speed_kmh, 1),
            arrival_s=round(abs(to_line) / abs(vx), 2),
            range_m=round(abs(to_line), 2),
            source=self.source,
            track_id=track.track_id,
        )
