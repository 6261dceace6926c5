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
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

Direction = Literal["approaching", "receding"]

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
    """One echo in the beam at an instant, as a radar would measure it before quantisation."""

    vehicle_id: int
    radial_kmh: float
    magnitude: float
    range_m: float


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


class World:
    """The vehicles on the road and the radar's mounting; safe to use from several threads.

    Vehicles are kept sorted by entry time, so ``targets_at`` only looks at those that can still
    be in the beam: an hour of traffic costs a few comparisons per radar frame.
    """

    def __init__(
        self,
        vehicles: Iterable[Vehicle] = (),
        *,
        angle_deg: float = 0.0,
        near_range_m: float = 3.0,
    ) -> None:
        if not 0.0 <= angle_deg < 90.0:
            raise ValueError(f"angle_deg must be in [0, 90), got {angle_deg}")
        if not near_range_m > 0:
            raise ValueError(f"near_range_m must be positive, got {near_range_m}")
        self.angle_deg = angle_deg
        self.near_range_m = near_range_m
        self._lock = threading.Lock()
        self._vehicles: list[Vehicle] = []
        self._enters: list[float] = []
        self._ids: set[int] = set()
        self._max_dwell_s = 0.0
        for vehicle in vehicles:
            self.add(vehicle)

    def add(self, vehicle: Vehicle) -> None:
        """Add a vehicle at run time (e.g. a test placing one just ahead of the clock)."""
        with self._lock:
            if vehicle.vehicle_id in self._ids:
                raise ValueError(f"duplicate vehicle_id {vehicle.vehicle_id}")
            index = bisect.bisect_right(self._enters, vehicle.enter_s)
            self._enters.insert(index, vehicle.enter_s)
            self._vehicles.insert(index, vehicle)
            self._ids.add(vehicle.vehicle_id)
            self._max_dwell_s = max(self._max_dwell_s, vehicle.dwell_s)

    def ground_truth(self) -> list[Vehicle]:
        """All vehicles, by entry time (a copy)."""
        with self._lock:
            return list(self._vehicles)

    def targets_at(self, t: float) -> list[Target]:
        """Echoes in the beam at simulated time ``t``, strongest first."""
        with self._lock:
            lo = bisect.bisect_left(self._enters, t - self._max_dwell_s)
            hi = bisect.bisect_right(self._enters, t)
            candidates = self._vehicles[lo:hi]
        targets = []
        for vehicle in candidates:
            if not vehicle.in_beam(t):
                continue
            range_m = vehicle.range_m(t, self.near_range_m)
            targets.append(
                Target(
                    vehicle_id=vehicle.vehicle_id,
                    radial_kmh=vehicle.radial_kmh(self.angle_deg),
                    magnitude=MAGNITUDE_AT_10M * vehicle.rcs_scale * (10.0 / range_m) ** 2,
                    range_m=range_m,
                )
            )
        targets.sort(key=lambda target: target.magnitude, reverse=True)
        return targets

    def strongest_at(self, t: float) -> Target | None:
        """The echo a single-target Doppler radar reports at ``t``, if any."""
        targets = self.targets_at(t)
        return targets[0] if targets else None
