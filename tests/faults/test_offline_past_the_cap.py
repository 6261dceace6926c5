"""Reliability row 3 through the whole agent: the broker unreachable for longer than the spool
can hold (a 16 KiB cap), with the real radar path warning speeders on a clock running x10.
(tests/telemetry/test_store_and_forward.py checks the drop policy through a real broker and the
city's consumer; here the point is the warnings and the disk.)"""

from __future__ import annotations

import time
from pathlib import Path

from pole_agent.clock import ManualClock
from pole_agent.telemetry.outbox import OutMessage
from pole_agent.telemetry.spool import Spool
from pole_agent.telemetry.spool_db import MIN_MAX_BYTES, PAGE_SIZE, disk_plan, disk_use, seq_of
from simulator.broker import find_free_port
from simulator.world import Vehicle
from tests.integration.harness import make_pole
from tests.radar.rig import wait_for

CAP = MIN_MAX_BYTES  # the smallest cap the config allows (128 KiB)
#: What one batch may add while it is written (the row's "cap + one batch"): at x10 with
#: 0.2 s batches a batch is a few messages, a page or two, plus the pages its transaction
#: touches besides (the table's inner pages, the drop records, the file's header).
BATCH_ALLOWANCE = 12 * PAGE_SIZE
EARLIER_BOOT = "earlier-boot"


def fill_from_an_earlier_boot(path: Path, share: float) -> int:
    """Vehicle events of an earlier boot that never reached the broker, filling ``share`` of
    the database's part of the cap (a pole offline for days, then restarted)."""
    spool = Spool(path, boot_id=EARLIER_BOOT, clock=ManualClock(), max_bytes=CAP, max_age_s=1e9)
    spool.start()
    made = 0
    try:
        room = disk_plan(CAP).data_bytes * share
        while (made + 1) * 400 < room:
            made += 1
            body = f'{{"schema_version":1,"seq":{made},"pad":"{"x" * 300}"}}'.encode()
            # made an hour ago: within the age limit, so only the cap drops them
            spool.put(
                OutMessage("spole/sim-pole-001/events/vehicle", body, created=time.time() - 3600)
            )
    finally:
        spool.close()
    return made


def test_offline_past_the_spool_cap_keeps_warning_and_safety_events(tmp_path: Path) -> None:
    """Row 3 -- offline past the spool cap. Criterion: disk use at most cap + one batch;
    routine data dropped oldest first and counted; safety events kept; warnings go on.

    The pole restarts with its spool three quarters full of an earlier boot's vehicle events
    and no broker, then sees 24 vehicles, one speeder in four: speeders are still warned
    (beacons, events/warning queued) after the spool started dropping; the spool's files on
    disk (database, write-ahead log, its index), sampled all along, stay within the cap plus
    one batch; only routine streams are dropped, counted per stream, oldest first across boots
    (the earlier boot's events go before this boot's, and what is left of each is its newest
    run); no safety event is dropped.
    """
    state = tmp_path / "state"
    earlier = fill_from_an_earlier_boot(state / "telemetry-spool.sqlite3", 0.75)
    # 10 simulated seconds apart (the harness's rule: one transit each), a speeder in four.
    vehicles = [
        Vehicle(i + 1, 2.0 + 10.0 * i, 50.0 if i % 4 == 0 else 28.0, "approaching")
        for i in range(24)
    ]
    speeders = sum(1 for v in vehicles if v.speed_kmh > 30 and v.direction == "approaching")
    pole = make_pole(
        tmp_path,
        vehicles,
        mqtt_port=find_free_port(),
        telemetry={"spool_max_bytes": CAP, "spool_batch_s": 0.2},
    )
    spool = pole.agent.outbox
    peak_disk = 0
    warned_when_full: int | None = None
    pole.emulator.start()
    pole.agent.start()
    try:

        def done() -> bool:
            nonlocal peak_disk, warned_when_full
            peak_disk = max(peak_disk, disk_use(spool.path))
            if warned_when_full is None and spool.stats().dropped:
                warned_when_full = pole.agent.pipeline.warnings_given
            return pole.clock.monotonic() > vehicles[-1].exit_s + 5.0

        assert wait_for(done, 90.0)
        warned_after_full = pole.agent.pipeline.warnings_given
        stats = spool.stats()
        left = spool.take(10000, timeout=1.0)
    finally:
        pole.agent.stop()
        pole.emulator.stop()
    peak_disk = max(peak_disk, disk_use(spool.path))

    assert pole.agent.publisher.link_state() != "connected"
    # Warnings went on once the spool was full (the speeders after that point were warned; a
    # starved emulator on a loaded machine may lose a vehicle, so the count is not exact).
    assert warned_when_full is not None, "the spool never filled"
    assert warned_after_full > warned_when_full, (warned_when_full, warned_after_full, speeders)
    assert set(stats.dropped) <= {"events/vehicle", "stats", "health"}, stats.dropped
    assert stats.dropped_safety == 0
    # The disk: the cap plus one batch, measured.
    assert peak_disk <= CAP + BATCH_ALLOWANCE, (peak_disk, CAP)
    assert stats.disk_bytes <= CAP + BATCH_ALLOWANCE
    topics = [m.topic.split("/", 2)[2] for m in left]
    assert topics.count("events/warning") == 2 * warned_after_full  # every start and end
    # Oldest first across boots: this boot lost vehicle events only once the earlier boot's
    # were all gone, and what is left of each boot's vehicle events is its newest run.
    kept: dict[str, list[int]] = {}
    for m in left:
        if m.topic.endswith("/events/vehicle"):
            kept.setdefault(m.boot_id, []).append(seq_of(m.payload) or 0)
    dropped_runs = [d for d in stats.drops if d.stream == "events/vehicle"]
    assert {d.reason for d in stats.drops} == {"full"}
    assert dropped_runs and dropped_runs[0].boot_id == EARLIER_BOOT
    assert dropped_runs[0].first_seq == 1
    for boot_id, seqs in kept.items():
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), boot_id
        lost = sum(d.count for d in dropped_runs if d.boot_id == boot_id)
        assert seqs[0] == lost + 1, (boot_id, "not the oldest dropped first")
    if any(d.boot_id != EARLIER_BOOT for d in dropped_runs):
        assert EARLIER_BOOT not in kept
        assert sum(d.count for d in dropped_runs if d.boot_id == EARLIER_BOOT) == earlier
