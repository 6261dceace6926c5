"""The scenario library: every named scenario, by name (docs/scenarios.md)."""

from __future__ import annotations

from simulator.scenarios.everyday import (
    CHILD_BEHIND_VAN,
    NIGHT,
    QUIET_MORNING,
    RAIN_CLUTTER,
    SCHOOL_GATE_RUSH,
    SCHOOL_HOLIDAY,
    SPEEDING_DRIVER,
)
from simulator.scenarios.failures import (
    BROKER_DOWN,
    CLOCK_IN_PAST,
    MISSING_MODEL,
    RADAR_STUCK,
    RADAR_UNPLUGGED,
)
from simulator.scenarios.spec import Scenario

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        QUIET_MORNING,
        SCHOOL_GATE_RUSH,
        SPEEDING_DRIVER,
        CHILD_BEHIND_VAN,
        RAIN_CLUTTER,
        NIGHT,
        SCHOOL_HOLIDAY,
        RADAR_UNPLUGGED,
        RADAR_STUCK,
        BROKER_DOWN,
        MISSING_MODEL,
        CLOCK_IN_PAST,
    )
}


def scenario(name: str) -> Scenario:
    """The scenario called ``name``; KeyError naming the known ones otherwise."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise KeyError(f"no scenario {name!r}; known: {', '.join(SCENARIOS)}") from None
