"""``pole-agent simulate --scenario NAME`` and ``--list-scenarios``: play one scenario of the
library through the real agent, print each decision as it is made, then what happened beside
what the scenario promised. Exit 0 when the promise held, 1 when it did not, 2 for an unknown
name."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

from pole_agent.decisions.warning_policy import DecisionRecord
from pole_agent.logging_setup import setup_logging
from simulator.broker import BrokerUnavailable, MosquittoBroker
from simulator.scenarios.catalogue import SCENARIOS
from simulator.scenarios.outcome import check
from simulator.scenarios.pole import build_pole


def list_scenarios() -> int:
    width = max(len(name) for name in SCENARIOS)
    for name, scenario in SCENARIOS.items():
        faults = ", ".join(f.kind for f in scenario.faults)
        print(f"{name:<{width}}  {scenario.duration_s:4.0f} s  {scenario.summary}")
        if faults:
            print(f"{'':<{width}}          faults: {faults}")
    return 0


def _print_record(record: DecisionRecord) -> None:
    print(f"  {record.t:7.2f} s  {record.kind:<16} {record.trigger}", flush=True)


def run_live(args: argparse.Namespace) -> int:
    if args.list_scenarios:
        return list_scenarios()
    scenario = SCENARIOS.get(args.scenario)
    if scenario is None:
        print(f"no scenario {args.scenario!r}; known: {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    setup_logging(args.log_level, args.log_format)
    print(f"{scenario.name}: {scenario.summary}")
    print(f"{scenario.duration_s:g} simulated s at x{args.speed:g}; decisions as they are made:")
    with tempfile.TemporaryDirectory(prefix="pole-scenario-") as tmp:
        broker: MosquittoBroker | None = None
        if not args.no_broker:
            try:
                broker = MosquittoBroker(work_dir=Path(tmp) / "broker")
                broker.start()
            except BrokerUnavailable as err:
                print(f"no broker ({err}): telemetry is not checked", file=sys.stderr)
                broker = None
        try:
            pole = build_pole(
                scenario, Path(tmp), broker=broker, speed=args.speed, on_record=_print_record
            )
            outcome = pole.run()
        finally:
            if broker is not None:
                broker.close()
    for line in outcome.steps:
        print(f"  {line}")
    print("what happened:")
    for line in outcome.summary():
        print(f"  {line}")
    expected = scenario.expected
    if broker is None:  # nothing was received: do not hold that against the pole
        expected = dataclasses.replace(
            expected,
            events={},
            faults=None,
            recovered=None,
            historical=None,
            limit_kmh=None,
            zone_active=None,
        )
    problems = check(expected, outcome)
    if problems:
        print("NOT as promised:")
        for problem in problems:
            print(f"  {problem}")
        return 1
    print("as promised")
    return 0
