"""Injecting a scenario's faults into a running simulated pole, at their stated times.

Run-time faults act at the wire, where a pole's would happen: the radar emulator's cable is
pulled or its firmware hangs or sticks (``simulator.ops243_emulator``), the broker process stops
(``simulator.broker``), time sync arrives (the kernel's answer the agent asks for). Boot faults
(``missing_model``, ``clock_in_past``) are not injected here: they decide how the pole is built
(``simulator.scenarios.pole``); only their end (``clock_in_past``'s time sync) is timed here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from simulator.broker import MosquittoBroker
from simulator.ops243_emulator import Ops243Emulator
from simulator.scenarios.spec import FaultAt

log = logging.getLogger(__name__)


class Faultable(Protocol):
    """What faults act on: the pole's road radar, its broker (None: offline), its time sync."""

    emulator: Ops243Emulator
    broker: MosquittoBroker | None

    def set_time_synced(self, synced: bool) -> None: ...


@dataclass(frozen=True)
class Step:
    """One timed action: ``at_s`` simulated seconds from the start."""

    at_s: float
    what: str
    act: Callable[[], object]


def _needs_broker(pole: Faultable) -> MosquittoBroker:
    if pole.broker is None:
        raise ValueError("broker_down needs a scenario run with a broker")
    return pole.broker


def fault_steps(fault: FaultAt, pole: Faultable) -> list[Step]:
    """The start and end actions of one fault, for a pole built with it."""
    radar = pole.emulator
    name = fault.kind
    start: Callable[[], None] | None
    end: Callable[[], None] | None
    if name == "radar_unplugged":
        start, end = radar.unplug, radar.replug
    elif name == "radar_stuck":
        value = fault.value_kmh
        start, end = (lambda: radar.set_stuck(value)), (lambda: radar.set_stuck(None))
    elif name == "radar_silent":
        start, end = (lambda: radar.set_silent(True)), (lambda: radar.set_silent(False))
    elif name == "broker_down":
        broker = _needs_broker(pole)
        start, end = broker.stop, broker.start
    elif name == "clock_in_past":
        start, end = None, (lambda: pole.set_time_synced(True))
    else:  # missing_model: built in; nothing happens at run time
        start, end = None, None
    steps = []
    if start is not None:
        steps.append(Step(fault.at_s, f"{name} begins", start))
    if end is not None and fault.until_s is not None:
        steps.append(Step(fault.until_s, f"{name} ends", end))
    return steps


def schedule(faults: tuple[FaultAt, ...], pole: Faultable) -> list[Step]:
    """Every fault's steps, in time order (stable: a start before an end at the same time)."""
    steps = [step for fault in faults for step in fault_steps(fault, pole)]
    return sorted(steps, key=lambda step: step.at_s)
