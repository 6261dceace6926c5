"""The soak's criteria as pure functions over what it recorded: process samples (flatness) and
the consumer's vehicle events against the simulator's vehicles (nothing lost, nothing invented).

Matching: each vehicle the simulator sent was in the beam from ``enter`` to ``exit`` (simulated
seconds from the traffic's start); each vehicle event the consumer stored has a ``start`` and an
end (``ts``) on the agent's clock, put on the same axis by the soak. An event covers a vehicle
when it overlaps the vehicle's beam time widened by ``SLACK_S`` at each end (less than half the
soak's headway, so the widened times of two vehicles never meet). Then:

- a vehicle that no event covers was lost, unless the emulator never put it in a frame (its
  process stalled through the whole passage and skipped those frames: counted apart);
- an event that covers no vehicle was invented;
- a vehicle covered by two or more events was split, and an event that covers two or more
  vehicles merged them. Both are artefacts of time compression: the agent stamps radar lines
  on arrival, so a stall of ``s`` real seconds moves stamps by ``s * F`` simulated seconds: a
  stall past ``gap_s / F`` in a vehicle's frames ends its transit early (split), and frames of
  one vehicle stamped late can shorten the quiet gap before the next below ``gap_s`` (merge);
  frames read in one burst after a stall can put a whole transit after its vehicle's exit
  (hence the slack). They are counted and shown; they are not losses.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

FLAT_LIMIT = 0.05
SLACK_S = 2.5


@dataclass
class Sample:
    real_s: float
    sim_h: float
    rss_mb: float
    threads: int
    fds: int
    cpu_s: float
    transits: int
    spool_depth: int


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def flatness(samples: list[Sample], hours: float) -> list[Check]:
    """Last-quarter mean within ``FLAT_LIMIT`` of first-quarter mean, after the warm-up (the
    first simulated hour, or the first 10 % of a shorter run), for RSS, threads and fds."""
    warmup_h = min(1.0, hours / 10)
    kept = [s for s in samples if s.sim_h >= warmup_h]
    quarter = len(kept) // 4
    if quarter < 2:
        return [Check("flat", False, f"too few samples after warm-up ({len(kept)})")]
    checks = []
    for name in ("rss_mb", "threads", "fds"):
        first = sum(getattr(s, name) for s in kept[:quarter]) / quarter
        last = sum(getattr(s, name) for s in kept[-quarter:]) / quarter
        growth = (last - first) / first
        checks.append(
            Check(
                f"{name} flat",
                growth <= FLAT_LIMIT,
                f"first-quarter mean {first:.2f}, last-quarter mean {last:.2f}: "
                f"{100 * growth:+.2f}% (limit +{100 * FLAT_LIMIT:g}%, warm-up {warmup_h:g} h, "
                f"{quarter} samples a quarter)",
            )
        )
    return checks


@dataclass(frozen=True)
class Matching:
    vehicles: int
    events: int
    lost: list[int]
    """Indexes of vehicles that no event covers."""
    invented: list[tuple[float, float]]
    """Events that cover no vehicle (start, end)."""
    splits: dict[int, list[float]]
    """Vehicle index -> the gaps (simulated s) between the events that cover it."""
    merges: list[tuple[int, ...]]
    """Vehicles covered by one event, for each event that covers more than one."""
    unseen: list[int]
    """Indexes of vehicles never in a frame (not counted as lost)."""


def match_events(
    beam_s: Sequence[tuple[float, float]],
    events: Sequence[tuple[float, float]],
    unseen: Sequence[int] = (),
) -> Matching:
    """Which events cover which vehicles; vehicles in time order, never overlapping;
    ``unseen``: indexes of vehicles the emulator never put in a frame."""
    enters = [enter for enter, _ in beam_s]
    exits = [exit_ for _, exit_ in beam_s]
    covering: dict[int, list[tuple[float, float]]] = {}
    invented, merges = [], []
    for start, end in sorted(events):
        covered = []
        first = bisect.bisect_left(exits, start - SLACK_S)
        for index in range(first, bisect.bisect_right(enters, end + SLACK_S)):
            enter, exit_ = beam_s[index]
            if start <= exit_ + SLACK_S and end >= enter - SLACK_S:
                covered.append(index)
                covering.setdefault(index, []).append((start, end))
        if not covered:
            invented.append((start, end))
        elif len(covered) > 1:
            merges.append(tuple(covered))
    splits = {
        index: [b[0] - a[1] for a, b in itertools.pairwise(got)]
        for index, got in covering.items()
        if len(got) > 1
    }
    skipped = set(unseen)
    lost = [i for i in range(len(beam_s)) if i not in covering and i not in skipped]
    return Matching(len(beam_s), len(events), lost, invented, splits, merges, sorted(skipped))


def matching_checks(m: Matching, agent_transits: int, factor: float) -> list[Check]:
    gaps = sorted(g for gs in m.splits.values() for g in gs)
    artefacts = f"{len(m.splits)} split, {len(m.merges)} merged"
    if gaps:
        artefacts += (
            f" (split gaps {gaps[0]:.1f}-{gaps[-1]:.1f} simulated s: reader stalls of "
            f"{1000 * gaps[0] / factor:.0f}-{1000 * gaps[-1] / factor:.0f} ms real)"
        )
    return [
        Check(
            "every vehicle reported",
            not m.lost and not m.invented and m.vehicles > 0,
            f"simulator {m.vehicles} vehicles, {m.vehicles - len(m.unseen)} put on the wire: "
            f"{m.vehicles - len(m.lost) - len(m.unseen)} covered by a vehicle event, "
            f"{len(m.lost)} lost, {len(m.invented)} events with no vehicle; time compression "
            f"artefacts: {len(m.unseen)} never in a frame (emulator stalled), {artefacts}",
        ),
        Check(
            "every transit reached the consumer",
            m.events == agent_transits,
            f"agent {agent_transits} transits, consumer {m.events} vehicle events",
        ),
    ]
