"""The fail-safe state machine: what mode the pole is in, given the health of its parts.

Modes:

- ``normal``: the zone is active and every sensor is healthy.
- ``degraded``: the zone is active and the pole still sees vehicles, but something is lost: one
  of several vehicle sensors, the kerb radar or a model (child detection), or a trusted clock (the
  schedule is in its conservative mode). The rules run on what is left.
- ``fail_safe``: no usable vehicle sensor, or the agent itself is not healthy. During school
  hours the beacons flash steadily, the speed display is blank and nothing is spoken; the
  heartbeat stops when the agent itself is the problem, so the pole's independent flasher takes
  over.
- ``off_hours``: the zone is not active and the pole sees vehicles.

A sensor is usable only while its health is ``ok``. Sensors that have not reported yet are given
``startup_grace_s`` after start; leaving fail-safe needs a sensor healthy for
``fail_safe_recovery_s`` (entering is immediate). Every transition is returned with its reason.
Pure: times and health come with the call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pole_agent.decisions.clock_trust import ClockVerdict
from pole_agent.decisions.zone_schedule import ZoneState
from pole_agent.health import ComponentHealth

Mode = Literal["normal", "degraded", "fail_safe", "off_hours"]

VEHICLE_SENSORS = ("radar.road", "camera")
"""Health components (by name or ``name.*`` prefix) that see vehicles; ``radar`` alone is the
single radar of older configurations."""
CAPABILITIES = ("radar.kerb", "model")
"""Components whose loss degrades the pole (child detection) without blinding it."""


def _matches(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") or name.startswith(p + "-") for p in prefixes)


def is_vehicle_sensor(name: str) -> bool:
    return name == "radar" or _matches(name, VEHICLE_SENSORS)


def is_capability(name: str) -> bool:
    return _matches(name, CAPABILITIES)


@dataclass(frozen=True, slots=True)
class FailSafeInputs:
    """Everything the mode depends on, at monotonic time ``t``."""

    t: float
    health: Mapping[str, ComponentHealth]
    zone: ZoneState
    clock: ClockVerdict
    agent_ok: bool = True
    agent_reason: str = ""


@dataclass(frozen=True, slots=True)
class ModeTransition:
    """A change of mode, with why: the record the city audits."""

    t: float
    previous: Mode | None
    mode: Mode
    reason: str
    heartbeat: bool


class FailSafe:
    def __init__(self, *, start_t: float, startup_grace_s: float, recovery_s: float) -> None:
        self._start_t = start_t
        self._grace_s = startup_grace_s
        self._recovery_s = recovery_s
        self.mode: Mode | None = None
        self.reason = "not evaluated yet"
        self.heartbeat = True
        """False when the agent itself is not healthy: the heartbeat pin must stop."""

    def update(self, inputs: FailSafeInputs) -> ModeTransition | None:
        """Evaluate the mode; returns the transition when it changed (or was first set)."""
        mode, reason = self._decide(inputs)
        self.heartbeat = inputs.agent_ok
        changed = mode != self.mode
        previous = self.mode
        self.mode, self.reason = mode, reason
        if not changed:
            return None
        return ModeTransition(inputs.t, previous, mode, reason, self.heartbeat)

    def _decide(self, inputs: FailSafeInputs) -> tuple[Mode, str]:
        if not inputs.agent_ok:
            return "fail_safe", f"agent not healthy: {inputs.agent_reason or 'unknown'}"
        sensors = {n: h for n, h in inputs.health.items() if is_vehicle_sensor(n)}
        usable = sorted(n for n, h in sensors.items() if h.state == "ok")
        lost = [
            f"{n} {h.state} ({h.reason})" for n, h in sorted(sensors.items()) if n not in usable
        ]
        if not sensors:
            if inputs.t - self._start_t < self._grace_s:
                usable, lost = ["(starting)"], []
            else:
                return "fail_safe", "no usable vehicle sensor: none has reported"
        if not usable:
            return "fail_safe", "no usable vehicle sensor: " + "; ".join(lost)
        if self.mode == "fail_safe" and sensors:
            steady = [n for n in usable if inputs.t - sensors[n].since >= self._recovery_s]
            if not steady:
                return "fail_safe", (
                    f"recovering: {', '.join(usable)} healthy for less than {self._recovery_s:g} s"
                )
        zone = inputs.zone
        if not zone.active:
            extra = f"; lost: {'; '.join(lost)}" if lost else ""
            return "off_hours", f"zone not active ({zone.reason or 'outside its windows'}){extra}"
        problems = list(lost)
        problems += [
            f"{n} {h.state} ({h.reason})"
            for n, h in sorted(inputs.health.items())
            if is_capability(n) and h.state != "ok"
        ]
        if zone.conservative or not inputs.clock.trusted:
            problems.append(f"clock not trusted ({inputs.clock.reason}): school-hours mode")
        if problems:
            return "degraded", "; ".join(problems)
        return "normal", f"zone active ({zone.reason or zone.window}); sensors {', '.join(usable)}"
