"""Reliability row 9: a road radar that falls silent, or sticks at one value, under the whole
agent (real pty, app wiring, rev 2 board on journaled mock pins, a real Mosquitto), on a clock
running x10. Times are read on the simulated clock: health ``since``, decision records, pins.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from pole_agent.config import MqttConfig
from simulator.broker import MosquittoBroker
from simulator.monitor import BrokerMonitor
from simulator.world import Vehicle
from tests.decisions.scenario import BEACON, SEOUL, WarningPole, make_warning_pole
from tests.radar.rig import wait_for

ROAD = "radar.road"
MID_MORNING = datetime(2026, 3, 3, 10, 30, tzinfo=SEOUL)  # a school day, zone active
#: The reader checks health on its ticks (50 ms real, 0.5 s simulated at x10): slack for that
#: and for a loaded machine's late wake-up.
CHECK_SLACK_S = 2.0


def radar_state(pole: WarningPole) -> str | None:
    health = pole.agent.health.get(ROAD)
    return None if health is None else health.state


def radar_faults(monitor: BrokerMonitor, phase: str) -> list[dict[str, object]]:
    return [
        body
        for body in (m.json() for m in monitor.messages("events/fault"))
        if body["component"] == ROAD and body["phase"] == phase
    ]


def run_fault(
    tmp_path: Path,
    broker: MosquittoBroker,
    inject: Callable[[WarningPole], None],
    heal: Callable[[WarningPole], None],
) -> tuple[WarningPole, BrokerMonitor, float, float]:
    """A car approaching at 45 km/h from t=2 s (the display shows its speed), the fault injected
    while it is in the beam, then healed once the radar is failed. Returns the pole (stopped),
    the monitor, when the fault was injected and when the radar was marked failed."""
    mqtt = MqttConfig(host=broker.host, port=broker.port, keepalive_s=5)
    car = Vehicle(1, 2.0, 45.0, "approaching")
    pole = make_warning_pole(tmp_path, start_wall=MID_MORNING, vehicles=[car], mqtt=mqtt)
    monitor = BrokerMonitor(broker.host, broker.port, pole.agent.config.pole_id)
    monitor.start()
    pole.start()
    outputs = pole.agent.warnings
    assert outputs is not None
    try:
        assert wait_for(lambda: any(text for _, text in pole.displayed())), "no speed shown"
        injected = pole.clock.monotonic()
        inject(pole)
        assert wait_for(lambda: radar_state(pole) == "failed")
        failed = pole.agent.health.get(ROAD)
        assert failed is not None
        assert wait_for(lambda: outputs.outputs.mode == "fail_safe")
        assert wait_for(lambda: pole.agent.beacons.active), "fail-safe without flashing beacons"
        assert pole.agent.pipeline.last_speed_kmh is None
        assert wait_for(lambda: len(radar_faults(monitor, "fault")) == 1)
        heal(pole)
        assert wait_for(lambda: outputs.outputs.mode == "normal", 30.0), "no return to normal"
        assert wait_for(lambda: len(radar_faults(monitor, "recovery")) == 1)
    finally:
        pole.stop()
        monitor.stop()
    return pole, monitor, injected, failed.since


def check_fail_safe(pole: WarningPole, failed_at: float) -> None:
    """Fail-safe entered at once (its record lists the flashing beacons and the blank display;
    ``run_fault`` saw the beacons active), the speed display dark while failed."""
    modes = pole.records("mode")
    assert [r.inputs["mode"] for r in modes] == ["normal", "fail_safe", "normal"]
    fail, back = modes[1], modes[2]
    assert 0.0 <= fail.t - failed_at <= CHECK_SLACK_S
    assert "beacons:flash" in fail.outputs and "display:blank" in fail.outputs
    assert any(level for _, level in pole.changes(BEACON))
    shown_while_failed = [
        text for t, text in pole.displayed() if fail.t + CHECK_SLACK_S < t < back.t
    ]
    assert not any(shown_while_failed), shown_while_failed


def test_a_silent_radar_is_stale_within_its_timeout_and_the_pole_fails_safe(
    tmp_path: Path, broker: MosquittoBroker
) -> None:
    """Row 9 -- radar silent. Criterion: sensor marked stale within its timeout; speed display
    blanked; fail-safe warning mode; fault reported.

    Checked: the radar falls silent while a car is shown; ``radar.road`` is failed ("stale")
    no later than ``stale_after_s`` plus one check after the last report (simulated clock); the
    pipeline's speed is None and the display dark; the fail-safe mode is entered with beacons
    flashing; a fault event naming "stale" reaches the broker, and a recovery event once the
    radar speaks again, after which the pole goes back to normal by itself.
    """
    pole, monitor, silent_at, failed_at = run_fault(
        tmp_path,
        broker,
        lambda p: p.emulator.set_silent(True),
        lambda p: p.emulator.set_silent(False),
    )
    stale_after_s = pole.agent.config.radars.road.stale_after_s
    assert failed_at - silent_at <= stale_after_s + CHECK_SLACK_S
    assert failed_at - silent_at >= stale_after_s - CHECK_SLACK_S  # not before it was stale
    (fault,) = radar_faults(monitor, "fault")
    assert str(fault["reason"]).startswith("stale"), fault
    check_fail_safe(pole, failed_at)


def test_a_radar_stuck_at_one_value_is_failed_and_its_speed_never_shown(
    tmp_path: Path, broker: MosquittoBroker
) -> None:
    """Row 9 -- radar stuck at one value. Criterion: sensor marked stale (here: stuck) within
    its timeout; speed display blanked; fail-safe warning mode; fault reported.

    Checked: the sensor repeats one report (45 km/h, every field identical) from the moment a
    car is shown; ``radar.road`` is failed ("stuck") within ``stuck_after_s`` plus one check
    (simulated clock); after that the value is never shown, frames are counted as untrusted,
    the fail-safe mode flashes the beacons, a fault event naming "stuck" is published, and the
    pole recovers by itself once values move again.
    """
    pole, monitor, stuck_at, failed_at = run_fault(
        tmp_path,
        broker,
        lambda p: p.emulator.set_stuck(45.0),
        lambda p: p.emulator.set_stuck(None),
    )
    stuck_after_s = pole.agent.config.radars.road.stuck_after_s
    assert failed_at - stuck_at <= stuck_after_s + CHECK_SLACK_S
    (fault,) = radar_faults(monitor, "fault")
    assert str(fault["reason"]).startswith("stuck"), fault
    assert pole.agent.pipeline.frames_untrusted > 0
    check_fail_safe(pole, failed_at)
