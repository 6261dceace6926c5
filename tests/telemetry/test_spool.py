"""The spool without a broker: restarts, the caps, a full disk, a corrupt file, kill -9."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pole_agent.clock import ManualClock
from pole_agent.health import HealthBoard
from pole_agent.telemetry.messages import VehicleEvent, encode, mark_historical
from pole_agent.telemetry.outbox import OutMessage
from pole_agent.telemetry.spool import Spool
from pole_agent.telemetry.spool_db import (
    MIN_MAX_BYTES,
    PAGE_SIZE,
    disk_plan,
    disk_use,
    row_cost,
    seq_of,
)

VEHICLES = "spole/p-1/events/vehicle"
WARNINGS = "spole/p-1/events/warning"


def payload(seq: int, pad: int = 0) -> bytes:
    return (
        f'{{"schema_version":1,"pole_id":"p-1","boot_id":"b","seq":{seq},"pad":"{"x" * pad}",'
        f'"historical":false}}'
    ).encode()


def make(path: Path, clock: ManualClock, **kw: object) -> Spool:
    options: dict[str, object] = {"max_bytes": 1 << 20, "max_age_s": 3600.0, "batch_s": 0.01}
    options.update(kw)
    spool = Spool(path, boot_id=str(options.pop("boot_id", "boot-a")), clock=clock, **options)  # type: ignore[arg-type]
    spool.start()
    return spool


def wait_for(predicate: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def drain(spool: Spool, count: int) -> list[OutMessage]:
    out: list[OutMessage] = []
    while len(out) < count:
        batch = spool.take(min(100, count - len(out)), timeout=5)
        assert batch, f"{len(out)} of {count}"
        for message in batch:
            spool.ack(message)
        out += batch
    return out


def test_encode_puts_historical_last_and_mark_flips_it() -> None:
    from datetime import UTC, datetime

    event = VehicleEvent(
        pole_id="p-1", boot_id="b", seq=3, ts=datetime(2026, 3, 2, tzinfo=UTC), transit_id=1,
        start=datetime(2026, 3, 2, tzinfo=UTC), speed_kmh=30.0, median_kmh=29.0,
        direction="approaching", samples=5, limit_kmh=30.0, zone_active=True,
        over_limit=False, warned=False,
    )  # fmt: skip
    live = encode(event)
    assert live.endswith(b',"historical":false}')
    assert VehicleEvent.model_validate_json(mark_historical(live)).historical is True
    assert mark_historical(b'{"a":1}') == b'{"a":1}'
    assert seq_of(live) == 3


def test_what_an_earlier_boot_left_is_replayed_first_in_order(tmp_path: Path) -> None:
    clock = ManualClock()
    first = make(tmp_path / "s.db", clock, boot_id="boot-a")
    for n in range(1, 6):
        first.put(OutMessage(VEHICLES, payload(n)))
    assert wait_for(lambda: first.stats().bytes > 0 and len(first) == 5)
    first.close()

    second = make(tmp_path / "s.db", clock, boot_id="boot-b")
    try:
        second.put(OutMessage(VEHICLES, payload(1)))
        got = drain(second, 6)
        assert [m.boot_id for m in got] == ["boot-a"] * 5 + ["boot-b"]
        assert [seq_of(m.payload) for m in got] == [1, 2, 3, 4, 5, 1]
        assert wait_for(lambda: len(second) == 0)
    finally:
        second.close()


def test_a_release_landing_while_rows_are_read_loses_no_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The link's thread releases what was in flight (the broker went away) while the drain
    thread is reading the next rows: those rows start after the old cursor, and must not carry
    it past the released ones (a clean-clone CI run once stalled with four events never sent)."""
    from pole_agent.telemetry import spool_db

    clock = ManualClock()
    spool = make(tmp_path / "s.db", clock)
    try:
        for n in range(1, 11):
            spool.put(OutMessage(VEHICLES, payload(n)))
        assert wait_for(lambda: spool.stats().bytes > 0 and spool.unwritten == 0)
        in_flight = spool.take(4, timeout=5)  # seqs 1-4 go out; the broker never acks them
        real_read = spool_db.read_after
        landed: list[bool] = []

        def read_racing_a_release(
            conn: sqlite3.Connection, cursor: int, limit: int
        ) -> list[OutMessage]:
            rows = real_read(conn, cursor, limit)
            if not landed:  # the link loses the broker just as these rows come off the disk
                landed.append(True)
                spool.release(in_flight)
            return rows

        monkeypatch.setattr(spool_db, "read_after", read_racing_a_release)
        got = drain(spool, 10)
        assert landed
        assert [seq_of(m.payload) for m in got] == list(range(1, 11))
    finally:
        spool.close()


def test_full_spool_drops_routine_oldest_first_keeps_safety_and_records_ranges(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    cap = MIN_MAX_BYTES
    spool = make(tmp_path / "s.db", clock, max_bytes=cap)
    try:
        for n in range(1, 1001):
            spool.put(OutMessage(VEHICLES, payload(n, pad=200)))
            if n % 100 == 0:
                spool.put(OutMessage(WARNINGS, payload(n // 100, pad=200), safety=True))
        assert wait_for(lambda: spool.unwritten == 0 and spool.dropped > 0)
        stats = spool.stats()
        assert stats.disk_bytes <= cap + BATCH_PAGES * PAGE_SIZE
        assert stats.dropped_safety == 0
        assert stats.dropped["events/vehicle"] == spool.dropped
        (drop,) = stats.drops
        assert (drop.stream, drop.first_seq, drop.reason) == ("events/vehicle", 1, "full")
        assert drop.last_seq == drop.count == spool.dropped
        kept = drain(spool, len(spool))
        seqs = [seq_of(m.payload) for m in kept if m.topic == VEHICLES]
        assert seqs == list(range(drop.last_seq + 1, 1001))  # the newest, in order
        assert sum(1 for m in kept if m.safety) == 10  # every warning
        assert len(kept) > 100  # the cap is not used up by the files' fixed costs
    finally:
        spool.close()


#: What one batch of the tests below may add to the disk while it is written (the write-ahead
#: log past its checkpoint size holds the batch's transaction): the batch's own pages (50 rows
#: of about 400 bytes) and the pages its transaction touches besides (the table's inner pages,
#: the emptied pages' bookkeeping, the drop records, the file header): 6 to 21 in all, measured
#: for caps of 128 KiB to 64 MiB.
BATCH_PAGES = 5 + 20


@pytest.mark.parametrize("cap", [MIN_MAX_BYTES, 1 << 20])
def test_the_files_on_disk_stay_within_the_cap_plus_one_batch(tmp_path: Path, cap: int) -> None:
    """Reliability row 3: "disk use at most cap + one batch". The database, its write-ahead log
    and the log's index are measured on disk after every batch of 50, while three times the cap
    is pushed through; routine messages make room oldest first."""
    clock = ManualClock()
    spool = make(tmp_path / "s.db", clock, max_bytes=cap)
    per_batch, peak, n = 50, 0, 0
    try:
        while n * 330 < 3 * cap:
            for _ in range(per_batch):
                n += 1
                spool.put(OutMessage(VEHICLES, payload(n, pad=200)))
            assert wait_for(lambda: spool.unwritten == 0)
            peak = max(peak, disk_use(tmp_path / "s.db"))
        assert wait_for(lambda: spool.stats().drops != [])
        kept = len(spool)
        assert spool.dropped + kept == n
        # The database's share of the cap holds messages, but for its own fixed pages (the
        # schema, the drop records) and a partly emptied first page: at most 8 pages.
        row = row_cost(OutMessage(VEHICLES, payload(n, pad=200), boot_id="boot-a"))
        assert kept * row > disk_plan(cap).data_bytes - 8 * PAGE_SIZE, kept
    finally:
        spool.close()
    assert peak <= cap + BATCH_PAGES * PAGE_SIZE, (peak, cap)
    assert peak > cap * 0.8, (peak, cap)  # the cap was really reached


def test_a_smaller_cap_at_restart_gives_the_free_pages_back(tmp_path: Path) -> None:
    """Pages freed while the pole ran are reused, not returned; at the next start they go back
    to the file system, so a cap lowered by the city is met by the file itself."""
    clock = ManualClock()
    spool = make(tmp_path / "s.db", clock, max_bytes=4 << 20)
    try:
        for n in range(1, 5001):
            spool.put(OutMessage(VEHICLES, payload(n, pad=200)))
        assert wait_for(lambda: spool.unwritten == 0)
        drain(spool, 4900)
        assert wait_for(lambda: len(spool) == 100)
    finally:
        spool.close()
    assert disk_use(tmp_path / "s.db") > 1 << 20
    spool = make(tmp_path / "s.db", clock, max_bytes=MIN_MAX_BYTES)
    try:
        assert disk_use(tmp_path / "s.db") <= MIN_MAX_BYTES
        kept = drain(spool, 100)
        assert [seq_of(m.payload) for m in kept] == list(range(4901, 5001))
    finally:
        spool.close()


def test_safety_events_are_dropped_only_when_they_alone_exceed_the_cap(tmp_path: Path) -> None:
    clock = ManualClock()
    health = HealthBoard()
    spool = make(tmp_path / "s.db", clock, max_bytes=MIN_MAX_BYTES, health=health)
    try:
        for n in range(1, 601):
            spool.put(OutMessage(WARNINGS, payload(n, pad=300), safety=True))
        assert wait_for(lambda: spool.dropped_safety > 0 and spool.unwritten == 0)
        assert spool.stats().disk_bytes <= MIN_MAX_BYTES + BATCH_PAGES * PAGE_SIZE
        component = health.get("spool")
        assert component is not None and component.state == "degraded"
    finally:
        spool.close()


def test_routine_messages_expire_after_the_age_limit(tmp_path: Path) -> None:
    clock = ManualClock()
    spool = make(tmp_path / "s.db", clock, max_age_s=600.0)
    try:
        for n in range(1, 4):
            spool.put(OutMessage(VEHICLES, payload(n)))
        spool.put(OutMessage(WARNINGS, payload(1), safety=True))
        assert wait_for(lambda: spool.stats().bytes > 0 and len(spool) == 4)
        clock.advance(601.0)
        spool.put(OutMessage(VEHICLES, payload(4)))
        assert wait_for(lambda: spool.dropped == 3)
        assert spool.stats().drops[-1].reason == "expired"
        kept = drain(spool, 2)
        assert [(m.topic, seq_of(m.payload)) for m in kept] == [(WARNINGS, 1), (VEHICLES, 4)]
    finally:
        spool.close()


def test_a_full_disk_is_reported_survived_and_recovered(tmp_path: Path) -> None:
    """SQLite's own 'database or disk is full' (the file capped at its current size): nothing
    raises, the health board says failed, messages still flow from memory, and when space
    returns everything waiting is written and the spool is ok again (reliability row 12)."""
    clock = ManualClock()
    health = HealthBoard()
    spool = make(tmp_path / "s.db", clock, health=health)
    try:
        spool.put(OutMessage(VEHICLES, payload(1)))
        assert wait_for(lambda: spool.stats().bytes > 0)
        pages = os.path.getsize(tmp_path / "s.db") // 4096
        spool.set_max_pages(pages)
        for n in range(2, 400):
            spool.put(OutMessage(VEHICLES, payload(n, pad=500)))
        assert wait_for(lambda: spool.failure is not None)
        component = health.get("spool")
        assert component is not None and component.state == "failed"
        assert "full" in component.reason
        assert spool.stats().state == "failed"
        sent = drain(spool, 10)  # the link can still send, from the file and then memory
        assert [seq_of(m.payload) for m in sent] == list(range(1, 11))
        spool.set_max_pages(None)
        assert wait_for(lambda: spool.failure is None, 40)
        component = health.get("spool")
        assert component is not None and component.state == "ok"
        rest = drain(spool, 389)
        assert [seq_of(m.payload) for m in rest] == list(range(11, 400))
        assert spool.dropped == 0
    finally:
        spool.close()


def test_a_corrupt_file_is_moved_aside_and_a_new_spool_started(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_bytes(b"this is not a database" * 200)
    spool = make(path, ManualClock())
    try:
        spool.put(OutMessage(VEHICLES, payload(1)))
        assert [seq_of(m.payload) for m in drain(spool, 1)] == [1]
    finally:
        spool.close()
    assert list(tmp_path.glob("s.db.corrupt-*"))


def test_an_unwritable_place_runs_from_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    health = HealthBoard()
    spool = make(blocker / "s.db", ManualClock(), health=health)
    try:
        spool.put(OutMessage(VEHICLES, payload(1)))
        assert [seq_of(m.payload) for m in drain(spool, 1)] == [1]
        component = health.get("spool")
        assert component is not None and component.state == "failed"
    finally:
        spool.close()


WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from pole_agent.clock import SystemClock
    from pole_agent.telemetry.outbox import OutMessage
    from pole_agent.telemetry.spool import Spool
    spool = Spool(Path(sys.argv[1]), boot_id="k", clock=SystemClock(), max_bytes=1 << 30,
                  max_age_s=3600, batch_s=0.005)
    spool.start()
    n = 0
    while True:
        n += 1
        body = '{"schema_version":1,"pole_id":"p-1","boot_id":"k","seq":%d,"historical":false}'
        spool.put(OutMessage("spole/p-1/events/vehicle", (body % n).encode()))
        if n % 50 == 0:
            print(n, flush=True)
            time.sleep(0.001)
    """
)


@pytest.mark.parametrize("round_", range(3))
def test_kill9_during_writes_leaves_a_readable_spool_with_a_gapless_prefix(
    tmp_path: Path, round_: int
) -> None:
    path = tmp_path / "s.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        for _ in range(20 + 15 * round_):
            proc.stdout.readline()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        seqs = [int(s) for (s,) in db.execute("SELECT seq FROM spool ORDER BY id")]
    assert seqs and seqs == list(range(1, len(seqs) + 1))
