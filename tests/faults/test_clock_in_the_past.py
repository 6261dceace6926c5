"""Reliability row 13: the pole boots with its wall clock in the past and no time sync (a
Raspberry Pi has no real-time clock), under the whole agent with a real Mosquitto, on a clock
running x10. How the schedule falls back is also shown, pins and all, by
tests/decisions/test_scenarios.py; here the point is what the city is told."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pole_agent.config import MqttConfig, load_config
from pole_agent.decisions.clock_trust import TimeMark
from simulator.broker import MosquittoBroker
from simulator.monitor import BrokerMonitor
from simulator.world import Vehicle
from tests.decisions.scenario import SEOUL, SIM_CONFIG, make_warning_pole
from tests.radar.rig import wait_for


def trust_flags(monitor: BrokerMonitor) -> list[bool | None]:
    """``clock_trusted`` of every health report, in order."""
    return [m.json()["clock_trusted"] for m in monitor.messages("health")]


def mode_events(monitor: BrokerMonitor) -> list[dict[str, object]]:
    events = (m.json() for m in monitor.messages("events/decision"))
    return [e for e in events if e["kind"] == "mode"]


def test_a_clock_in_the_past_is_flagged_to_the_city_and_the_schedule_stays_safe(
    tmp_path: Path, broker: MosquittoBroker
) -> None:
    """Row 13 -- clock boots in the past, no time sync. Criterion: schedule falls back to its
    safe mode until time is trustworthy; timestamps flagged; no crash.

    Checked: the pole last saved a trusted time in November 2026 and boots at "1 January 2020,
    03:00" (a night hour) with the kernel not synced. Its health reports carry
    ``clock_trusted: false`` and its mode decision event says the clock is not trusted and
    the zone conservative; a speeder at "03:00" is warned as in school hours (events/warning);
    when time sync arrives, the next health reports say ``clock_trusted: true`` and the mode
    becomes off-hours; the agent ran throughout.
    """
    (tmp_path / "state").mkdir()
    TimeMark(tmp_path / "state" / "clock-mark").save(datetime(2026, 11, 20, tzinfo=UTC))
    telemetry = load_config(SIM_CONFIG).telemetry.model_copy(update={"health_interval_s": 1.0})
    pole = make_warning_pole(
        tmp_path,
        start_wall=datetime(2020, 1, 1, 3, 0, tzinfo=SEOUL),
        vehicles=[Vehicle(1, 3.0, 45.0, "approaching")],
        kernel_synced=False,
        mqtt=MqttConfig(host=broker.host, port=broker.port, keepalive_s=5),
        telemetry=telemetry,
    )
    monitor = BrokerMonitor(broker.host, broker.port, pole.agent.config.pole_id)
    monitor.start()
    pole.start()
    try:
        assert wait_for(lambda: len(trust_flags(monitor)) >= 2), "no health report"
        assert wait_for(lambda: bool(monitor.messages("events/warning")))
        untrusted = trust_flags(monitor)
        (first_mode,) = mode_events(monitor)
        pole.probe.synced = True
        assert wait_for(lambda: trust_flags(monitor)[-1] is True), trust_flags(monitor)
        assert wait_for(lambda: len(mode_events(monitor)) == 2)
    finally:
        pole.stop()
        monitor.stop()
    assert all(flag is False for flag in untrusted), untrusted
    assert first_mode["inputs"]["clock_trusted"] is False  # type: ignore[index]
    assert first_mode["inputs"]["mode"] == "degraded"  # type: ignore[index]
    warning = monitor.messages("events/warning")[0].json()
    assert warning["zone_active"] is True, warning  # "03:00" treated as school hours
    assert mode_events(monitor)[-1]["inputs"]["mode"] == "off_hours"  # type: ignore[index]
