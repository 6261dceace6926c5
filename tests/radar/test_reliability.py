"""Reliability rows 7, 8 and 9 (../shared/docs/reliability.md) for the radar.

7: unplugged and replugged 100 times: the fault is reported, the port reopened each time, and no
   file descriptor or thread is left behind.
8: garbage, truncated, wrong-baud and out-of-range lines: no crash, each counted, no warning.
9: silent or stuck: marked stale/stuck within its timeout, the speed blanked, frames unused.
"""

from __future__ import annotations

import os
import random
import threading
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pole_agent.clock import ManualClock
from pole_agent.config import RadarConfig
from pole_agent.health import ComponentHealth
from pole_agent.perception.radar_lines import parse_line
from tests.radar.pipeline_rig import PipelineRig, pipeline_rig
from tests.radar.rig import NAME, bench, wait_for

CYCLES = 100


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_unplug_and_replug_100_times_leaks_nothing(tmp_path: Path) -> None:
    with bench(tmp_path, factor=1.0, reopen_max_s=0.05) as rig:
        assert wait_for(lambda: rig.state() == "ok")
        fds, threads = open_fds(), threading.active_count()
        for cycle in range(CYCLES):
            rig.emulator.unplug()
            assert wait_for(lambda: rig.state() == "failed", 5.0), f"cycle {cycle}: no fault"
            rig.emulator.replug()
            assert wait_for(lambda: rig.state() == "ok", 5.0), f"cycle {cycle}: not reopened"
        after_fds, after_threads = open_fds(), threading.active_count()
        opens = rig.radar.stats.opens
    assert opens >= CYCLES + 1
    assert after_fds == fds
    assert after_threads == threads
    failures = [h for h in rig.seen.health if h.name == NAME and h.state == "failed"]
    assert len(failures) >= CYCLES


GARBAGE = [
    b"999",
    b"-999",
    b'{"speed":999}',
    b'{"speed":"NaN"}',
    b"nan",
    b'{"speed":12.3',
    b'{"spe',
    b"12.3 km/h",
    b'{"speed":[45,999],"magnitude":[3,2]}',
    b'{"range":-4,"unit":"m"}',
    b'{"speed":40,"range":-1}',
    b'{"DetectedObjectVelocity":"999"}',
    b"SPEC1,garbage",
    b"\x00\x00\x00",
]


def wrong_baud(seed: int) -> bytes:
    rng = random.Random(seed)
    return bytes(rng.randrange(0x80, 0x100) for _ in range(rng.randrange(1, 80)))


def test_garbage_between_real_frames_never_warns_and_every_line_is_counted() -> None:
    rig = pipeline_rig()
    pipeline = rig.pipeline
    lines = [*GARBAGE, *(wrong_baud(s) for s in range(30))]
    for i, line in enumerate(lines * 3):
        rig.clock.advance(0.05)
        pipeline.on_line(line, rig.clock.monotonic())
        if i % 2:  # an under-limit vehicle in between: garbage must not join it as a speeder
            rig.clock.advance(0.05)
            pipeline.on_line(b'{"speed":25.0}', rig.clock.monotonic())
    for _ in range(100):
        rig.clock.advance(0.1)
        pipeline.on_tick(rig.clock.monotonic())
    assert pipeline.rejected.total() == len(lines) * 3
    assert pipeline.warnings_given == 0
    assert rig.beacons.calls == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=120), max_size=30))
def test_arbitrary_bytes_never_warn(lines: list[bytes]) -> None:
    """Not even two arbitrary lines in a row: only lines that parse as two consecutive
    over-limit frames can warn, and random bytes never make a valid over-limit report twice."""
    rig = pipeline_rig()
    for line in lines:
        rig.clock.advance(0.05)
        rig.pipeline.on_line(line, rig.clock.monotonic())
        parsed = parse_line(line, 0.0, RadarConfig().max_speed_kmh)
        assert parsed is not None
    if rig.pipeline.frames < 2:
        assert rig.beacons.calls == []


def shown(rig: PipelineRig) -> float | None:
    """The pipeline's current speed (a call, so that mypy does not narrow it between steps)."""
    return rig.pipeline.last_speed_kmh


def test_stale_radar_blanks_the_speed_and_frames_are_not_used() -> None:
    rig = pipeline_rig()
    pipeline = rig.pipeline
    for speed in (40.0, 42.0):
        rig.clock.advance(0.1)
        pipeline.on_line(f'{{"speed":{speed}}}'.encode(), rig.clock.monotonic())
    assert shown(rig) == 42.0
    assert pipeline.warnings_given == 1
    now = rig.clock.monotonic()
    pipeline.on_sensor_health(ComponentHealth(NAME, "failed", "stuck: 44 km/h", now))
    assert shown(rig) is None
    assert pipeline.speed_trusted is False
    for _ in range(5):
        rig.clock.advance(0.1)
        pipeline.on_line(b'{"speed":44.0}', rig.clock.monotonic())
    assert shown(rig) is None
    assert pipeline.frames_untrusted == 5
    pipeline.on_sensor_health(ComponentHealth(NAME, "ok", "reading", rig.clock.monotonic()))
    rig.clock.advance(0.1)
    pipeline.on_line(b'{"speed":31.0}', rig.clock.monotonic())
    assert shown(rig) == 31.0


def test_stale_sensor_is_marked_within_its_timeout_through_the_driver(tmp_path: Path) -> None:
    """Row 9 end to end: the driver's health reaches the pipeline (as app.py wires it)."""
    rig = pipeline_rig(clock=ManualClock())
    with bench(tmp_path, stale_after_s=1.5) as radar_rig:
        radar_rig.board.subscribe(lambda current, previous: rig.pipeline.on_sensor_health(current))
        assert wait_for(lambda: radar_rig.state() == "ok")
        rig.pipeline.last_speed_kmh = 33.0  # as if a vehicle had just been shown
        silent_at = radar_rig.clock.monotonic()
        radar_rig.emulator.set_silent(True)
        assert wait_for(lambda: radar_rig.state() == "failed")
        failed = radar_rig.board.get(NAME)
    assert failed is not None and failed.since - silent_at <= 1.5 + 0.6
    assert shown(rig) is None
    assert rig.pipeline.speed_trusted is False
    assert rig.pipeline.time_to_arrival_s(radar_rig.clock.monotonic()) is None


def test_first_report_after_a_stale_spell_is_already_trusted(tmp_path: Path) -> None:
    """A sensor that falls silent and comes back: recovery is reported before the first new
    report is handled, so a vehicle arriving with it loses no frame to the failed state."""
    rig = pipeline_rig(clock=ManualClock())
    trusted_when_handled: list[bool] = []
    with bench(tmp_path, stale_after_s=1.0) as radar_rig:
        radar_rig.board.subscribe(lambda current, previous: rig.pipeline.on_sensor_health(current))
        radar_rig.radar._on_parsed = lambda parsed: trusted_when_handled.append(
            rig.pipeline.speed_trusted
        )
        assert wait_for(lambda: radar_rig.state() == "ok")
        radar_rig.emulator.set_silent(True)
        assert wait_for(lambda: radar_rig.state() == "failed")
        trusted_when_handled.clear()
        radar_rig.emulator.set_silent(False)
        assert wait_for(lambda: len(trusted_when_handled) >= 3)
    assert trusted_when_handled[0] is True, trusted_when_handled
