"""Every scenario of the library (simulator/scenarios) played through the real agent: the
OPS243 emulator on a pty, ``app.build_agent``, gpiozero mock pins read back, a real Mosquitto
(the ``broker`` fixture) and the reference consumer, on a clock ten times faster than real time.
Each must keep the promise it states; and each promised point is shown to be checked, by
contradicting it and seeing the check fail.

``POLE_SCENARIO_REPEAT=N`` plays each scenario N times; ``POLE_SCENARIO_SPEED=F`` plays them at
xF instead of each scenario's own speed (e.g. 2, for a slow, gentle run on a loaded machine).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest

from pole_agent.cli import main
from simulator.broker import MosquittoBroker
from simulator.pedestrians import RoadLayout
from simulator.scenarios import (
    NONE,
    SCENARIOS,
    Count,
    Expected,
    FaultAt,
    Outcome,
    Step,
    build_pole,
    check,
    run_scenario,
    scenario,
)
from simulator.scenarios.everyday import CHILD_BEHIND_VAN, VAN
from simulator.scenarios.scene import Scene
from simulator.scenarios.sighting import sighting

REPEAT = int(os.environ.get("POLE_SCENARIO_REPEAT", "1"))
SPEED = float(os.environ.get("POLE_SCENARIO_SPEED", "0")) or None
RUNS = [pytest.param(name, id=f"{name}-{i}" if REPEAT > 1 else name) for i in range(REPEAT)
        for name in SCENARIOS]  # fmt: skip


def contradictions(expected: Expected, outcome: Outcome) -> list[tuple[str, Expected]]:
    """For each point the scenario promises, a promise that what happened contradicts."""

    def miss(count: Count, got: int) -> Count:
        return Count(got + 1) if count.holds(got) else count

    lies: list[tuple[str, Expected]] = []
    for item in dataclasses.fields(expected):
        name, want = item.name, getattr(expected, item.name)
        if want is None or want == {}:
            continue
        if isinstance(want, bool):
            lie: Any = not want
        elif isinstance(want, Count):
            lie = miss(want, getattr(outcome, name))
        elif isinstance(want, frozenset):
            lie = want | {"nothing-of-the-sort"}
        elif name == "modes":
            lie = (*want, "normal")
        elif name == "events":
            stream = sorted(want)[0]
            lie = {**want, stream: miss(want[stream], outcome.events.get(stream, 0))}
        elif name == "first_child_warning_after_s":
            lie = (outcome.first_child_warning_t or 0.0) + 1.0
        else:  # a number: limit_kmh, voice_volume
            lie = want + 1.0
        lies.append((name, dataclasses.replace(expected, **{name: lie})))
    return lies


@pytest.mark.parametrize("name", RUNS)
def test_each_scenario_keeps_its_promise(
    name: str, tmp_path: Path, broker: MosquittoBroker
) -> None:
    chosen = scenario(name)
    outcome = run_scenario(chosen, tmp_path, broker=broker, speed=SPEED)
    problems = check(chosen.expected, outcome)
    assert not problems, "\n".join(
        [*problems, "what happened:", *outcome.summary(), *outcome.steps]
    )
    lies = contradictions(chosen.expected, outcome)
    assert len(lies) >= 6, "a scenario must promise enough to be checked"
    for point, lie in lies:
        assert check(lie, outcome), f"{name}: a false promise about {point} went unnoticed"


def test_a_fault_suite_can_inject_faults_and_steps_into_any_scenario(
    tmp_path: Path, broker: MosquittoBroker
) -> None:
    """The fault-injection suite's entry: a scenario with more faults (and a new promise), and
    timed steps of its own (here: line noise that must not warn)."""
    pulled = scenario("quiet-morning").with_faults(
        FaultAt("radar_unplugged", at_s=12.0, until_s=22.0),
        expected=Expected(
            beacons=True,
            signs=frozenset({"school_zone"}),
            over_limit=NONE,
            modes=("normal", "fail_safe", "normal"),
            faults=frozenset({"radar.road"}),
            recovered=frozenset({"radar.road"}),
        ),
    )
    pole = build_pole(pulled, tmp_path, broker=broker, speed=SPEED)
    noise = [Step(5.0, "line noise", lambda: pole.emulator.inject_line(b"\xfe\xff{]9999\n"))]
    outcome = pole.run(noise)
    assert check(pulled.expected, outcome) == [], outcome.summary()
    assert [step.split("  ")[-1] for step in outcome.steps] == [
        "line noise",
        "radar_unplugged begins",
        "radar_unplugged ends",
    ]
    fail_safe = next(r for r in outcome.records if r.inputs.get("mode") == "fail_safe")
    assert 12.0 <= outcome.at(fail_safe) < 14.0  # reliability row 7: within 2 s (simulated)


def test_scenarios_are_the_same_world_every_time() -> None:
    for chosen in SCENARIOS.values():
        assert chosen.vehicles() == chosen.vehicles()
        assert chosen.pedestrians() == chosen.pedestrians()
        ids = [v.vehicle_id for v in chosen.vehicles()]
        assert len(ids) == len(set(ids))
    rain = scenario("rain-clutter")
    first, second = (
        Scene([], weather=rain.weather, seed=rain.seed, angle_deg=15.0) for _ in range(2)
    )
    frames = [t / 10 + 0.05 for t in range(600)]
    assert [first.clutter_at(t) for t in frames] == [second.clutter_at(t) for t in frames]
    assert sum(1 for t in frames if first.clutter_at(t)) > 300  # it does rain


def test_the_van_hides_the_child_until_the_last_half_metre() -> None:
    (child,) = CHILD_BEHIND_VAN.pedestrians()
    layout = RoadLayout()
    on_road = [child.enter_s + k * 0.1 for k in range(22)]  # y from -7.5 to -1.2 m
    assert all(sighting(child, t, layout, (VAN,)) is None for t in on_road)
    assert all(sighting(child, t, layout) is not None for t in on_road)  # no van: seen
    seen = sighting(child, child.enter_s + 2.25, layout, (VAN,))
    assert seen is not None and seen.where == "crosswalk" and seen.kind == "child"


def test_boot_faults_happen_at_power_on() -> None:
    with pytest.raises(ValueError, match="power-on"):
        FaultAt("missing_model", at_s=3.0)
    with pytest.raises(ValueError, match="at_s < until_s"):
        FaultAt("radar_unplugged", at_s=10.0, until_s=5.0)


def test_pole_agent_simulate_lists_and_plays_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--list-scenarios"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in SCENARIOS)
    assert main(["simulate", "--scenario", "no-such-thing"]) == 2
    assert "known: quiet-morning" in capsys.readouterr().err
    code = main(
        ["simulate", "--scenario", "speeding-driver", "--speed", "10", "--log-level", "error"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "over_limit" in out and "as promised" in out
