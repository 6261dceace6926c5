"""The school-zone road as the radar sees it: vehicles that cross the beam, and their echoes.

The world is the simulator's ground truth. Device emulators (the OPS243 on a pty) ask it what
is in the beam at a simulated instant and turn the answer into wire traffic; tests and scenario
checks compare what the agent concluded with ``ground_truth()``.

Geometry is deliberately one-dimensional: a vehicle covers ``beam_length_m`` of road at a
constant speed, starting ``near_range_m`` from the radar (approaching vehicles end there,
receding ones start there). The radar, aimed at ``angle_deg`` to the lane, reads the radial
component ``speed * cos(angle)`` (the cosine error that the installer's mounting angle corrects).
Return strength falls with the square of the range, so of two vehicles in the beam the nearer
(or the bigger) one wins, which is all a single-target Doppler radar reports.

With ``lane_offset_m`` given, vehicles drive in lanes instead (``simulator.pedestrians``'s
``RoadLayout``): the radar on the pole at the origin, ``lane_offset_m`` from the nearest lane's
centre, sees each vehicle's radial speed and range change as it passes. Pedestrians and riders
(``simulator.pedestrians``) always move in that plan. For the spectrum, ``scatterer_models_at``
gives every mover present as radar scatterers (``simulator.gait``, ``simulator.wheeled``).
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from simulator.gait import Walker
from simulator.pedestrians import Pedestrian, Rider, RoadLayout
from simulator.radar_physics import RadarMount, ScattererModel, SensorSettings, antenna_gain
from simulator.wheeled import CAR_RCS_M2, Bicycle, Car, Scooter, StraightPath

Direction = Literal["approaching", "receding"]
TargetKind = Literal["vehicle", "pedestrian", "bicycle", "scooter"]

MAGNITUDE_AT_10M = 100.0
"""Return strength of a reference car (``rcs_scale`` 1) at 10 m; falls with 1/range^2."""


@dataclass(frozen=True)
class Vehicle:
    """One vehicle's pass through the radar beam, at constant speed.

    ``rcs_scale`` is the relative radar cross-section (1 for a car, more for a bus, less for a
    scooter): it lets a scenario put a big vehicle behind a small one.
    """

    vehicle_id: int
    enter_s: float
    speed_kmh: float
    direction: Direction
    beam_length_m: float = 50.0
    rcs_scale: float = 1.0

    def __post_init__(self) -> None:
        if not self.speed_kmh > 0:
            raise ValueError(f"speed_kmh must be positive, got {self.speed_kmh}")
        if not self.beam_length_m > 0:
            raise ValueError(f"beam_length_m must be positive, got {self.beam_length_m}")
        if not self.rcs_scale > 0:
            raise ValueError(f"rcs_scale must be positive, got {self.rcs_scale}")
        if self.direction not in ("approaching", "receding"):
            raise ValueError(f"direction must be approaching or receding, got {self.direction!r}")

    @property
    def dwell_s(self) -> float:
        """Seconds the vehicle spends in the beam."""
        return self.beam_length_m / (self.speed_kmh / 3.6)

    @property
    def exit_s(self) -> float:
        """Simulated time the vehicle leaves the beam."""
        return self.enter_s + self.dwell_s

    def radial_kmh(self, angle_deg: float) -> float:
        """What an ideal radar at ``angle_deg`` to the lane reads: positive when approaching."""
        sign = 1.0 if self.direction == "approaching" else -1.0
        return sign * self.speed_kmh * math.cos(math.radians(angle_deg))

    @property
    def mover_id(self) -> int:
        return self.vehicle_id

    def in_beam(self, t: float) -> bool:
        return self.enter_s <= t < self.exit_s

    def range_m(self, t: float, near_range_m: float) -> float:
        """Distance from the radar at ``t`` (meaningful while in the beam)."""
        fraction = min(1.0, max(0.0, (t - self.enter_s) / self.dwell_s))
        if self.direction == "approaching":
            fraction = 1.0 - fraction
        return near_range_m + fraction * self.beam_length_m


@dataclass(frozen=True)
class Target:
    """One echo in the beam at an instant, as a radar would measure it before quantisation.

    ``vehicle_id`` is the mover's id (ids are unique across vehicles, pedestrians and riders).
    """

    vehicle_id: int
    radial_kmh: float
    magnitude: float
    range_m: float
    kind: TargetKind = "vehicle"


@dataclass(frozen=True, kw_only=True)
class TrafficScenario:
    """Parameters of random traffic; ``generate_vehicles`` turns them into vehicles.

    ``min_headway_s`` is the least gap between one vehicle leaving the beam and the next one
    entering it: with a positive value vehicles never share the beam, which makes tests that
    count one report burst per vehicle exact. 0 lets them overlap, as on a real road.
    """

    vehicles_per_hour: float = 300.0
    speed_mean_kmh: float = 35.0
    speed_sd_kmh: float = 8.0
    speed_min_kmh: float = 10.0
    speed_max_kmh: float = 90.0
    approaching_share: float = 0.5
    min_headway_s: float = 0.0
    beam_length_m: float = 50.0
    seed: int = 0

    def __post_init__(self) -> None:
        _require(self.vehicles_per_hour >= 0, "vehicles_per_hour", "must be >= 0")
        _require(self.speed_mean_kmh > 0, "speed_mean_kmh", "must be positive")
        _require(self.speed_sd_kmh >= 0, "speed_sd_kmh", "must be >= 0")
        _require(self.speed_min_kmh > 0, "speed_min_kmh", "must be positive")
        _require(
            self.speed_max_kmh >= self.speed_min_kmh, "speed_max_kmh", "must be >= speed_min_kmh"
        )
        _require(0.0 <= self.approaching_share <= 1.0, "approaching_share", "must be in 0..1")
        _require(self.min_headway_s >= 0, "min_headway_s", "must be >= 0")
        _require(self.beam_length_m > 0, "beam_length_m", "must be positive")


def _require(ok: bool, field: str, message: str) -> None:
    if not ok:
        raise ValueError(f"{field} {message}")


def generate_vehicles(
    scenario: TrafficScenario, duration_s: float, start_s: float = 0.0, first_id: int = 1
) -> list[Vehicle]:
    """Random traffic for ``duration_s`` simulated seconds from ``start_s``; same seed, same list.

    Arrivals are a Poisson process at ``vehicles_per_hour``. A vehicle that would arrive before
    the previous one has left the beam plus ``min_headway_s`` is held back until then, the way
    a queue forms on a road, and later arrivals count on from it. Speeds are normal, clipped to
    ``speed_min_kmh..speed_max_kmh``.
    """
    if duration_s < 0:
        raise ValueError(f"duration_s must be >= 0, got {duration_s}")
    if scenario.vehicles_per_hour == 0 or duration_s == 0:
        return []
    rng = np.random.default_rng(scenario.seed)
    mean_gap_s = 3600.0 / scenario.vehicles_per_hour
    end_s = start_s + duration_s
    vehicles: list[Vehicle] = []
    t = start_s
    prev_exit = -math.inf
    while True:
        t += float(rng.exponential(mean_gap_s))
        speed = float(rng.normal(scenario.speed_mean_kmh, scenario.speed_sd_kmh))
        speed = min(scenario.speed_max_kmh, max(scenario.speed_min_kmh, speed))
        approaching = float(rng.random()) < scenario.approaching_share
        if scenario.min_headway_s > 0:
            t = max(t, prev_exit + scenario.min_headway_s)
        if t >= end_s:
            return vehicles
        vehicle = Vehicle(
            vehicle_id=first_id + len(vehicles),
            enter_s=t,
            speed_kmh=speed,
            direction="approaching" if approaching else "receding",
            beam_length_m=scenario.beam_length_m,
        )
        vehicles.append(vehicle)
        prev_exit = vehicle.exit_s


Mover = Vehicle | Pedestrian | Rider
MIN_BEAM_GAIN = 0.05
"""Two-way amplitude gain below which a pedestrian, rider or lane vehicle is out of the beam."""


def mover_id(mover: Mover) -> int:
    return mover.mover_id


class World:
    """The movers on the road and the radar's mounting; safe to use from several threads.

    Movers are kept sorted by entry time, so ``targets_at`` only looks at those that can still
    be present: an hour of traffic costs a few comparisons per radar frame. The radar sits on
    the pole at the origin, ``mount_height_m`` up, aimed ``angle_deg`` off the road's axis
    towards the road and ``tilt_deg`` down.
    """

    def __init__(
        self,
        vehicles: Iterable[Vehicle] = (),
        *,
        angle_deg: float = 0.0,
        near_range_m: float = 3.0,
        pedestrians: Iterable[Pedestrian] = (),
        riders: Iterable[Rider] = (),
        layout: RoadLayout | None = None,
        lane_offset_m: float | None = None,
        mount_height_m: float = 1.0,
        tilt_deg: float = 0.0,
        sensor: SensorSettings | None = None,
    ) -> None:
        if not 0.0 <= angle_deg < 90.0:
            raise ValueError(f"angle_deg must be in [0, 90), got {angle_deg}")
        if not near_range_m > 0:
            raise ValueError(f"near_range_m must be positive, got {near_range_m}")
        if lane_offset_m is not None and not lane_offset_m >= 0:
            raise ValueError(f"lane_offset_m must be >= 0, got {lane_offset_m}")
        if not 0.0 < mount_height_m <= 10.0:
            raise ValueError(f"mount_height_m must be in (0, 10], got {mount_height_m}")
        self.angle_deg = angle_deg
        self.near_range_m = near_range_m
        self.layout = layout or RoadLayout()
        self.lane_offset_m = lane_offset_m
        self.mount = RadarMount(height_m=mount_height_m, azimuth_deg=-angle_deg, tilt_deg=tilt_deg)
        self.sensor = sensor or SensorSettings()
        self._lock = threading.Lock()
        self._movers: list[Mover] = []
        self._enters: list[float] = []
        self._ids: set[int] = set()
        self._max_dwell_s = 0.0
        movers: list[Mover] = [*vehicles, *pedestrians, *riders]
        for mover in movers:
            self.add(mover)

    def add(self, mover: Mover) -> None:
        """Add a vehicle, pedestrian or rider at run time (e.g. a test placing one just ahead
        of the clock). Ids are unique across all three."""
        with self._lock:
            ident = mover_id(mover)
            if ident in self._ids:
                raise ValueError(f"duplicate vehicle_id {ident}")
            index = bisect.bisect_right(self._enters, mover.enter_s)
            self._enters.insert(index, mover.enter_s)
            self._movers.insert(index, mover)
            self._ids.add(ident)
            self._max_dwell_s = max(self._max_dwell_s, mover.dwell_s)

    def ground_truth(self) -> list[Vehicle]:
        """All vehicles, by entry time (a copy)."""
        with self._lock:
            return [m for m in self._movers if isinstance(m, Vehicle)]

    def pedestrians(self) -> list[Pedestrian]:
        with self._lock:
            return [m for m in self._movers if isinstance(m, Pedestrian)]

    def riders(self) -> list[Rider]:
        with self._lock:
            return [m for m in self._movers if isinstance(m, Rider)]

    def movers(self) -> list[Mover]:
        """Everyone, by entry time (a copy)."""
        with self._lock:
            return list(self._movers)

    def present_at(self, t: float) -> list[Mover]:
        """Movers on the scene at ``t`` (vehicles: while in the beam)."""
        with self._lock:
            lo = bisect.bisect_left(self._enters, t - self._max_dwell_s)
            hi = bisect.bisect_right(self._enters, t)
            candidates = self._movers[lo:hi]
        return [m for m in candidates if (m.in_beam(t) if isinstance(m, Vehicle) else m.present(t))]

    def vehicle_path(self, vehicle: Vehicle, t: float) -> StraightPath:
        """The straight line a vehicle follows around ``t`` in the ground frame.

        In lanes (``lane_offset_m`` set), the path of its whole pass. Without lanes the world is
        one-dimensional, so the path is anchored at ``t``: on the boresight at the vehicle's
        range, driving along the road, which makes its radial speed ``speed * cos(angle)``.
        """
        speed = vehicle.speed_kmh / 3.6
        approaching = vehicle.direction == "approaching"
        heading = math.pi if approaching else 0.0
        if self.lane_offset_m is None:
            r = vehicle.range_m(t, self.near_range_m)
            az = math.radians(self.mount.azimuth_deg)
            return StraightPath(r * math.cos(az), r * math.sin(az), heading, speed, t)
        lane_y = -self.lane_offset_m - (0.0 if approaching else self.layout.lane_width_m)
        x0 = self.near_range_m + (vehicle.beam_length_m if approaching else 0.0)
        return StraightPath(x0, lane_y, heading, speed, vehicle.enter_s)

    def targets_at(self, t: float) -> list[Target]:
        """Echoes in the beam at simulated time ``t``, strongest first."""
        targets = []
        for mover in self.present_at(t):
            if isinstance(mover, Vehicle) and self.lane_offset_m is None:
                range_m = mover.range_m(t, self.near_range_m)
                targets.append(
                    Target(
                        vehicle_id=mover.vehicle_id,
                        radial_kmh=mover.radial_kmh(self.angle_deg),
                        magnitude=MAGNITUDE_AT_10M * mover.rcs_scale * (10.0 / range_m) ** 2,
                        range_m=range_m,
                    )
                )
            else:
                target = self._geometric_target(mover, t)
                if target is not None:
                    targets.append(target)
        targets.sort(key=lambda target: target.magnitude, reverse=True)
        return targets

    def _geometric_target(self, mover: Mover, t: float) -> Target | None:
        kind: TargetKind
        if isinstance(mover, Vehicle):
            path = self.vehicle_path(mover, t)
            point, velocity = path.position(t), path.velocity
            height, rcs, kind = 0.6, CAR_RCS_M2 * mover.rcs_scale, "vehicle"
        else:
            if mover.speed_mps == 0:
                return None  # standing still: static clutter to a Doppler radar, not a target
            x, y = mover.position(t)
            point, velocity = np.array([x, y, 0.0]), np.array([*mover.velocity(), 0.0])
            height, rcs = mover.reference_height_m, mover.rcs_m2
            kind = "pedestrian" if isinstance(mover, Pedestrian) else mover.kind
        point = point + np.array([0.0, 0.0, height])
        local = self.mount.to_radar(point[None, :])
        gain = float(antenna_gain(local, self.sensor)[0])
        if gain < MIN_BEAM_GAIN:
            return None
        range_m = max(float(np.linalg.norm(local)), 0.5)
        radial_mps = self.mount.radial_mps(point, velocity)
        return Target(
            vehicle_id=mover_id(mover),
            radial_kmh=radial_mps * 3.6,
            magnitude=MAGNITUDE_AT_10M * rcs / CAR_RCS_M2 * gain * (10.0 / range_m) ** 2,
            range_m=range_m,
            kind=kind,
        )

    def strongest_at(self, t: float) -> Target | None:
        """The echo a single-target Doppler radar reports at ``t``, if any."""
        targets = self.targets_at(t)
        return targets[0] if targets else None

    def scatterer_models_at(self, t: float) -> list[tuple[Mover, ScattererModel]]:
        """Every mover present at ``t`` as radar scatterers, for the spectrum."""
        models: list[tuple[Mover, ScattererModel]] = []
        for mover in self.present_at(t):
            model: ScattererModel
            if isinstance(mover, Vehicle):
                path = self.vehicle_path(mover, t)
                model = _car(path, mover.rcs_scale, mover.vehicle_id)
            elif isinstance(mover, Pedestrian):
                model = Walker(
                    mover.height_m,
                    mover.speed_mps,
                    mover.gait,
                    x0=mover.start_xy[0],
                    y0=mover.start_xy[1],
                    heading_rad=math.radians(mover.heading_deg),
                    t0=mover.enter_s,
                    phase0=mover.phase0,
                )
            else:
                path = StraightPath(
                    mover.start_xy[0],
                    mover.start_xy[1],
                    math.radians(mover.heading_deg),
                    mover.speed_mps,
                    mover.enter_s,
                )
                model = (
                    Bicycle(path, mover.rider_height_m, layout_seed=mover.rider_id)
                    if mover.kind == "bicycle"
                    else Scooter(path, mover.rider_height_m, layout_seed=mover.rider_id)
                )
            models.append((mover, model))
        return models


def _car(path: StraightPath, rcs_scale: float, seed: int) -> Car:
    """A car, or for a big cross-section (``rcs_scale`` >= 2.5) a bus-sized body."""
    if rcs_scale >= 2.5:
        return Car(
            path,
            length_m=11.0,
            width_m=2.5,
            height_m=3.2,
            wheel_radius_m=0.5,
            wheelbase_m=6.0,
            rcs_m2=CAR_RCS_M2 * rcs_scale,
            layout_seed=seed,
        )
    return Car(path, rcs_m2=CAR_RCS_M2 * rcs_scale, layout_seed=seed)
