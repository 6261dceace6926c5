"""Atomic writes: the new content or the old, the mode asked for, and no leftovers kept."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from pole_agent.atomic_file import LEFTOVER_AGE_S, remove_leftovers, write_atomic


def test_a_write_replaces_the_file_with_the_mode_asked_for(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "config.json"
    write_atomic(target, b"one")
    write_atomic(target, b"two", 0o640)
    assert target.read_bytes() == b"two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in target.parent.iterdir()] == ["config.json"]


def test_what_an_interrupted_write_left_is_removed_once_old(tmp_path: Path) -> None:
    target = tmp_path / "applied.json"
    old = tmp_path / ".applied.json.abc123.tmp"  # a power cut between create and rename
    young = tmp_path / ".applied.json.def456.tmp"  # another writer, mid-write
    other = tmp_path / ".other.json.zzz.tmp"  # not this file's
    for leftover in (old, young, other):
        leftover.write_bytes(b"half")
    past = time.time() - LEFTOVER_AGE_S - 5
    os.utime(old, (past, past))
    os.utime(other, (past, past))
    write_atomic(target, b"{}")
    assert not old.exists()
    assert young.exists() and other.exists()
    assert remove_leftovers(tmp_path / "other.json") == 1
