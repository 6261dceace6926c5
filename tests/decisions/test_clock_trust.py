"""When wall time is trusted: the rule, the saved mark (atomic, damage-tolerant), the kernel
probe."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pole_agent.decisions.clock_trust import (
    BUILD_DATE,
    ClockTrust,
    TimeMark,
    assess,
    kernel_clock_synchronised,
)

SAVED = datetime(2027, 5, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("wall", "synced", "saved", "trusted", "source"),
    [
        (datetime(2020, 1, 1, tzinfo=UTC), True, SAVED, True, "kernel"),
        (datetime(2020, 1, 1, tzinfo=UTC), False, None, False, "none"),
        (datetime(2020, 1, 1, tzinfo=UTC), None, None, False, "none"),
        (BUILD_DATE - timedelta(seconds=1), False, None, False, "none"),
        (BUILD_DATE, False, None, True, "plausible"),
        (SAVED - timedelta(days=30), False, SAVED, False, "none"),
        (SAVED - timedelta(minutes=4), False, SAVED, True, "plausible"),
        (SAVED + timedelta(hours=1), None, SAVED, True, "plausible"),
    ],
)
def test_rule(
    wall: datetime, synced: bool | None, saved: datetime | None, trusted: bool, source: str
) -> None:
    verdict = assess(wall, kernel_synced=synced, last_saved=saved)
    assert verdict.trusted is trusted
    assert verdict.source == source
    assert verdict.reason


def test_reason_says_why() -> None:
    verdict = assess(datetime(2020, 1, 1, 3, 0, tzinfo=UTC), kernel_synced=False)
    assert verdict.reason == "wall clock 2020-01-01 03:00Z is before the build date 2026-11-01"
    verdict = assess(SAVED - timedelta(days=1), kernel_synced=False, last_saved=SAVED)
    assert "before the last saved time 2027-05-01 08:00Z" in verdict.reason


def test_mark_round_trip_and_atomic_write(tmp_path: Path) -> None:
    mark = TimeMark(tmp_path / "clock-mark")
    assert mark.load() is None
    mark.save(SAVED)
    assert mark.load() == SAVED
    assert not (tmp_path / "clock-mark.tmp").exists()
    assert (tmp_path / "clock-mark").read_text() == "2027-05-01T08:00:00+00:00\n"


@pytest.mark.parametrize("content", [b"", b"yesterday", b"2027-05-01T08:00:00", b"\xff\xfe"])
def test_damaged_mark_reads_as_none(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "clock-mark").write_bytes(content)
    assert TimeMark(tmp_path / "clock-mark").load() is None


class Probe:
    """A kernel sync probe the test sets."""

    def __init__(self, answer: bool | None) -> None:
        self.answer = answer
        self.calls = 0

    def __call__(self) -> bool | None:
        self.calls += 1
        return self.answer


def test_trust_saves_only_trusted_and_later_times(tmp_path: Path) -> None:
    probe = Probe(False)
    trust = ClockTrust(TimeMark(tmp_path / "m"), kernel_sync=probe)
    assert trust.save(datetime(2020, 1, 1, tzinfo=UTC)) is False  # not trusted
    assert not (tmp_path / "m").exists()
    assert trust.save(SAVED) is True
    assert trust.save(SAVED - timedelta(hours=1)) is False  # not later
    assert trust.last_saved == SAVED
    # A new boot reads the mark: a clock a day behind it is not trusted, unless synced.
    again = ClockTrust(TimeMark(tmp_path / "m"), kernel_sync=probe)
    assert again.verdict(SAVED - timedelta(days=1)).trusted is False
    probe.answer = True
    assert again.verdict(SAVED - timedelta(days=1)).trusted is True
    assert probe.calls >= 2


def test_a_failing_probe_counts_as_unknown(tmp_path: Path) -> None:
    def broken() -> bool | None:
        raise RuntimeError("no")

    trust = ClockTrust(TimeMark(tmp_path / "m"), kernel_sync=broken)
    assert trust.verdict(datetime(2020, 1, 1, tzinfo=UTC)).trusted is False
    assert trust.verdict(BUILD_DATE + timedelta(days=1)).source == "plausible"


def test_save_into_an_unwritable_folder_is_reported_not_raised(tmp_path: Path) -> None:
    trust = ClockTrust(TimeMark(tmp_path / "absent" / "m"), kernel_sync=Probe(True))
    assert trust.save(SAVED) is False


def test_kernel_probe_answers_here() -> None:
    # Linux answers True or False (this machine's clock may or may not be synchronised).
    answer = kernel_clock_synchronised()
    if os.uname().sysname == "Linux":
        assert answer in (True, False)
