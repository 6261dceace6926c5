"""People at the school-zone kerb, and cyclists and scooters: who the kerb radar looks at.

Positions are in the pole's ground frame (metres): the pole stands at the origin on the footway,
``x`` runs along the road, positive up the road (where approaching traffic comes from), ``y``
across it, positive away from the road; the carriageway is ``y < kerb_y_m``, the crosswalk a
band of ``x`` around ``crosswalk_x_m``. Everyone moves in a straight line at a constant speed for
``duration_s`` (speed 0: waiting at the kerb).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np

from simulator.gait import Gait, human_rcs_m2

AgeGroup = Literal["child", "adult"]
RiderKind = Literal["bicycle", "scooter"]

CHILD_HEIGHT_M: Final = (1.0, 1.45)
ADULT_HEIGHT_M: Final = (1.5, 1.95)


@dataclass(frozen=True, kw_only=True)
class RoadLayout:
    """The plan of the road around the pole."""

    kerb_y_m: float = -0.5
    lane_width_m: float = 3.5
    lanes: int = 2
    crosswalk_x_m: float = 6.0
    crosswalk_width_m: float = 4.0
    footway_width_m: float = 3.0

    def __post_init__(self) -> None:
        if self.lane_width_m <= 0 or self.lanes < 1:
            raise ValueError("lane_width_m must be positive and lanes >= 1")
        if self.crosswalk_width_m <= 0 or self.footway_width_m <= 0:
            raise ValueError("crosswalk_width_m and footway_width_m must be positive")

    @property
    def far_kerb_y_m(self) -> float:
        return self.kerb_y_m - self.lanes * self.lane_width_m

    def lane_y_m(self, lane: int) -> float:
        """Centre line of lane ``lane`` (0 is the one next to the pole's kerb)."""
        return self.kerb_y_m - (lane + 0.5) * self.lane_width_m


def _check_path(name: str, speed_mps: float, duration_s: float, max_speed: float) -> None:
    if not 0 <= speed_mps <= max_speed:
        raise ValueError(f"{name} speed_mps must be in 0..{max_speed}, got {speed_mps}")
    if not duration_s > 0:
        raise ValueError(f"{name} duration_s must be positive, got {duration_s}")


class _StraightMover:
    """Straight-line motion at constant speed from ``start_xy`` for ``duration_s``: what
    pedestrians and riders share (their dataclasses supply the fields)."""

    enter_s: float
    duration_s: float
    speed_mps: float
    heading_deg: float
    start_xy: tuple[float, float]

    @property
    def exit_s(self) -> float:
        return self.enter_s + self.duration_s

    @property
    def dwell_s(self) -> float:
        return self.duration_s

    def velocity(self) -> tuple[float, float]:
        heading = math.radians(self.heading_deg)
        return self.speed_mps * math.cos(heading), self.speed_mps * math.sin(heading)

    def position(self, t: float) -> tuple[float, float]:
        vx, vy = self.velocity()
        dt = t - self.enter_s
        return self.start_xy[0] + vx * dt, self.start_xy[1] + vy * dt


@dataclass(frozen=True, kw_only=True)
class Pedestrian(_StraightMover):
    """A child or an adult walking, running or waiting; ``start_xy`` is where they are at
    ``enter_s``, ``heading_deg`` the direction of travel counter-clockwise from +x."""

    pedestrian_id: int
    enter_s: float
    age_group: AgeGroup
    height_m: float
    speed_mps: float
    start_xy: tuple[float, float]
    heading_deg: float = 0.0
    duration_s: float = 10.0
    gait: Gait = "walk"
    phase0: float = 0.0
    """Gait phase (cycles) at ``enter_s``."""

    def __post_init__(self) -> None:
        if self.age_group not in ("child", "adult"):
            raise ValueError(f"age_group must be child or adult, got {self.age_group!r}")
        if not 0.8 <= self.height_m <= 2.2:
            raise ValueError(f"height_m must be in 0.8..2.2, got {self.height_m}")
        if self.gait not in ("walk", "run"):
            raise ValueError(f"gait must be walk or run, got {self.gait!r}")
        _check_path("pedestrian", self.speed_mps, self.duration_s, 8.0)

    @property
    def mover_id(self) -> int:
        return self.pedestrian_id

    @property
    def rcs_m2(self) -> float:
        return human_rcs_m2(self.height_m)

    @property
    def reference_height_m(self) -> float:
        """Height of the torso, the point whose speed the radar's main line shows."""
        return 0.55 * self.height_m

    def present(self, t: float) -> bool:
        return self.enter_s <= t < self.exit_s


@dataclass(frozen=True, kw_only=True)
class Rider(_StraightMover):
    """A cyclist or an e-scooter rider moving in a straight line."""

    rider_id: int
    enter_s: float
    kind: RiderKind
    speed_mps: float
    start_xy: tuple[float, float]
    heading_deg: float = 180.0
    duration_s: float = 10.0
    rider_height_m: float = 1.7

    def __post_init__(self) -> None:
        if self.kind not in ("bicycle", "scooter"):
            raise ValueError(f"kind must be bicycle or scooter, got {self.kind!r}")
        if not 1.0 <= self.rider_height_m <= 2.2:
            raise ValueError(f"rider_height_m must be in 1.0..2.2, got {self.rider_height_m}")
        _check_path("rider", self.speed_mps, self.duration_s, 15.0)

    @property
    def mover_id(self) -> int:
        return self.rider_id

    @property
    def rcs_m2(self) -> float:
        return human_rcs_m2(self.rider_height_m) + (0.15 if self.kind == "bicycle" else 0.08)

    @property
    def reference_height_m(self) -> float:
        return 1.0

    def present(self, t: float) -> bool:
        return self.enter_s <= t < self.exit_s


def crossing(
    pedestrian_id: int,
    enter_s: float,
    *,
    age_group: AgeGroup,
    height_m: float,
    speed_mps: float,
    layout: RoadLayout | None = None,
    from_near_kerb: bool = True,
    offset_m: float = 0.0,
    gait: Gait = "walk",
) -> Pedestrian:
    """Someone crossing the road on the crosswalk, kerb to kerb (``offset_m`` along x from the
    crosswalk's centre line)."""
    layout = layout or RoadLayout()
    width = layout.kerb_y_m - layout.far_kerb_y_m
    y0 = layout.kerb_y_m if from_near_kerb else layout.far_kerb_y_m
    return Pedestrian(
        pedestrian_id=pedestrian_id,
        enter_s=enter_s,
        age_group=age_group,
        height_m=height_m,
        speed_mps=speed_mps,
        start_xy=(layout.crosswalk_x_m + offset_m, y0),
        heading_deg=-90.0 if from_near_kerb else 90.0,
        duration_s=width / speed_mps,
        gait=gait,
    )


def along_footway(
    pedestrian_id: int,
    enter_s: float,
    *,
    age_group: AgeGroup,
    height_m: float,
    speed_mps: float,
    layout: RoadLayout | None = None,
    towards_pole: bool = True,
    length_m: float = 30.0,
    offset_m: float = 1.0,
    gait: Gait = "walk",
) -> Pedestrian:
    """Someone walking (or running) along the footway, ``offset_m`` back from the kerb, over
    ``length_m`` that ends (or starts) beside the pole."""
    layout = layout or RoadLayout()
    y = layout.kerb_y_m + offset_m
    x0 = length_m if towards_pole else -2.0
    return Pedestrian(
        pedestrian_id=pedestrian_id,
        enter_s=enter_s,
        age_group=age_group,
        height_m=height_m,
        speed_mps=speed_mps,
        start_xy=(x0, y),
        heading_deg=180.0 if towards_pole else 0.0,
        duration_s=length_m / speed_mps,
        gait=gait,
    )


def waiting(
    pedestrian_id: int,
    enter_s: float,
    duration_s: float,
    *,
    age_group: AgeGroup,
    height_m: float,
    layout: RoadLayout | None = None,
    offset_m: float = 0.0,
) -> Pedestrian:
    """Someone standing at the kerb by the crosswalk (invisible to a Doppler radar but for a
    faint sway: the physics says so, and so must the model's documentation)."""
    layout = layout or RoadLayout()
    return Pedestrian(
        pedestrian_id=pedestrian_id,
        enter_s=enter_s,
        age_group=age_group,
        height_m=height_m,
        speed_mps=0.0,
        start_xy=(layout.crosswalk_x_m + offset_m, layout.kerb_y_m + 0.3),
        heading_deg=-90.0,
        duration_s=duration_s,
    )


@dataclass(frozen=True, kw_only=True)
class PedestrianScenario:
    """Random people at the kerb: Poisson arrivals, a share of children, some running."""

    persons_per_hour: float = 120.0
    child_share: float = 0.6
    run_share: float = 0.15
    crossing_share: float = 0.5
    walk_speed_mps: tuple[float, float] = (0.9, 1.7)
    run_speed_mps: tuple[float, float] = (2.5, 4.5)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.persons_per_hour < 0:
            raise ValueError("persons_per_hour must be >= 0")
        for name in ("child_share", "run_share", "crossing_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in 0..1")


def generate_pedestrians(
    scenario: PedestrianScenario,
    duration_s: float,
    *,
    layout: RoadLayout | None = None,
    start_s: float = 0.0,
    first_id: int = 100_000,
) -> list[Pedestrian]:
    """Random people over ``duration_s`` from ``start_s``; the same seed gives the same list."""
    if duration_s < 0:
        raise ValueError(f"duration_s must be >= 0, got {duration_s}")
    if scenario.persons_per_hour == 0 or duration_s == 0:
        return []
    rng = np.random.default_rng(scenario.seed)
    people: list[Pedestrian] = []
    t = start_s
    while True:
        t += float(rng.exponential(3600.0 / scenario.persons_per_hour))
        if t >= start_s + duration_s:
            return people
        child = float(rng.random()) < scenario.child_share
        group: AgeGroup = "child" if child else "adult"
        height = float(rng.uniform(*(CHILD_HEIGHT_M if child else ADULT_HEIGHT_M)))
        running = float(rng.random()) < scenario.run_share
        gait: Gait = "run" if running else "walk"
        speed = float(
            rng.uniform(*(scenario.run_speed_mps if running else scenario.walk_speed_mps))
        )
        pid = first_id + len(people)
        if float(rng.random()) < scenario.crossing_share:
            person = crossing(
                pid, t, age_group=group, height_m=height, speed_mps=speed, layout=layout,
                from_near_kerb=bool(rng.random() < 0.5), offset_m=float(rng.uniform(-1.5, 1.5)),
                gait=gait,
            )  # fmt: skip
        else:
            person = along_footway(
                pid, t, age_group=group, height_m=height, speed_mps=speed, layout=layout,
                towards_pole=bool(rng.random() < 0.5), offset_m=float(rng.uniform(0.4, 2.5)),
                gait=gait,
            )  # fmt: skip
        people.append(person)
