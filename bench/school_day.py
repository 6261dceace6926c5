"""A school day's traffic past the pole: the simulator's traffic model, hour by hour.

``SCHOOL_DAY`` is a 24-hour profile of arrival rates: night, the morning school-gate rush,
a quiet midday with a lunch bump, the afternoon pick-up, the evening commute. Each segment is
``simulator.world.generate_vehicles`` (Poisson arrivals, normal speeds) at its rate, with a
seed of its own, one segment after the other.

For the soak the profile runs with ``min_headway_s`` longer than the tracker's ``gap_s``: no two
vehicles share the beam, so each vehicle is exactly one transit and "every transit reported" can
be checked against the simulator's own count. A single-target radar cannot count vehicles that
overlap in the beam (bench/README.md); the headway makes a queue instead, so the rush saturates
at about ``3600 / (dwell + headway)`` vehicles an hour (printed by the soak).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from simulator.world import TrafficScenario, Vehicle, generate_vehicles


@dataclass(frozen=True)
class Segment:
    """``vehicles_per_hour`` from ``start_h`` to ``end_h`` (hours of the day, 0..24)."""

    start_h: float
    end_h: float
    vehicles_per_hour: float
    label: str


SCHOOL_DAY: tuple[Segment, ...] = (
    Segment(0.0, 6.0, 15.0, "night"),
    Segment(6.0, 7.0, 150.0, "early commute"),
    Segment(7.0, 7.5, 400.0, "commute"),
    Segment(7.5, 8.75, 1200.0, "morning school-gate rush"),
    Segment(8.75, 9.0, 400.0, "after the bell"),
    Segment(9.0, 12.0, 80.0, "quiet midday"),
    Segment(12.0, 13.0, 150.0, "lunch"),
    Segment(13.0, 14.5, 80.0, "quiet midday"),
    Segment(14.5, 16.0, 1000.0, "afternoon pick-up rush"),
    Segment(16.0, 19.0, 250.0, "evening commute"),
    Segment(19.0, 22.0, 80.0, "evening"),
    Segment(22.0, 24.0, 30.0, "night"),
)
"""Requested arrival rates; with a headway the rushes saturate below them (see the module)."""


def window(profile: Sequence[Segment], start_h: float, hours: float) -> list[Segment]:
    """The part of ``profile`` from ``start_h`` for ``hours`` (wrapping past midnight), as
    segments with hours counted from ``start_h`` (0 .. ``hours``)."""
    if not 0 < hours <= 24:
        raise ValueError(f"hours must be in (0, 24], got {hours}")
    if not 0 <= start_h < 24:
        raise ValueError(f"start_h must be in [0, 24), got {start_h}")
    out: list[Segment] = []
    for day in (0.0, 24.0):
        for seg in profile:
            lo = max(seg.start_h + day, start_h)
            hi = min(seg.end_h + day, start_h + hours)
            if hi > lo:
                out.append(Segment(lo - start_h, hi - start_h, seg.vehicles_per_hour, seg.label))
    return out


def vehicles_for(
    segments: Sequence[Segment], *, start_s: float, seed: int, min_headway_s: float
) -> list[Vehicle]:
    """Every segment's vehicles, from simulated time ``start_s``; same arguments, same list.
    A segment's first vehicle keeps the headway to the previous segment's last one."""
    vehicles: list[Vehicle] = []
    for index, seg in enumerate(segments):
        begin = start_s + seg.start_h * 3600.0
        if vehicles and min_headway_s > 0:
            begin = max(begin, vehicles[-1].exit_s + min_headway_s)
        duration = start_s + seg.end_h * 3600.0 - begin
        if duration <= 0:
            continue
        scenario = TrafficScenario(
            vehicles_per_hour=seg.vehicles_per_hour,
            min_headway_s=min_headway_s,
            seed=seed * 1000 + index,
        )
        vehicles += generate_vehicles(scenario, duration, begin, first_id=len(vehicles) + 1)
    return vehicles
