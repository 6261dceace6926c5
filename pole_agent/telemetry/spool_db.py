"""The spool's SQLite file: schema, opening (with recovery), and the statements it runs.

SQLite in WAL mode: a commit appends to the write-ahead log without rewriting the database, a
reader never blocks the writer, and after a kill or a power cut the file opens with every
committed transaction or cleanly without the last ones (never half-written). ``synchronous=NORMAL``
syncs the log at checkpoints rather than at every commit, which spares the SD card; the price is
that a power cut (not a crash of the agent) may lose the last commits before a checkpoint.

The cap is on the disk, not on the payloads: the spool's files (the database, its write-ahead
log and the log's index) stay within ``max_bytes`` plus the pages of one batch
(docs/reliability.md, row 3). ``disk_plan`` splits the cap: the index's fixed size, a write-ahead
log checkpointed and truncated at ``wal_pages``, and the rest for the database's pages in use,
which ``live_bytes`` reads inside the writing transaction (so the spool drops before the file
grows, not after).

Only the spool's threads use the connection, one at a time (the spool holds its lock).
"""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pole_agent.telemetry import topics
from pole_agent.telemetry.outbox import OutMessage

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    stream TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    safety INTEGER NOT NULL,
    boot_id TEXT NOT NULL,
    seq INTEGER,
    epoch INTEGER NOT NULL,
    created REAL NOT NULL,
    size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS drops (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    boot_id TEXT NOT NULL,
    stream TEXT NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    count INTEGER NOT NULL,
    reason TEXT NOT NULL
);
"""

#: Drop records kept in the file (the health report shows the last few).
KEEP_DROPS = 200

#: SQLite's page size for new spool files (its default): one page per flash write unit.
PAGE_SIZE = 4096
#: The write-ahead log's index (``-shm``): 32 KiB for logs of up to about 4,000 pages.
SHM_BYTES = 32 * 1024
#: The write-ahead log is checkpointed (and truncated back) past this share of the cap ...
WAL_SHARE = 8
#: ... within these bounds (pages): 32 KiB for the smallest caps, 4 MiB for large ones.
WAL_PAGES_MIN = 8
WAL_PAGES_MAX = 1024
#: The smallest cap that leaves the database room: the index, the smallest log, and 16 pages.
MIN_MAX_BYTES = 128 * 1024
#: Bytes a row costs besides its payload, topic, stream and boot id (the record header, the
#: integer and real columns, the cell pointer and rowid): an estimate used to pick how many rows
#: to drop; what the file holds is then measured, not estimated.
ROW_OVERHEAD = 48
#: Rows dropped per round when making room (the page count is read again after each round).
_PICK_CHUNK = 256

_SEQ = re.compile(rb'"seq":(\d{1,18})[,}]')


def seq_of(payload: bytes) -> int | None:
    """The top-level ``seq`` of a payload made by ``messages.encode`` (the first "seq" key: the
    fields before it are strings, in which an unescaped quote cannot occur)."""
    match = _SEQ.search(payload)
    return int(match.group(1)) if match else None


def stream_of(topic: str) -> str:
    parsed = topics.parse(topic)
    return parsed[1] if parsed else topic


@dataclass(frozen=True, slots=True)
class Dropped:
    key: int
    stream: str
    seq: int | None
    boot_id: str
    size: int
    safety: bool


def unwritten(message: OutMessage) -> Dropped:
    """A message dropped before it reached the file (no row: key 0)."""
    return Dropped(
        0,
        stream_of(message.topic),
        seq_of(message.payload),
        message.boot_id,
        len(message.payload),
        message.safety,
    )


@dataclass(frozen=True, slots=True)
class DropRecord:
    at: float
    boot_id: str
    stream: str
    first_seq: int
    last_seq: int
    count: int
    reason: str


@dataclass(frozen=True, slots=True)
class DiskPlan:
    """How a cap on the spool's disk use is shared between its files."""

    max_bytes: int
    wal_pages: int
    data_bytes: int  # the database's pages in use may take this much

    @property
    def wal_bytes(self) -> int:
        return wal_bytes(self.wal_pages)


def wal_bytes(pages: int) -> int:
    """A write-ahead log of ``pages`` frames: each a page and its 24-byte header, after the
    log's own 32-byte header."""
    return 32 + pages * (PAGE_SIZE + 24)


def disk_plan(max_bytes: int) -> DiskPlan:
    """Split ``max_bytes`` (at least ``MIN_MAX_BYTES``) between the log's index, the log and
    the database."""
    if max_bytes < MIN_MAX_BYTES:
        raise ValueError(f"spool cap {max_bytes} bytes is below the minimum {MIN_MAX_BYTES}")
    wal_pages = max(WAL_PAGES_MIN, min(WAL_PAGES_MAX, max_bytes // WAL_SHARE // PAGE_SIZE))
    return DiskPlan(max_bytes, wal_pages, max_bytes - SHM_BYTES - wal_bytes(wal_pages))


def disk_use(path: Path) -> int:
    """Bytes the spool's files take: the database, its write-ahead log and the log's index."""
    total = 0
    for name in (path.name, path.name + "-wal", path.name + "-shm"):
        try:
            total += (path.with_name(name)).stat().st_size
        except OSError:
            continue
    return total


def live_bytes(conn: sqlite3.Connection) -> int:
    """The database's pages in use (not free), as the current transaction sees them."""
    pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
    size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    return (pages - free) * size


def row_cost(message: OutMessage) -> int:
    """Estimated bytes a message takes as a row (see ``ROW_OVERHEAD``)."""
    return (
        len(message.payload)
        + len(message.topic)
        + len(stream_of(message.topic))
        + len(message.boot_id)
        + ROW_OVERHEAD
    )


def open_db(
    path: Path, max_pages: int | None = None, wal_pages: int = WAL_PAGES_MAX
) -> sqlite3.Connection:
    """Open (or create) the spool. A file that is not a database or fails its check is moved
    aside as ``<name>.corrupt-<time>`` and a new one made; other errors (a full or read-only
    disk) raise ``sqlite3.Error`` for the caller to retry later. The write-ahead log is
    checkpointed once it holds ``wal_pages`` pages and truncated back to that size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _connect(path, max_pages, wal_pages)
    except sqlite3.DatabaseError as err:
        if isinstance(err, sqlite3.OperationalError) and "not a database" not in str(err):
            raise
        aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
        log.error("spool %s is unreadable (%s): moved to %s, starting a new one", path, err, aside)
        path.rename(aside)
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                side.rename(aside.with_name(aside.name + suffix))
        return _connect(path, max_pages, wal_pages)


def _connect(path: Path, max_pages: int | None, wal_pages: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
    try:
        # A new file frees its unused pages on request (below); both settings only take
        # effect before the first table is made, and are ignored for an existing file.
        conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA journal_size_limit={wal_bytes(int(wal_pages))}")
        conn.execute(f"PRAGMA wal_autocheckpoint={int(wal_pages)}")
        if max_pages is not None:
            conn.execute(f"PRAGMA max_page_count={int(max_pages)}")
        check = conn.execute("PRAGMA quick_check").fetchone()
        if check is None or check[0] != "ok":
            raise sqlite3.DatabaseError(f"not a database: quick_check says {check}")
        conn.executescript(_SCHEMA)
        # Pages freed while the pole was last running (a smaller cap now, a drained backlog)
        # go back to the file system; a file made before auto_vacuum was set keeps them.
        # (executescript runs the pragma to its end; one execute() frees a single page)
        conn.executescript("PRAGMA incremental_vacuum;")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    except BaseException:
        conn.close()
        raise
    return conn


def totals(conn: sqlite3.Connection) -> tuple[int, int]:
    """Rows and payload bytes waiting."""
    rows, size = conn.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM spool").fetchone()
    return int(rows), int(size)


def insert(conn: sqlite3.Connection, messages: Sequence[OutMessage]) -> None:
    conn.executemany(
        "INSERT INTO spool (topic, stream, payload, qos, retain, safety, boot_id, seq, epoch,"
        " created, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                m.topic,
                stream_of(m.topic),
                m.payload,
                m.qos,
                int(m.retain),
                int(m.safety),
                m.boot_id,
                seq_of(m.payload),
                m.epoch,
                m.created,
                len(m.payload),
            )
            for m in messages
        ],
    )


def delete(conn: sqlite3.Connection, keys: Iterable[int]) -> None:
    conn.executemany("DELETE FROM spool WHERE id = ?", [(k,) for k in keys])


def read_after(conn: sqlite3.Connection, cursor: int, limit: int) -> list[OutMessage]:
    rows = conn.execute(
        "SELECT id, topic, payload, qos, retain, safety, epoch, created, boot_id FROM spool"
        " WHERE id > ? ORDER BY id LIMIT ?",
        (cursor, limit),
    ).fetchall()
    return [
        OutMessage(
            topic=topic,
            payload=bytes(payload),
            qos=int(qos),
            retain=bool(retain),
            safety=bool(safety),
            epoch=int(epoch),
            created=float(created),
            boot_id=str(boot_id),
            key=int(key),
        )
        for key, topic, payload, qos, retain, safety, epoch, created, boot_id in rows
    ]


def oldest_created(conn: sqlite3.Connection) -> float | None:
    row = conn.execute("SELECT created FROM spool ORDER BY id LIMIT 1").fetchone()
    return None if row is None else float(row[0])


def pick_oldest(
    conn: sqlite3.Connection, *, safety: bool, after: int, need_bytes: int
) -> list[Dropped]:
    """The oldest rows of one kind past ``after`` (not handed to the link) whose estimated
    costs as rows (payload, topic, stream, boot id and ``ROW_OVERHEAD``) add up to at least
    ``need_bytes``."""
    picked: list[Dropped] = []
    freed = 0
    while freed < need_bytes:
        rows = conn.execute(
            "SELECT id, stream, seq, boot_id, size,"
            f" size + length(topic) + length(stream) + length(boot_id) + {ROW_OVERHEAD}"
            " FROM spool WHERE safety = ? AND id > ? ORDER BY id LIMIT ?",
            (int(safety), after, _PICK_CHUNK),
        ).fetchall()
        for key, stream, seq, boot_id, size, cost in rows:
            if freed >= need_bytes:
                break
            picked.append(Dropped(key, stream, seq, boot_id, size, safety))
            freed += cost
            after = key
        if len(rows) < _PICK_CHUNK:
            break
    return picked


def pick_expired(conn: sqlite3.Connection, *, before: float, after: int) -> list[Dropped]:
    """Routine rows made before ``before``, oldest first, stopping at the first younger one."""
    picked: list[Dropped] = []
    while True:
        rows = conn.execute(
            "SELECT id, stream, seq, boot_id, size, created FROM spool WHERE safety = 0"
            " AND id > ? ORDER BY id LIMIT ?",
            (after, _PICK_CHUNK),
        ).fetchall()
        for key, stream, seq, boot_id, size, created in rows:
            if created >= before:
                return picked
            picked.append(Dropped(key, stream, seq, boot_id, size, False))
            after = key
        if len(rows) < _PICK_CHUNK:
            return picked


def coalesce(dropped: Sequence[Dropped], reason: str, at: float) -> list[DropRecord]:
    """Drop records: runs of consecutive seqs of one boot and stream."""
    records: list[DropRecord] = []
    runs: dict[tuple[str, str], list[int]] = {}
    for item in dropped:
        if item.seq is not None:
            runs.setdefault((item.boot_id, item.stream), []).append(item.seq)
    for (boot_id, stream), seqs in runs.items():
        seqs.sort()
        first = last = seqs[0]
        for seq in seqs[1:]:
            if seq == last + 1:
                last = seq
                continue
            records.append(DropRecord(at, boot_id, stream, first, last, last - first + 1, reason))
            first = last = seq
        records.append(DropRecord(at, boot_id, stream, first, last, last - first + 1, reason))
    return records


def merge_drop(records: list[DropRecord], new: DropRecord) -> bool:
    """Extend the latest record of the same boot, stream and reason when ``new`` continues it
    (oldest-first dropping makes one run per stream); returns whether it merged."""
    for index in range(len(records) - 1, -1, -1):
        old = records[index]
        if (old.boot_id, old.stream, old.reason) == (new.boot_id, new.stream, new.reason):
            if old.last_seq + 1 != new.first_seq:
                return False
            records[index] = DropRecord(
                new.at, old.boot_id, old.stream, old.first_seq, new.last_seq,
                old.count + new.count, old.reason,
            )  # fmt: skip
            return True
    return False


def record_drops(conn: sqlite3.Connection, records: Sequence[DropRecord]) -> None:
    for record in records:
        row = conn.execute(
            "SELECT id, last_seq FROM drops WHERE boot_id = ? AND stream = ? AND reason = ?"
            " ORDER BY id DESC LIMIT 1",
            (record.boot_id, record.stream, record.reason),
        ).fetchone()
        if row is not None and row[1] + 1 == record.first_seq:
            conn.execute(
                "UPDATE drops SET at = ?, last_seq = ?, count = count + ? WHERE id = ?",
                (record.at, record.last_seq, record.count, row[0]),
            )
            continue
        conn.execute(
            "INSERT INTO drops (at, boot_id, stream, first_seq, last_seq, count, reason)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                record.at,
                record.boot_id,
                record.stream,
                record.first_seq,
                record.last_seq,
                record.count,
                record.reason,
            ),
        )
    conn.execute("DELETE FROM drops WHERE id <= (SELECT MAX(id) FROM drops) - ?", (KEEP_DROPS,))


def recent_drops(conn: sqlite3.Connection, limit: int) -> list[DropRecord]:
    rows = conn.execute(
        "SELECT at, boot_id, stream, first_seq, last_seq, count, reason FROM drops"
        " ORDER BY id DESC LIMIT ?",
        (limit,),
    ).fetchall()
    return [DropRecord(*row) for row in reversed(rows)]
