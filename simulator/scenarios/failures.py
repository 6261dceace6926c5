"""Failure scenarios of the library: one per fault the fault-injection suite needs, injected at
a stated time (docs/scenarios.md describes each and its promise; docs/reliability.md the rows).
"""

from __future__ import annotations

import datetime as dt

from simulator.scenarios.everyday import NO_FAULTS, SCHOOL_DAY, SEOUL, at, car
from simulator.scenarios.spec import NONE, Count, Expected, FaultAt, Scenario, Traffic, at_least

RADAR_UNPLUGGED = Scenario(
    name="radar-unplugged",
    summary="10:30 on a school day: the road radar's cable is pulled at 15 s and plugged back "
    "at 30 s; the pole flashes its beacons and shows SCHOOL ZONE while blind.",
    start=at(SCHOOL_DAY, 10, 30),
    duration_s=58.0,
    traffic=Traffic(vehicles=(car(1, 3.0, 45.0), car(2, 20.0, 30.0), car(3, 42.0, 25.0))),
    faults=(FaultAt("radar_unplugged", at_s=15.0, until_s=30.0),),
    expected=Expected(
        beacons=True,
        signs=frozenset({"slow_down", "school_zone"}),
        speed_shown=True,
        voice=NONE,
        over_limit=Count(1),
        modes=("normal", "fail_safe", "normal"),
        events={
            "events/vehicle": Count(2),
            "events/warning": Count(2),
            "events/decision": Count(3),
            "events/fault": Count(2),
        },
        faults=frozenset({"radar.road"}),
        recovered=frozenset({"radar.road"}),
    ),
)

# Until a stuck radar has repeated itself for ``stuck_after_s`` (10 s here) nothing can tell it
# from a car at that speed: it is warned. Once it is found stuck, its repeated frames are taken
# back (pole_agent/perception/speed_track.py): the warning is closed (events/warning end) but
# no vehicle event is made of them; the two real cars are reported.
RADAR_STUCK = Scenario(
    name="radar-stuck",
    summary="10:30 on a school day: from 14 s the road radar repeats 42 km/h; for 10 s that "
    "looks like a speeding car (warned), then it is found stuck and the pole falls to "
    "fail-safe; it unsticks at 39 s and the pole recovers.",
    start=at(SCHOOL_DAY, 10, 30),
    duration_s=64.0,
    traffic=Traffic(vehicles=(car(1, 2.0, 25.0), car(2, 48.0, 25.0))),
    faults=(FaultAt("radar_stuck", at_s=14.0, until_s=39.0, value_kmh=42.0),),
    expected=Expected(
        beacons=True,
        signs=frozenset({"slow_down", "school_zone"}),
        speed_shown=True,
        over_limit=Count(1),
        modes=("normal", "fail_safe", "normal"),
        events={
            "events/vehicle": Count(2),
            "events/warning": Count(2),
            "events/decision": Count(3),
            "events/fault": Count(2),
        },
        faults=frozenset({"radar.road"}),
        recovered=frozenset({"radar.road"}),
    ),
)

BROKER_DOWN = Scenario(
    name="broker-down",
    summary="09:30 on a school day: the city's broker is down from 10 s to 30 s; warnings go "
    "on, and what happened meanwhile arrives afterwards, flagged historical, none lost.",
    start=at(SCHOOL_DAY, 9, 30),
    duration_s=50.0,
    traffic=Traffic(
        vehicles=(car(1, 2.0, 25.0), car(2, 14.0, 48.0), car(3, 24.0, 24.0), car(4, 36.0, 26.0))
    ),
    faults=(FaultAt("broker_down", at_s=10.0, until_s=30.0),),
    expected=Expected(
        beacons=True,
        signs=frozenset({"slow_down"}),
        over_limit=Count(1),
        modes=("normal",),
        events={
            "events/vehicle": Count(4),
            "events/warning": Count(2),
            "events/decision": Count(1),
            "events/fault": Count(2),
        },
        faults=frozenset({"mqtt"}),
        recovered=frozenset({"mqtt"}),
        historical=at_least(4),
    ),
)

MISSING_MODEL = Scenario(
    name="missing-model",
    summary="08:30 on a school day, a pole with a kerb radar whose model file is missing: it "
    "says so at start-up and runs degraded; speed warnings go on.",
    start=at(SCHOOL_DAY, 8, 30),
    duration_s=30.0,
    traffic=Traffic(vehicles=(car(1, 3.0, 40.0), car(2, 13.0, 25.0))),
    faults=(FaultAt("missing_model"),),
    expected=Expected(
        beacons=True,
        signs=frozenset({"slow_down"}),
        over_limit=Count(1),
        modes=("degraded",),
        events={"events/vehicle": Count(2), "events/warning": Count(2)},
        faults=frozenset({"model.radar"}),
        recovered=NO_FAULTS,
    ),
)

CLOCK_IN_PAST = Scenario(
    name="clock-in-past",
    summary="The pole boots with its clock at 1 January 2020, 03:00, and no time sync: it runs "
    "the school-hours mode (a driver at 45 km/h is warned); time sync arrives at 15 s, 03:00 "
    "is off hours, and a second driver at 45 km/h is not warned.",
    start=dt.datetime(2020, 1, 1, 3, 0, tzinfo=SEOUL),
    duration_s=35.0,
    traffic=Traffic(vehicles=(car(1, 3.0, 45.0), car(2, 20.0, 45.0))),
    faults=(FaultAt("clock_in_past", until_s=15.0),),
    expected=Expected(
        beacons=True,
        signs=frozenset({"slow_down"}),
        over_limit=Count(1),
        modes=("degraded", "off_hours"),
        events={"events/vehicle": Count(2), "events/warning": Count(2)},
        faults=frozenset({"clock"}),
        recovered=frozenset({"clock"}),
    ),
)
