"""The scenario library: named, seeded, deterministic school-zone scenarios, each stating the
outcome it promises, played through the real agent on the simulator (docs/scenarios.md).

Public API::

    from simulator.scenarios import SCENARIOS, scenario, run_scenario, check, FaultAt

    outcome = run_scenario(scenario("speeding-driver"), workdir, broker=broker)
    assert check(scenario("speeding-driver").expected, outcome) == []

    # a fault suite: the same morning with the radar pulled at 12 s
    s = scenario("quiet-morning").with_faults(FaultAt("radar_unplugged", at_s=12.0),
                                              expected=Expected(modes=("normal", "fail_safe")))
"""

from simulator.scenarios.catalogue import SCENARIOS, scenario
from simulator.scenarios.faults import Step
from simulator.scenarios.outcome import Outcome, check
from simulator.scenarios.pole import ScenarioPole, build_pole, run_scenario
from simulator.scenarios.spec import (
    NONE,
    Count,
    Expected,
    FaultAt,
    ParkedVehicle,
    People,
    Scenario,
    Traffic,
    Weather,
    at_least,
)

__all__ = [
    "NONE",
    "SCENARIOS",
    "Count",
    "Expected",
    "FaultAt",
    "Outcome",
    "ParkedVehicle",
    "People",
    "Scenario",
    "ScenarioPole",
    "Step",
    "Traffic",
    "Weather",
    "at_least",
    "build_pole",
    "check",
    "run_scenario",
    "scenario",
]
