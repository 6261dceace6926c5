"""Reliability row 7: the road radar unplugged and replugged, many times, under the whole agent.

The OPS243 emulator sits on a real pty behind a stable symlink (``/dev/radar`` on a pole); an
unplug closes the pty as pulling a USB cable does. The agent is built by app wiring on the rev 2
board's journaled mock pins, publishing to a real Mosquitto. The agent's clock runs at x1, so the
times in the criterion are read on the agent's own clock (health ``since``, the fault event's
``since``); the test waits on them with generous real limits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from pole_agent.config import MqttConfig
from simulator.broker import MosquittoBroker
from simulator.monitor import BrokerMonitor
from tests.decisions.scenario import BEACON, SEOUL, WarningPole, make_warning_pole
from tests.faults.conftest import Repetitions
from tests.faults.gauges import open_fds, threads
from tests.radar.rig import wait_for

ROAD = "radar.road"
MID_MORNING = datetime(2026, 3, 3, 10, 30, tzinfo=SEOUL)  # a school day, zone active
FAULT_WITHIN_S = 2.0
REOPEN_WITHIN_S = 5.0


def radar_state(pole: WarningPole) -> str | None:
    health = pole.agent.health.get(ROAD)
    return None if health is None else health.state


def radar_faults(monitor: BrokerMonitor) -> list[datetime]:
    """``since`` of every published fault (episode start) of the road radar."""
    return [
        datetime.fromisoformat(body["since"])
        for body in (m.json() for m in monitor.messages("events/fault"))
        if body["component"] == ROAD and body["phase"] == "fault"
    ]


def faults_beyond(monitor: BrokerMonitor, count: int) -> bool:
    return len(radar_faults(monitor)) > count


def settled(baseline: tuple[int, int]) -> bool:
    return open_fds() <= baseline[0] and threads() <= baseline[1]


def test_radar_unplugged_and_replugged_many_times_through_the_agent(
    tmp_path: Path, broker: MosquittoBroker, repetitions: Repetitions
) -> None:
    """Row 7 -- radar unplugged and replugged 100 times (20 by default, 100 with
    ``--long-faults``). Criterion: fault published within 2 s; fail-safe mode while it is gone;
    port reopened within 5 s of replug; no file-descriptor or thread leak.

    Checked: each unplug makes a ``radar.road`` fault event on the broker whose ``since`` is
    within 2 s (agent clock) of the unplug; while unplugged the fail-safe state machine is in
    ``fail_safe``, the beacons flash and the speed display stays dark; after each replug the
    radar is healthy again (port open and start-up dialogue verified) within 5 s on the agent's
    clock; after the last replug the pole returns to normal mode by itself; /proc/self/fd and
    /proc/self/task counts return to their level after the first cycle. One more unplug lasts
    three times the reopen backoff's longest wait (``reopen_max_s``), so the replug meets the
    longest wait: reopened within 5 s all the same.
    """
    cycles = repetitions(20, 100)
    mqtt = MqttConfig(host=broker.host, port=broker.port, keepalive_s=5)
    pole = make_warning_pole(tmp_path, start_wall=MID_MORNING, factor=1.0, mqtt=mqtt)
    monitor = BrokerMonitor(broker.host, broker.port, pole.agent.config.pole_id)
    monitor.start()
    pole.start()
    clock, outputs = pole.clock, pole.agent.warnings
    assert outputs is not None
    baseline: tuple[int, int] | None = None
    reopen_long_s = float("inf")
    reopen_s: list[float] = []
    unplugged_at: list[datetime] = []
    try:
        assert wait_for(lambda: radar_state(pole) == "ok" and outputs.outputs.mode == "normal")
        for cycle in range(cycles):
            unplugged_at.append(clock.wall())
            pole.emulator.unplug()
            assert wait_for(partial(faults_beyond, monitor, cycle)), f"cycle {cycle}: no fault"
            assert wait_for(lambda: outputs.outputs.mode == "fail_safe"), f"cycle {cycle}"
            assert wait_for(lambda: pole.agent.beacons.active), f"cycle {cycle}: no beacons"
            assert pole.agent.pipeline.last_speed_kmh is None

            replugged = clock.monotonic()
            pole.emulator.replug()
            assert wait_for(lambda: radar_state(pole) == "ok"), f"cycle {cycle}: not reopened"
            health = pole.agent.health.get(ROAD)
            assert health is not None
            reopen_s.append(health.since - replugged)
            if cycle == 0:
                baseline = (open_fds(), threads())
        assert baseline is not None
        # A long absence: the reopen backoff has reached its longest wait before the replug.
        long_absence_s = 3 * pole.agent.config.radars.road.reopen_max_s
        pole.emulator.unplug()
        assert wait_for(partial(faults_beyond, monitor, cycles)), "long absence: no fault"
        unplugged_for = clock.monotonic()
        assert wait_for(lambda: clock.monotonic() - unplugged_for >= long_absence_s, 30.0)
        replugged = clock.monotonic()
        pole.emulator.replug()
        assert wait_for(lambda: radar_state(pole) == "ok"), "long absence: not reopened"
        health = pole.agent.health.get(ROAD)
        assert health is not None
        reopen_long_s = health.since - replugged
        # Transient threads (a flash, a publish) may be mid-flight: give them time to end.
        assert wait_for(lambda: settled(baseline), 10.0), (baseline, open_fds(), threads())
        last = clock.monotonic()
        assert wait_for(lambda: outputs.outputs.mode == "normal", 30.0), "no return to normal"
        back = outputs.outputs.transitions[-1]
    finally:
        pole.stop()
        monitor.stop()

    assert max(reopen_s) <= REOPEN_WITHIN_S, reopen_s
    assert reopen_long_s <= REOPEN_WITHIN_S, reopen_long_s
    faults = radar_faults(monitor)
    for at in unplugged_at:
        assert any(
            at - timedelta(seconds=0.1) <= since <= at + timedelta(seconds=FAULT_WITHIN_S)
            for since in faults
        ), (at, faults)
    assert pole.agent.radar.stats.opens >= cycles + 1
    # The pole stayed in fail-safe through the flapping and left it once the radar held.
    modes = [r.inputs["mode"] for r in pole.records("mode")]
    assert modes[0] == "normal" and modes[-1] == "normal" and "fail_safe" in modes
    # Recovery waits for the radar to hold (fail_safe_recovery_s) after the last replug.
    assert back.mode == "normal" and back.t >= last
    # The speed display never lit while the radar was gone or flapping.
    assert not any(text for _, text in pole.displayed())
    assert any(level for _, level in pole.changes(BEACON))
