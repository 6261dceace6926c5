"""What a scenario is: a small declarative description of a morning (or a night) at the school
gate, and the outcome it promises.

A ``Scenario`` names its world (``traffic``, ``people``, ``parked`` vehicles that hide people,
``weather``), its time (``start`` local wall time, the school calendar's ``holidays``), its
faults (``faults``: what breaks, when, until when) and its ``expected`` outcome: the warnings the
pole gives (beacons, sign messages, "your speed", the spoken child warning), the events the city
receives per topic, the faults reported and the fail-safe mode changes. Everything random is
seeded, so a scenario is the same world every run. The runner (``simulator.scenarios.run``)
plays it through the real agent; ``simulator.scenarios.outcome.check`` says where what happened
differs from what was promised.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from simulator.pedestrians import Pedestrian, PedestrianScenario, generate_pedestrians
from simulator.world import TrafficScenario, Vehicle, generate_vehicles

FaultKind = Literal[
    "radar_unplugged",
    "radar_stuck",
    "radar_silent",
    "broker_down",
    "missing_model",
    "clock_in_past",
]
BOOT_FAULTS: frozenset[str] = frozenset({"missing_model", "clock_in_past"})
"""Faults that exist from power-on (``at_s`` 0): they shape how the pole is built."""
HEADWAY_S = 4.5
"""Least gap between two vehicles in the beam, in scenarios: more than the transit gap the
scenario pole uses (``simulator.scenarios.pole.TRANSIT_GAP_S``), so that each is its own
transit."""
Mode = Literal["normal", "degraded", "fail_safe", "off_hours"]
SignMessage = Literal["slow_down", "child_crossing", "school_zone"]


@dataclass(frozen=True)
class Count:
    """An inclusive range of counts: ``Count(2)`` is exactly 2, ``Count(1, None)`` at least 1."""

    low: int
    high: int | None = -1  # -1: the same as ``low``

    def __post_init__(self) -> None:
        if self.high == -1:
            object.__setattr__(self, "high", self.low)
        if self.low < 0 or (self.high is not None and self.high < self.low):
            raise ValueError(f"bad count range {self.low}..{self.high}")

    def holds(self, n: int) -> bool:
        return self.low <= n and (self.high is None or n <= self.high)

    def __str__(self) -> str:
        if self.high == self.low:
            return str(self.low)
        return f"{self.low}.." + ("" if self.high is None else str(self.high))


NONE = Count(0)


def at_least(n: int) -> Count:
    return Count(n, None)


@dataclass(frozen=True)
class FaultAt:
    """One fault: ``kind`` starts at simulated second ``at_s`` and ends at ``until_s`` (None:
    for the rest of the run). ``value_kmh`` is the speed a stuck radar repeats.

    - ``radar_unplugged``: the road radar's cable is pulled; plugged back at ``until_s``.
    - ``radar_stuck``: the road radar repeats ``value_kmh`` every frame.
    - ``radar_silent``: the road radar sends nothing (hung firmware).
    - ``broker_down``: the city's broker stops; started again at ``until_s``.
    - ``missing_model``: (boot) the kerb radar's model file is not there.
    - ``clock_in_past``: (boot) the clock starts at the scenario's ``start`` with no time sync
      (the scenario's start is then in the past: e.g. 2020); time sync arrives at ``until_s``.
    """

    kind: FaultKind
    at_s: float = 0.0
    until_s: float | None = None
    value_kmh: float = 42.0

    def __post_init__(self) -> None:
        if self.kind in BOOT_FAULTS and self.at_s != 0.0:
            raise ValueError(f"{self.kind} is there from power-on: at_s must be 0")
        if self.at_s < 0 or (self.until_s is not None and self.until_s <= self.at_s):
            raise ValueError(f"{self.kind}: need 0 <= at_s < until_s")


@dataclass(frozen=True)
class Traffic:
    """Vehicles on the road: ``vehicles`` placed by hand, plus seeded random flows (``flows``,
    each with a radar cross-section: 1 a car, 3 a bus)."""

    vehicles: tuple[Vehicle, ...] = ()
    flows: tuple[tuple[TrafficScenario, float], ...] = ()


@dataclass(frozen=True)
class People:
    """People at the kerb: ``pedestrians`` placed by hand plus a seeded random ``crowd``."""

    pedestrians: tuple[Pedestrian, ...] = ()
    crowd: PedestrianScenario | None = None


@dataclass(frozen=True)
class ParkedVehicle:
    """A vehicle standing at a kerb (a van): a box on the ground plan that hides whoever is
    behind it from the pole's pedestrian sensing. (Standing still, it is no radar target.)"""

    x_m: tuple[float, float]
    y_m: tuple[float, float]


@dataclass(frozen=True)
class Weather:
    """Radar clutter: rain echoes in ``rain_share`` of the frames (weak, slow, both ways), a
    one-frame spurious spike every ``spike_every_s`` seconds on average (spray, a wiper, a bird:
    fast and approaching), and the radar's own speed noise."""

    rain_share: float = 0.0
    rain_speed_sd_kmh: float = 6.0
    rain_magnitude: tuple[float, float] = (1.0, 8.0)
    spike_every_s: float | None = None
    spike_kmh: tuple[float, float] = (35.0, 90.0)
    noise_kmh: float = 0.2


CLEAR = Weather()


@dataclass(frozen=True)
class Expected:
    """The outcome a scenario promises; ``None`` leaves a point unchecked.

    Outputs (read back from the mock pins, and from the speaker's recording):
    ``beacons`` (the beacon pins ever lit), ``signs`` (the sign messages ever shown, exactly),
    ``speed_shown`` ("your speed" digits ever lit), ``voice`` (spoken messages played).
    Decisions (the agent's decision records): ``over_limit`` warnings, ``child_warnings``,
    ``display_blanked``, ``modes`` (the fail-safe state machine's modes, in order).
    Telemetry (what a subscriber received from the real broker): ``events`` per stream
    (``events/vehicle``, ``events/warning``, ...), ``faults`` (components reported on
    ``events/fault`` with the phase ``fault``, exactly), ``recovered`` (those also reported back
    to ``ok``), ``historical`` (messages delivered after an outage), ``limit_kmh`` and
    ``zone_active`` (as every vehicle event states them). Nothing may be lost: the reference
    consumer must find no gap in any stream, whatever the scenario.
    """

    beacons: bool | None = None
    signs: frozenset[SignMessage] | None = None
    speed_shown: bool | None = None
    voice: Count | None = None
    voice_volume: float | None = None
    """The volume every spoken message was played at (day 0.8, quiet hours 0.3)."""
    over_limit: Count | None = None
    child_warnings: Count | None = None
    display_blanked: Count | None = None
    modes: tuple[Mode, ...] | None = None
    events: dict[str, Count] = field(default_factory=dict)
    faults: frozenset[str] | None = None
    recovered: frozenset[str] | None = None
    historical: Count | None = None
    limit_kmh: float | None = None
    zone_active: bool | None = None
    first_child_warning_after_s: float | None = None
    """The first child warning comes no earlier than this (a child hidden until then)."""
    vehicle_speeds_kmh: frozenset[float] | None = None
    """The vehicles' true speeds (distinct): exactly one vehicle event per speed, its reported
    (peak) speed within ``outcome.SPEED_TOLERANCE_KMH`` of it."""


@dataclass(frozen=True)
class Scenario:
    """One named, seeded, deterministic scenario (see the module's docstring)."""

    name: str
    summary: str
    start: dt.datetime
    duration_s: float
    expected: Expected
    traffic: Traffic = Traffic()
    people: People = People()
    parked: tuple[ParkedVehicle, ...] = ()
    weather: Weather = CLEAR
    holidays: tuple[dt.date, ...] = ()
    faults: tuple[FaultAt, ...] = ()
    seed: int = 7
    speed: float = 10.0
    """Simulated seconds per real second in tests (the live command takes its own)."""

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError(f"{self.name}: start needs a time zone")
        if not self.duration_s > 0:
            raise ValueError(f"{self.name}: duration_s must be positive")

    def with_faults(self, *faults: FaultAt, expected: Expected | None = None) -> Scenario:
        """The same scenario with more faults injected (the fault-injection suite's entry);
        ``expected`` replaces the promise, which the faults usually change."""
        return dataclasses.replace(
            self, faults=self.faults + faults, expected=expected or self.expected
        )

    def fault(self, kind: FaultKind) -> FaultAt | None:
        return next((f for f in self.faults if f.kind == kind), None)

    def vehicles(self) -> list[Vehicle]:
        """Every vehicle of the scenario, by entry time, ids unique. A flow's vehicle that
        would share the beam (within ``HEADWAY_S``) with a placed vehicle or an earlier flow's
        is left out: a single-target radar cannot tell two apart, and a scenario's counts must
        be exact."""
        placed = list(self.traffic.vehicles)
        first = 1 + max((v.vehicle_id for v in placed), default=0)
        for flow, rcs in self.traffic.flows:
            made = generate_vehicles(flow, self.duration_s, first_id=first)
            first += len(made)
            placed += [
                dataclasses.replace(v, rcs_scale=rcs)
                for v in made
                if v.exit_s + HEADWAY_S < self.duration_s
                and all(
                    v.exit_s + HEADWAY_S <= p.enter_s or p.exit_s + HEADWAY_S <= v.enter_s
                    for p in placed
                )
            ]
        return sorted(placed, key=lambda v: v.enter_s)

    def pedestrians(self) -> list[Pedestrian]:
        people = list(self.people.pedestrians)
        if self.people.crowd is not None:
            people += generate_pedestrians(self.people.crowd, self.duration_s)
        return people
