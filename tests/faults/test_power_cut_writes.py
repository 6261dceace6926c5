"""Reliability row 11 (simulated): a power cut at any moment is a SIGKILL of a process that is
writing the pole's files. What a real power cut adds (the page cache lost, a torn sector) needs
the pole itself: docs/reliability.md says how to run that.
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import defaultdict
from pathlib import Path

from pole_agent.config import load_config
from pole_agent.remote.store import RemoteStore
from tests.faults.conftest import Repetitions

ROOT = Path(__file__).resolve().parents[2]

#: Writes, as fast as it can and all at once, what a pole writes: its config file (the
#: installer's atomic writer), the remote config store and the telemetry spool (SQLite WAL).
#: Each round is one "boot": it continues the config version from the store and starts a new
#: spool boot id. It prints each version once every write of it has returned.
WRITER = textwrap.dedent(
    """
    import itertools, sys, uuid
    from pathlib import Path
    from pole_agent.clock import SystemClock
    from pole_agent.installer.commission import write_config
    from pole_agent.remote.store import RemoteStore, StoredConfig
    from pole_agent.telemetry.outbox import OutMessage
    from pole_agent.telemetry.spool import Spool

    source, state = Path(sys.argv[1]), Path(sys.argv[2])
    store = RemoteStore(state)
    boot = uuid.uuid4().hex[:16]
    spool = Spool(state / "spool.sqlite3", boot_id=boot, clock=SystemClock(),
                  max_bytes=1 << 30, max_age_s=86400, batch_s=0.002)
    spool.start()
    body = '{"schema_version":1,"pole_id":"p-1","boot_id":"%s","seq":%d,"historical":false}'
    seqs = itertools.count(1)
    for n in itertools.count(store.highest_version + 1):
        write_config(source, state / "pole.toml", {"config_version": n})
        store.save_applied(StoredConfig(n, {"pole_id": "p-1", "config_version": n}))
        for seq in itertools.islice(seqs, 10):
            spool.put(OutMessage("spole/p-1/events/vehicle", (body % (boot, seq)).encode()))
        print(n, flush=True)
    """
)


def spool_rows(path: Path) -> dict[str, list[int]]:
    """Seqs left in the spool file by boot id, in insertion order; the file must be sound."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = db.execute("SELECT boot_id, seq FROM spool ORDER BY id").fetchall()
    by_boot: dict[str, list[int]] = defaultdict(list)
    for boot, seq in rows:
        by_boot[str(boot)].append(int(seq))
    return by_boot


def cut_power(source: Path, state: Path, lines: int, rng: random.Random) -> int:
    """Run the writer until it has printed ``lines`` versions, then SIGKILL it at a random
    moment soon after; returns the last version it printed before it died."""
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(source), str(state)],
        stdout=subprocess.PIPE,
        text=True,
    )
    last = 0
    try:
        assert proc.stdout is not None
        for _ in range(lines):
            line = proc.stdout.readline()
            assert line, "the writer died on its own"
            last = int(line)
        time.sleep(rng.uniform(0.0, 0.01))
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        # It went on writing after the lines read: the pipe holds what it finished since.
        last = max([last, *(int(line) for line in proc.stdout.read().split())])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    return last


def test_kill9_during_config_and_spool_writes_always_leaves_readable_files(
    tmp_path: Path, repetitions: Repetitions
) -> None:
    """Row 11 -- power cut at any moment (simulated: kill -9 during writes), repeated (10 cuts
    by default, 100 with ``--long-faults``). Criterion: config and spool always readable
    afterwards (write, fsync, rename; SQLite WAL).

    Checked after every cut: the pole's config file loads and validates and holds the last
    version the writer finished or the one it was writing (never a torn mix); the remote store's
    ``applied.json`` parses as JSON and the store reads the same version back; the spool passes
    SQLite's integrity check and holds, for every boot, a gapless run of seqs from 1 (what was
    committed before the cut, nothing out of order); a new boot then writes on top of it all.
    """
    rounds = repetitions(10, 100)
    rng = random.Random(11)
    source = tmp_path / "source.toml"
    shutil.copy(ROOT / "deploy" / "config" / "simulator.toml", source)
    state = tmp_path / "state"
    state.mkdir()
    boots_before = 0
    for cut in range(rounds):
        last = cut_power(source, state, rng.randint(1, 25), rng)

        config = load_config(state / "pole.toml")
        assert config.config_version in (last, last + 1), (cut, last, config.config_version)
        applied = json.loads((state / "remote" / "applied.json").read_text(encoding="utf-8"))
        assert applied["version"] in (last, last + 1), (cut, last, applied)
        store = RemoteStore(state)
        assert store.applied is not None and store.applied.version == applied["version"]

        by_boot = spool_rows(state / "spool.sqlite3")
        # A boot cut within its first batch may have committed nothing; none may vanish.
        assert len(by_boot) >= boots_before, f"cut {cut}: a boot's rows vanished"
        boots_before = len(by_boot)
        for boot, seqs in by_boot.items():
            assert seqs == list(range(1, len(seqs) + 1)), (cut, boot, seqs[:5], len(seqs))
