"""The on-disk spool: every message waits here until the broker has acknowledged it.

``put`` (called on the warning path) only appends to a memory queue and wakes the writer thread:
no thread that makes messages ever waits on the disk. The writer commits what arrived in one
transaction at most every ``batch_s`` (a warning or a fault is committed at once), deletes what
the broker acknowledged, and applies the caps: the spool's files stay within ``max_bytes`` of
disk plus one batch (``spool_db.disk_plan``; before a batch lands, routine messages are dropped
oldest first to make room for it), routine messages older than ``max_age_s`` expire, and warnings
and faults are kept (dropped only if they alone exceed the cap). Every drop is counted by stream
and recorded as a range of seqs, which the health report publishes so a consumer can tell loss
from delay.

The MQTT link takes committed messages in order (``take``), and each stays on disk until ``ack``;
``release`` puts unacknowledged ones back in front after a lost link. Rows left by an earlier
boot are replayed first, with their own boot id and seq.

If the file cannot be written (disk full, read-only, unusable) nothing crashes: the spool reports
``failed`` on the health board, keeps messages in memory (at most ``memory_max``; routine ones
beyond that are dropped and counted), lets the link send them from memory, and retries the disk
with backoff until it works again.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path

from pole_agent.health import HealthBoard
from pole_agent.ports import Clock
from pole_agent.telemetry import spool_db
from pole_agent.telemetry.outbox import OutMessage
from pole_agent.telemetry.spool_db import Dropped, DropRecord

log = logging.getLogger(__name__)

#: A batch is committed early once this many messages wait.
BATCH_MAX = 500
RETRY_MIN_S = 0.5
RETRY_MAX_S = 30.0
EXPIRY_EVERY_S = 10.0
RECENT_DROPS = 20
#: Rounds of dropping and measuring the file when making room (each round frees at least the
#: estimated excess; a few rounds absorb the estimate's error).
ROOM_ROUNDS = 16


def cost(messages: list[OutMessage]) -> int:
    """Estimated bytes the messages take as rows."""
    return sum(spool_db.row_cost(m) for m in messages)


@dataclass(frozen=True, slots=True)
class SpoolStats:
    state: str
    depth: int
    bytes: int  # payload bytes waiting
    disk_bytes: int  # the spool's files on disk (the capped quantity)
    max_bytes: int
    oldest_created: float | None
    dropped: dict[str, int]
    dropped_safety: int
    write_errors: int
    drops: list[DropRecord]


class Spool:
    def __init__(
        self,
        path: Path,
        *,
        boot_id: str,
        clock: Clock,
        max_bytes: int,
        max_age_s: float,
        batch_s: float = 0.5,
        memory_max: int = 10000,
        health: HealthBoard | None = None,
        max_pages: int | None = None,
    ) -> None:
        """``max_bytes`` caps the disk the spool's files use (at least
        ``spool_db.MIN_MAX_BYTES``). ``max_pages`` caps the SQLite file (PRAGMA
        max_page_count): tests use it to make SQLite itself report a full disk."""
        self.path = path
        self.boot_id = boot_id
        self._clock = clock
        self.max_bytes = max_bytes
        self._plan = spool_db.disk_plan(max_bytes)
        self._max_age_s = max_age_s
        self._batch_s = batch_s
        self._memory_max = memory_max
        self._health = health
        self._max_pages = max_pages
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._db_lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._incoming: deque[OutMessage] = deque()
        self._committing = 0  # messages taken from _incoming by a commit in progress
        self._urgent = False
        self._cursor = 0
        self._handed = 0
        self._releases = 0  # counts cursor rewinds, so a read that raced one is redone
        self._inflight: dict[int, OutMessage] = {}
        self._mem_inflight: list[OutMessage] = []
        self._acked: dict[int, int] = {}  # key -> size, acknowledged but not yet deleted
        self._rows = 0
        self._bytes = 0
        self._oldest: float | None = None
        self._failure: str | None = None
        self._retry_at = 0.0
        self._retry_s = RETRY_MIN_S
        self._last_expiry = float("-inf")
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="spool-writer", daemon=True)
        self.dropped_by_stream: Counter[str] = Counter()
        self.dropped_safety = 0
        self.write_errors = 0
        self.accepted = 0
        self._drops: deque[DropRecord] = deque(maxlen=RECENT_DROPS)
        self._open()

    # -- producers (any thread; never waits on the disk) ---------------------------------------

    def put(self, message: OutMessage) -> None:
        if not message.boot_id:
            message.boot_id = self.boot_id
        if not message.created:
            message.created = self._clock.wall().timestamp()
        with self._cond:
            self._incoming.append(message)
            self.accepted += 1
            if message.safety:
                self._urgent = True
            if len(self._incoming) > self._memory_max and self._failure is not None:
                self._shed_memory()
            self._cond.notify_all()

    # -- the link's side -------------------------------------------------------------------------

    def take(self, limit: int, timeout: float) -> list[OutMessage]:
        """Up to ``limit`` committed messages in order (from memory too while the disk fails),
        waiting up to ``timeout`` (real seconds) for the first."""
        deadline = time.monotonic() + timeout
        while True:
            out = self._read(limit)
            if out:
                return out
            with self._cond:
                if self._failure is not None and self._incoming:
                    while self._incoming and len(out) < limit:
                        message = self._incoming.popleft()
                        self._mem_inflight.append(message)
                        out.append(message)
                    return out
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stopping:
                    return []
                self._cond.wait(remaining)

    def _read(self, limit: int) -> list[OutMessage]:
        with self._db_lock:
            if self._conn is None:
                return []
            while True:
                try:
                    with self._lock:
                        cursor, releases = self._cursor, self._releases
                        # Past the highest row ever handed out nothing is acknowledged or in
                        # flight; below it (after a release) those rows are skipped: read more.
                        extra = (
                            0 if cursor >= self._handed else len(self._acked) + len(self._inflight)
                        )
                    rows = spool_db.read_after(self._conn, cursor, limit + extra)
                except sqlite3.Error as err:
                    log.warning("cannot read the spool: %s", err)
                    return []
                with self._lock:
                    # A release while the rows were read moved the cursor back: rows read from
                    # the old cursor would carry it past the released ones, so read again.
                    if self._releases == releases:
                        return self._hand_out(rows, limit)

    def _hand_out(self, rows: list[OutMessage], limit: int) -> list[OutMessage]:
        """Caller holds the lock."""
        out: list[OutMessage] = []
        for row in rows:
            if len(out) >= limit:
                break
            self._cursor = max(self._cursor, row.key)
            self._handed = max(self._handed, row.key)
            if row.key in self._acked or row.key in self._inflight:
                continue
            self._inflight[row.key] = row
            out.append(row)
        return out

    def ack(self, message: OutMessage) -> None:
        """The broker acknowledged ``message``: it may leave the spool."""
        with self._cond:
            if message.key:
                if self._inflight.pop(message.key, None) is not None:
                    self._acked[message.key] = len(message.payload)
            else:
                self._remove_mem(message)
            self._cond.notify_all()

    def release(self, messages: list[OutMessage]) -> None:
        """Unacknowledged messages go back in front, in their order (the link was lost)."""
        with self._cond:
            on_disk = [m.key for m in messages if m.key and m.key in self._inflight]
            for key in on_disk:
                del self._inflight[key]
            if on_disk:
                self._cursor = min(self._cursor, min(on_disk) - 1)
                self._releases += 1
            back = [m for m in messages if not m.key and self._remove_mem(m)]
            self._incoming.extendleft(reversed(back))
            self._cond.notify_all()

    def _remove_mem(self, message: OutMessage) -> bool:
        for index, held in enumerate(self._mem_inflight):
            if held is message:
                del self._mem_inflight[index]
                return True
        return False

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    # -- views -----------------------------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            return (
                self._rows
                - len(self._acked)
                + len(self._incoming)
                + self._committing
                + len(self._mem_inflight)
            )

    @property
    def dropped(self) -> int:
        """Messages dropped since start (all streams)."""
        return self.dropped_by_stream.total()

    @property
    def unwritten(self) -> int:
        """Messages put but not yet committed to disk."""
        with self._lock:
            return len(self._incoming) + self._committing

    @property
    def failure(self) -> str | None:
        return self._failure

    def stats(self) -> SpoolStats:
        with self._lock:
            oldest = self._oldest
            if oldest is None and self._incoming:
                oldest = self._incoming[0].created
            return SpoolStats(
                state="failed" if self._failure else "ok",
                depth=self._rows
                - len(self._acked)
                + len(self._incoming)
                + self._committing
                + len(self._mem_inflight),
                bytes=self._bytes,
                disk_bytes=spool_db.disk_use(self.path),
                max_bytes=self.max_bytes,
                oldest_created=oldest,
                dropped=dict(self.dropped_by_stream),
                dropped_safety=self.dropped_safety,
                write_errors=self.write_errors,
                drops=list(self._drops),
            )

    def pending_on(self, topic: str) -> int:
        """Messages of one topic not yet acknowledged (tests and status views)."""
        with self._db_lock:
            keys: list[int] = []
            if self._conn is not None:
                rows = self._conn.execute("SELECT id FROM spool WHERE topic = ?", (topic,))
                keys = [int(key) for (key,) in rows]
            with self._lock:
                memory = sum(1 for m in (*self._incoming, *self._mem_inflight) if m.topic == topic)
                return memory + sum(1 for key in keys if key not in self._acked)

    # -- life cycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Commit what is waiting and close the file."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        else:
            self._flush()
        with self._db_lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # -- the writer thread -----------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._stopping and not self._has_work():
                    self._cond.wait(EXPIRY_EVERY_S)
                deadline = time.monotonic() + self._batch_s
                while not (self._stopping or self._urgent) and len(self._incoming) < BATCH_MAX:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                stopping = self._stopping
            try:
                self._flush()
            except Exception:  # the writer must outlive any surprise; it retries
                log.exception("spool writer failed")
            if stopping:
                return
            if self._failure is not None:
                with self._cond:
                    self._cond.wait(max(0.0, self._retry_at - time.monotonic()))

    def _has_work(self) -> bool:
        return bool(self._incoming or self._acked)

    def _flush(self) -> None:
        if self._failure is not None and time.monotonic() < self._retry_at and not self._stopping:
            return
        if self._conn is None and not self._open():
            return
        now = self._clock.wall().timestamp()
        with self._db_lock:
            with self._lock:
                # One batch is at most BATCH_MAX messages (what the disk cap allows beyond
                # itself); more waiting are the next batch, at once.
                items = [
                    self._incoming.popleft() for _ in range(min(BATCH_MAX, len(self._incoming)))
                ]
                self._urgent = bool(self._incoming)
                self._committing = len(items)
                acked = dict(self._acked)
                cursor = self._cursor
            try:
                dropped = self._commit(items, acked, cursor, now)
            except sqlite3.Error as err:
                with self._lock:
                    self._incoming.extendleft(reversed(items))
                    self._committing = 0
                self._fail(f"cannot write the spool: {err}")
                return
        with self._cond:
            self._committing = 0
            for key in acked:
                self._acked.pop(key, 0)
            self._cond.notify_all()  # the link may take what was just committed
        self._account(dropped, now)
        if self._failure is not None:
            self._recovered()

    def _commit(
        self, items: list[OutMessage], acked: dict[int, int], cursor: int, now: float
    ) -> list[tuple[str, list[Dropped]]]:
        assert self._conn is not None
        conn = self._conn
        run_expiry = now - self._last_expiry >= EXPIRY_EVERY_S
        try:
            conn.execute("BEGIN IMMEDIATE")
            spool_db.delete(conn, acked)
            size = self._bytes - sum(acked.values())
            dropped: list[tuple[str, list[Dropped]]] = []
            if run_expiry:
                expired = spool_db.pick_expired(conn, before=now - self._max_age_s, after=cursor)
                spool_db.delete(conn, (d.key for d in expired))
                dropped.append(("expired", expired))
                size -= sum(d.size for d in expired)
            # Room for the batch first, so the file does not grow past the cap to take it:
            # routine rows go before safety ones, and older before newer, the batch's own
            # included (the batch is newer than every row on disk).
            full: list[Dropped] = []
            unwritten: list[Dropped] = []
            kept = items
            for safety in (False, True):
                full += self._make_room(conn, cursor, cost(kept), safety=safety)
                room = self._plan.data_bytes - spool_db.live_bytes(conn)
                kept, out = self._fit(kept, room, safety=safety)
                unwritten += out
            spool_db.insert(conn, kept)
            # What the estimate of the rows' sizes missed.
            for safety in (False, True):
                full += self._make_room(conn, cursor, 0, safety=safety)
            size += sum(len(m.payload) for m in kept) - sum(d.size for d in full)
            full += unwritten
            if full:
                dropped.append(("full", full))
            for reason, rows in dropped:
                spool_db.record_drops(conn, spool_db.coalesce(rows, reason, now))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error as err:
                    log.warning("spool rollback failed: %s", err)
            raise
        if run_expiry:
            self._last_expiry = now
        removed = len(acked) + sum(1 for _, rows in dropped for row in rows if row.key)
        oldest = spool_db.oldest_created(conn)
        with self._lock:
            self._rows += len(kept) - removed
            self._committing = 0
            self._bytes, self._oldest = size, oldest
        return dropped

    def _make_room(
        self, conn: sqlite3.Connection, cursor: int, incoming: int, *, safety: bool
    ) -> list[Dropped]:
        """Drop the oldest rows of one kind not handed to the link until the database's pages
        in use plus ``incoming`` estimated bytes fit its share of the cap. Runs inside the
        writing transaction."""
        out: list[Dropped] = []
        for _ in range(ROOM_ROUNDS):
            excess = spool_db.live_bytes(conn) + incoming - self._plan.data_bytes
            if excess <= 0:
                break
            rows = spool_db.pick_oldest(conn, safety=safety, after=cursor, need_bytes=excess)
            if not rows:
                break
            spool_db.delete(conn, (d.key for d in rows))
            out += rows
        return out

    @staticmethod
    def _fit(
        items: list[OutMessage], room: int, *, safety: bool
    ) -> tuple[list[OutMessage], list[Dropped]]:
        """A batch bigger than the room left: its own oldest messages of one kind are dropped
        before they are written."""
        excess = cost(items) - room
        out: set[int] = set()
        for index, message in enumerate(items):
            if excess <= 0:
                break
            if message.safety == safety:
                out.add(index)
                excess -= spool_db.row_cost(message)
        unwritten = [spool_db.unwritten(m) for index, m in enumerate(items) if index in out]
        return [m for index, m in enumerate(items) if index not in out], unwritten

    def _account(self, dropped: list[tuple[str, list[Dropped]]], now: float) -> None:
        total = 0
        for reason, rows in dropped:
            if not rows:
                continue
            total += len(rows)
            with self._lock:
                for row in rows:
                    self.dropped_by_stream[row.stream] += 1
                    self.dropped_safety += row.safety
                self._add_drops(spool_db.coalesce(rows, reason, now))
            log.warning(
                "spool %s: dropped %d message(s) (%s)",
                "full" if reason == "full" else "age limit",
                len(rows),
                ", ".join(sorted({r.stream for r in rows})),
            )
        if total and self._health is not None and self.dropped_safety:
            reason = f"{self.dropped_safety} safety event(s) dropped: the spool cap is too small"
            self._health.report("spool", "degraded", reason, self._clock.monotonic())

    def _shed_memory(self) -> None:
        """Caller holds the lock: the disk cannot be written and memory is full. Routine
        messages go first; safety ones only past twice the bound."""
        excess = len(self._incoming) - self._memory_max
        shed = [m for m in self._incoming if not m.safety][:excess]
        still = len(self._incoming) - len(shed) - 2 * self._memory_max
        if still > 0:
            shed += [m for m in self._incoming if m.safety][:still]
        ids = {id(m) for m in shed}
        self._incoming = deque(m for m in self._incoming if id(m) not in ids)
        now = self._clock.wall().timestamp()
        rows = [spool_db.unwritten(m) for m in shed]
        for row in rows:
            self.dropped_by_stream[row.stream] += 1
            self.dropped_safety += row.safety
        self._add_drops(spool_db.coalesce(rows, "memory", now))

    def _add_drops(self, records: list[DropRecord]) -> None:
        """Caller holds the lock."""
        recent = list(self._drops)
        for record in records:
            if not spool_db.merge_drop(recent, record):
                recent.append(record)
        self._drops = deque(recent[-RECENT_DROPS:], maxlen=RECENT_DROPS)

    # -- opening, failing, recovering ------------------------------------------------------------

    def _open(self) -> bool:
        try:
            conn = spool_db.open_db(self.path, self._max_pages, self._plan.wal_pages)
            rows, size = spool_db.totals(conn)
            oldest = spool_db.oldest_created(conn)
            drops = spool_db.recent_drops(conn, RECENT_DROPS)
        except (sqlite3.Error, OSError) as err:
            self._fail(f"cannot open the spool {self.path}: {err}")
            return False
        with self._db_lock:
            self._conn = conn
        with self._lock:
            self._rows, self._bytes, self._oldest = rows, size, oldest
            self._drops.extend(drops)
        if rows:
            log.info("spool %s: %d message(s) from earlier boots to send", self.path, rows)
        if self._failure is not None:
            self._recovered()
        elif self._health is not None:
            # The reason is fixed at open: how many waiting lives in the spool report (depth).
            reason = f"open, {rows} from earlier boots" if rows else "open"
            self._health.report("spool", "ok", reason, self._clock.monotonic())
        return True

    def _fail(self, reason: str) -> None:
        # The health board hears it first (outside the lock: its listeners publish through this
        # spool), so whoever sees ``failure`` set also finds the board saying failed.
        if self._health is not None:
            self._health.report("spool", "failed", reason, self._clock.monotonic())
        with self._cond:
            first = self._failure is None
            self._failure = reason
            self.write_errors += 1
            self._retry_at = time.monotonic() + self._retry_s
            self._retry_s = min(RETRY_MAX_S, self._retry_s * 2)
            if len(self._incoming) > self._memory_max:
                self._shed_memory()
            self._cond.notify_all()  # the link may now send from memory
        if first:
            log.error("%s; messages wait in memory (at most %d)", reason, self._memory_max)

    def _recovered(self) -> None:
        if self._health is not None:  # first, as in _fail
            self._health.report("spool", "ok", "writable again", self._clock.monotonic())
        with self._cond:
            self._failure = None
            self._retry_s = RETRY_MIN_S
        log.info("spool %s writable again", self.path)

    def set_max_pages(self, max_pages: int | None) -> None:
        """Change the file's page cap (tests: fill and then free the 'disk')."""
        self._max_pages = max_pages
        with self._db_lock:
            if self._conn is not None:
                self._conn.execute(f"PRAGMA max_page_count={int(max_pages or 1073741823)}")
