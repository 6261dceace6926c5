"""The consumer's ledger: de-duplication, gaps, dropped versus missing."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pole_agent.fleet.ledger import Ledger, RangeSet


def test_rangeset_merges_and_finds_holes() -> None:
    ranges = RangeSet()
    assert ranges.add(5) == 1
    assert ranges.add(5) == 0
    assert ranges.add(1, 3) == 3
    assert ranges.add(4) == 1
    assert ranges.ranges() == [(1, 5)]
    ranges.add(9, 10)
    assert ranges.holes(1, 12) == [(6, 8), (11, 12)]
    assert 9 in ranges and 7 not in ranges


@given(st.lists(st.integers(1, 200), max_size=300))
def test_rangeset_matches_a_set(values: list[int]) -> None:
    ranges = RangeSet()
    seen: set[int] = set()
    for value in values:
        assert ranges.add(value) == (value not in seen)
        seen.add(value)
    assert len(ranges) == len(seen)
    holes = {v for lo, hi in ranges.holes(1, 200) for v in range(lo, hi + 1)}
    assert holes == set(range(1, 201)) - seen


def test_duplicates_late_arrivals_and_gaps() -> None:
    ledger = Ledger()
    for seq in (1, 2, 5, 2, 6):
        ledger.record("p", "events/vehicle", "b", seq)
    stream = ledger.streams[("p", "events/vehicle", "b")]
    assert stream.duplicates == 1 and stream.late == 0
    (gap,) = ledger.gaps()
    assert (gap.first_seq, gap.last_seq, gap.kind) == (3, 4, "missing")
    ledger.record("p", "events/vehicle", "b", 3, historical=True)
    assert stream.late == 1
    ledger.note_dropped("p", "events/vehicle", "b", 4, 4)
    (gap,) = ledger.gaps()
    assert (gap.first_seq, gap.kind) == (4, "dropped")


def test_a_drop_report_beyond_what_arrived_counts_as_dropped() -> None:
    ledger = Ledger()
    ledger.record("p", "stats", "b", 1)
    ledger.note_dropped("p", "stats", "b", 2, 5)
    assert [(g.first_seq, g.last_seq, g.kind) for g in ledger.gaps()] == [(2, 5, "dropped")]


def test_status_is_not_counted() -> None:
    ledger = Ledger()
    assert ledger.record("p", "status", "b", 3) == "uncounted"
    assert ledger.gaps() == []
