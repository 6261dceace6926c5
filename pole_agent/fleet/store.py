"""What the fleet consumer received, in SQLite (WAL): every message once (the primary key is
pole, stream, boot and seq, so a duplicate is ignored), every status, the pole-reported drops,
and what could not be read (with the reason)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    pole_id TEXT NOT NULL, stream TEXT NOT NULL, boot_id TEXT NOT NULL, seq INTEGER NOT NULL,
    ts TEXT NOT NULL, historical INTEGER NOT NULL, received REAL NOT NULL, payload TEXT NOT NULL,
    PRIMARY KEY (pole_id, stream, boot_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS statuses (
    id INTEGER PRIMARY KEY, pole_id TEXT NOT NULL, boot_id TEXT NOT NULL, state TEXT NOT NULL,
    retained INTEGER NOT NULL, received REAL NOT NULL, payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS drops (
    pole_id TEXT NOT NULL, boot_id TEXT NOT NULL, stream TEXT NOT NULL,
    first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL, reason TEXT NOT NULL,
    PRIMARY KEY (pole_id, boot_id, stream, first_seq, last_seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS invalid (
    id INTEGER PRIMARY KEY, received REAL NOT NULL, topic TEXT NOT NULL, error TEXT NOT NULL,
    payload BLOB NOT NULL
);
"""

KEEP_INVALID_BYTES = 1024


class FleetStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)

    def add_message(
        self,
        *,
        pole_id: str,
        stream: str,
        boot_id: str,
        seq: int,
        ts: str,
        historical: bool,
        received: float,
        payload: str,
    ) -> bool:
        """Store one message; False if it was already there (a duplicate)."""
        with self._lock:
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (pole_id, stream, boot_id, seq, ts, int(historical), received, payload),
            )
            return cursor.rowcount == 1

    def add_status(
        self,
        *,
        pole_id: str,
        boot_id: str,
        state: str,
        retained: bool,
        received: float,
        payload: str,
    ) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO statuses (pole_id, boot_id, state, retained, received, payload)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (pole_id, boot_id, state, int(retained), received, payload),
            )

    def add_drop(
        self, *, pole_id: str, boot_id: str, stream: str, first: int, last: int, reason: str
    ) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO drops VALUES (?, ?, ?, ?, ?, ?)",
                (pole_id, boot_id, stream, first, last, reason),
            )

    def add_invalid(self, *, received: float, topic: str, error: str, payload: bytes) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO invalid (received, topic, error, payload) VALUES (?, ?, ?, ?)",
                (received, topic[:300], error[:500], payload[:KEEP_INVALID_BYTES]),
            )

    def seqs(self) -> Iterator[tuple[str, str, str, int, bool]]:
        """Every stored (pole, stream, boot, seq, historical), to rebuild the ledger."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT pole_id, stream, boot_id, seq, historical FROM messages"
                " ORDER BY pole_id, stream, boot_id, seq"
            ).fetchall()
        for pole_id, stream, boot_id, seq, historical in rows:
            yield str(pole_id), str(stream), str(boot_id), int(seq), bool(historical)

    def drops(self) -> list[tuple[str, str, str, int, int]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT pole_id, boot_id, stream, first_seq, last_seq FROM drops"
            ).fetchall()
        return [(str(p), str(b), str(s), int(f), int(la)) for p, b, s, f, la in rows]

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Read-only look-ups for reports and tests."""
        with self._lock:
            return [tuple(row) for row in self._conn.execute(sql, params).fetchall()]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
