"""The radar reader's thread (the warning path: lines, ticks, the warning outputs' refresh)
starts no process: a subprocess there stalls every line that arrives meanwhile. It did: the clock
trust's verdict looked libc up with ``ctypes.util.find_library`` (an ``ldconfig -p`` subprocess)
at each call, twice a second, and that was the tail of the warning latency (docs/performance.md).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from pole_agent.app import build_agent
from pole_agent.clock import ManualClock
from pole_agent.decisions import clock_trust
from tests.integration.harness import BEACON_PINS, sim_config

PROCESS_EVENTS = frozenset({"subprocess.Popen", "os.system", "os.posix_spawn", "os.fork"})
#: 09:00 in Seoul, after the software's build date: a plausible, trusted wall clock.
WALL = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)


class ProcessWatch:
    """Records the process starts (audit events) made in one thread while armed. An audit hook
    cannot be removed: one per test session, disarmed between tests."""

    def __init__(self) -> None:
        self.thread: int | None = None
        self.seen: list[str] = []
        sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple[object, ...]) -> None:
        if event in PROCESS_EVENTS and threading.get_ident() == self.thread:
            self.seen.append(f"{event} {args[:2]!r}")


_WATCH: list[ProcessWatch] = []


@pytest.fixture
def process_watch() -> Iterator[ProcessWatch]:
    if not _WATCH:
        _WATCH.append(ProcessWatch())
    watch = _WATCH[0]
    watch.seen.clear()
    watch.thread = threading.get_ident()
    try:
        yield watch
    finally:
        watch.thread = None


def test_the_warning_path_starts_no_process(tmp_path: Path, process_watch: ProcessWatch) -> None:
    clock_trust._adjtimex.cache_clear()  # looked up afresh: at start-up, not on the path
    process_watch.thread = None
    clock = ManualClock(start_wall=WALL)
    factory = MockFactory(pin_class=MockPWMPin)
    config = sim_config(tmp_path, radar_port=str(tmp_path / "no-radar"))
    agent = build_agent(config, clock, pin_factory=factory)
    pipeline = agent.pipeline
    process_watch.thread = threading.get_ident()  # from here on, this thread is the reader
    try:
        agent.health.report("radar.road", "ok", "reading", clock.monotonic())
        for _ in range(40):  # past the fail-safe's start-up grace, one tick every 50 ms
            clock.advance(0.05)
            pipeline.on_tick(clock.monotonic())
        assert not agent.beacons.active
        for _ in range(10):  # a speeding vehicle, one line a radar frame
            clock.advance(0.1)
            pipeline.on_line(b'{"speed":45.0,"direction":"inbound"}', clock.monotonic())
        for _ in range(100):  # it is gone: its transit closes and is reported
            clock.advance(0.05)
            pipeline.on_tick(clock.monotonic())
        beacon_states = [state.state for state in factory.pin(BEACON_PINS[0]).states]
    finally:
        process_watch.thread = None
        for component in agent.components:  # built, never started: close what building opened
            if component.name in ("outputs", "spool"):
                component.stop()
        factory.close()
    assert pipeline.warnings_given == 1 and pipeline.transits_reported == 1
    assert any(beacon_states)  # the beacons were lit
    assert process_watch.seen == []
