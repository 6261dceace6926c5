"""The fail-safe state machine by itself: inputs in, mode and reason out, transitions recorded."""

from __future__ import annotations

import pytest

from pole_agent.decisions.clock_trust import ClockVerdict
from pole_agent.decisions.failsafe import (
    FailSafe,
    FailSafeInputs,
    is_capability,
    is_vehicle_sensor,
)
from pole_agent.decisions.zone_schedule import ZoneState
from pole_agent.health import ComponentHealth, HealthState

ACTIVE = ZoneState(active=True, limit_kmh=30.0, window="school hours")
OFF = ZoneState(active=False, limit_kmh=50.0, reason="outside every window")
TRUSTED = ClockVerdict(True, "kernel", "synchronised")
UNTRUSTED = ClockVerdict(False, "none", "before the build date")


def health(**states: tuple[HealthState, float]) -> dict[str, ComponentHealth]:
    return {
        name.replace("_", "."): ComponentHealth(
            name.replace("_", "."), state, f"{state} why", since
        )
        for name, (state, since) in states.items()
    }


def inputs(
    t: float,
    board: dict[str, ComponentHealth],
    zone: ZoneState = ACTIVE,
    clock: ClockVerdict = TRUSTED,
    agent_ok: bool = True,
) -> FailSafeInputs:
    return FailSafeInputs(t, board, zone, clock, agent_ok, "" if agent_ok else "stuck")


def machine() -> FailSafe:
    return FailSafe(start_t=0.0, startup_grace_s=5.0, recovery_s=5.0)


@pytest.mark.parametrize(
    ("name", "vehicle", "capability"),
    [
        ("radar", True, False),
        ("radar.road", True, False),
        ("camera", True, False),
        ("camera.front", True, False),
        ("radar.kerb", False, True),
        ("model.child", False, True),
        ("clock", False, False),
        ("audio", False, False),
        ("radarx", False, False),
    ],
)
def test_component_classes(name: str, vehicle: bool, capability: bool) -> None:
    assert is_vehicle_sensor(name) is vehicle
    assert is_capability(name) is capability


CASES = [
    # (health, zone, clock, agent_ok) -> mode
    ({"radar_road": ("ok", 0.0)}, ACTIVE, TRUSTED, True, "normal"),
    ({"radar_road": ("ok", 0.0)}, OFF, TRUSTED, True, "off_hours"),
    ({"radar_road": ("failed", 0.0)}, ACTIVE, TRUSTED, True, "fail_safe"),
    ({"radar_road": ("failed", 0.0)}, OFF, TRUSTED, True, "fail_safe"),
    ({"radar_road": ("degraded", 0.0)}, ACTIVE, TRUSTED, True, "fail_safe"),
    ({"radar_road": ("ok", 0.0), "camera": ("failed", 0.0)}, ACTIVE, TRUSTED, True, "degraded"),
    ({"radar_road": ("failed", 0.0), "camera": ("ok", 0.0)}, ACTIVE, TRUSTED, True, "degraded"),
    ({"radar_road": ("ok", 0.0), "radar_kerb": ("failed", 0.0)}, ACTIVE, TRUSTED, True, "degraded"),
    (
        {"radar_road": ("ok", 0.0), "model_child": ("failed", 0.0)},
        ACTIVE,
        TRUSTED,
        True,
        "degraded",
    ),
    ({"radar_road": ("ok", 0.0), "radar_kerb": ("failed", 0.0)}, OFF, TRUSTED, True, "off_hours"),
    ({"radar_road": ("ok", 0.0)}, ACTIVE, UNTRUSTED, True, "degraded"),
    ({"radar_road": ("ok", 0.0)}, ACTIVE, TRUSTED, False, "fail_safe"),
    ({"radar_road": ("ok", 0.0)}, OFF, TRUSTED, False, "fail_safe"),
]


@pytest.mark.parametrize(("board", "zone", "clock", "agent_ok", "mode"), CASES)
def test_mode_table(
    board: dict[str, tuple[HealthState, float]],
    zone: ZoneState,
    clock: ClockVerdict,
    agent_ok: bool,
    mode: str,
) -> None:
    fs = machine()
    transition = fs.update(inputs(10.0, health(**board), zone, clock, agent_ok))
    assert transition is not None
    assert transition.previous is None
    assert fs.mode == mode == transition.mode
    assert fs.heartbeat is agent_ok
    assert transition.reason


def test_reasons_name_what_failed() -> None:
    fs = machine()
    fs.update(inputs(10.0, health(radar_road=("failed", 3.0))))
    assert fs.reason == "no usable vehicle sensor: radar.road failed (failed why)"
    fs = machine()
    fs.update(inputs(10.0, health(radar_road=("ok", 0.0)), clock=UNTRUSTED))
    assert "clock not trusted (before the build date)" in fs.reason
    fs = machine()
    fs.update(inputs(10.0, health(radar_road=("ok", 0.0)), agent_ok=False))
    assert fs.reason == "agent not healthy: stuck"


def test_startup_grace_then_fail_safe_when_nothing_reports() -> None:
    fs = machine()
    first = fs.update(inputs(1.0, {}))
    assert first is not None and first.mode == "normal"
    assert fs.update(inputs(4.9, {})) is None
    later = fs.update(inputs(5.0, {}))
    assert later is not None and later.mode == "fail_safe"
    assert later.previous == "normal"
    assert "none has reported" in later.reason


def test_entering_is_immediate_leaving_needs_the_recovery_time() -> None:
    fs = machine()
    fs.update(inputs(10.0, health(radar_road=("ok", 0.0))))
    down = fs.update(inputs(11.0, health(radar_road=("failed", 11.0))))
    assert down is not None and down.mode == "fail_safe"
    # Back at 20.0: still fail-safe until it has been healthy for 5 s.
    assert fs.update(inputs(20.0, health(radar_road=("ok", 20.0)))) is None
    assert fs.mode == "fail_safe"
    assert fs.reason.startswith("recovering: radar.road")
    assert fs.update(inputs(24.9, health(radar_road=("ok", 20.0)))) is None
    up = fs.update(inputs(25.0, health(radar_road=("ok", 20.0))))
    assert up is not None and (up.previous, up.mode) == ("fail_safe", "normal")


def test_no_transition_when_nothing_changes() -> None:
    fs = machine()
    assert fs.update(inputs(10.0, health(radar_road=("ok", 0.0)))) is not None
    for t in (10.5, 11.0, 50.0):
        assert fs.update(inputs(t, health(radar_road=("ok", 0.0)))) is None
