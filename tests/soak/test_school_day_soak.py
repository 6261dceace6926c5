"""The soak's short version (20 simulated minutes of the morning rush through the real agent,
as ``make soak`` runs 24 hours) and the pieces it is built from: the school-day traffic profile,
the flatness rule and the matching of vehicle events to vehicles."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.school_day import SCHOOL_DAY, Segment, vehicles_for, window
from bench.soak_checks import FLAT_LIMIT, Sample, flatness, match_events, matching_checks

ROOT = Path(__file__).resolve().parents[2]


def test_the_profile_covers_the_day_once_with_two_rushes() -> None:
    hours = [(s.start_h, s.end_h) for s in SCHOOL_DAY]
    assert hours[0][0] == 0 and hours[-1][1] == 24
    assert all(a[1] == b[0] for a, b in itertools.pairwise(hours))
    rushes = [s for s in SCHOOL_DAY if "rush" in s.label]
    assert len(rushes) == 2
    assert min(r.vehicles_per_hour for r in rushes) > max(
        s.vehicles_per_hour for s in SCHOOL_DAY if s not in rushes
    )


def test_a_window_wraps_past_midnight_and_counts_hours_from_its_start() -> None:
    segments = window(SCHOOL_DAY, 23.0, 2.0)
    assert segments == [Segment(0.0, 1.0, 30.0, "night"), Segment(1.0, 2.0, 15.0, "night")]
    assert sum(s.end_h - s.start_h for s in window(SCHOOL_DAY, 7.25, 24.0)) == 24.0
    with pytest.raises(ValueError, match="hours"):
        window(SCHOOL_DAY, 0.0, 25.0)


def test_vehicles_never_share_the_beam_and_the_same_seed_gives_the_same_day() -> None:
    segments = window(SCHOOL_DAY, 7.0, 2.0)
    cars = vehicles_for(segments, start_s=10.0, seed=3, min_headway_s=3.5)
    assert cars == vehicles_for(segments, start_s=10.0, seed=3, min_headway_s=3.5)
    assert all(b.enter_s >= a.exit_s + 3.5 for a, b in itertools.pairwise(cars))
    assert [c.vehicle_id for c in cars] == list(range(1, len(cars) + 1))
    rush = [c for c in cars if 10.0 + 1800 <= c.enter_s < 10.0 + 3600]
    quiet = vehicles_for(window(SCHOOL_DAY, 10.0, 1.0), start_s=0.0, seed=3, min_headway_s=3.5)
    assert len(rush) * 2 > 3 * len(quiet)  # half an hour of rush beats an hour of midday


def _samples(rss: list[float], threads: int = 5, fds: int = 20) -> list[Sample]:
    step = 1.0 / len(rss)
    return [Sample(i, i * step, r, threads, fds, 0.0, 0, 0) for i, r in enumerate(rss)]


def test_flatness_compares_last_and_first_quarter_means_after_the_warm_up() -> None:
    warm_up_spike = [500.0] * 10  # the first tenth of a 1 h run is warm-up: not counted
    flat = flatness(_samples(warm_up_spike + [100.0] * 90), hours=1.0)
    assert [c.ok for c in flat] == [True, True, True]
    growth = 1 + FLAT_LIMIT + 0.01
    grown = flatness(_samples([100.0] * 50 + [100.0 * growth] * 50), hours=1.0)
    assert [c.name for c in grown if not c.ok] == ["rss_mb flat"]
    assert not flatness(_samples([100.0] * 6), hours=1.0)[0].ok  # too few samples: no verdict


def test_events_are_matched_to_vehicles_and_losses_splits_and_inventions_are_told_apart() -> None:
    beam = [(10.0, 15.0), (20.0, 26.0), (40.0, 44.0), (60.0, 65.0), (70.0, 74.0), (80.0, 85.0),
            (100.0, 105.0), (120.0, 125.0)]  # fmt: skip
    events = [
        (10.2, 14.9),  # vehicle 0
        (20.1, 22.0), (25.0, 26.1),  # vehicle 1, split by a 3 s stall
        (50.0, 52.0),  # nobody was there; vehicle 2 was never reported
        (59.0, 66.0),  # vehicle 3 (stamps a little outside the beam time)
        (70.1, 84.0),  # vehicles 4 and 5 merged
        (107.0, 107.0),  # vehicle 6's frames, read in one burst after a stall
    ]  # fmt: skip
    m = match_events(beam, events, unseen=[7])  # vehicle 7 never reached the wire
    assert (m.lost, m.invented, m.unseen) == ([2], [(50.0, 52.0)], [7])
    assert (m.splits, m.merges) == ({1: [3.0]}, [(4, 5)])
    every_vehicle, reached = matching_checks(m, agent_transits=7, factor=60.0)
    assert not every_vehicle.ok and reached.ok
    assert "1 lost, 1 events with no vehicle" in every_vehicle.detail
    assert "1 never in a frame" in every_vehicle.detail
    assert "1 split, 1 merged" in every_vehicle.detail and "50-50 ms real" in every_vehicle.detail
    clean = match_events(beam, [(b[0] + 0.1, b[1] - 0.1) for b in beam])
    assert all(c.ok for c in matching_checks(clean, agent_transits=8, factor=60.0))
    assert not matching_checks(clean, agent_transits=9, factor=60.0)[1].ok  # one never arrived


def test_the_morning_rush_through_the_real_agent_is_flat_and_loses_nothing(
    tmp_path: Path,
) -> None:
    """What ``make soak`` checks over 24 h, over 20 simulated minutes of the morning rush at x20
    (a real minute; x20 rather than x60 so that a stall of a loaded machine up to 125 ms cannot
    split or merge transits). The soak runs in a process of its own, so its /proc figures are
    the agent's."""
    out = tmp_path / "soak.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--hours", "0.334", "--start-hour", "7.6",
         "--factor", "20", "--sample-every", "0.5", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert out.exists(), done.stderr[-2000:]
    result = json.loads(out.read_text())
    failed = [c for c in result["checks"] if not c["ok"]]
    assert not failed, done.stdout
    assert done.returncode == 0, done.stderr[-2000:]
    names = {c["name"] for c in result["checks"]}
    assert names == {
        "rss_mb flat", "threads flat", "fds flat", "no thread or fd left",
        "every vehicle reported", "every transit reached the consumer", "no gaps", "spool empty",
    }  # fmt: skip
    assert result["vehicles"] > 80  # the rush, not a trickle
    assert len(result["events"]) == result["transits"] >= result["vehicles"]
    assert result["spool_rows"] == 0 and result["consumer"]["missing"] == 0
    assert len(result["samples"]) > 40
