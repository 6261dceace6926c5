"""What actually happened in a scenario run, and how it differs from what it promised.

``observe`` reads the pole after a run: the mock pins back, pin by pin (beacons, sign message
lines, the speed display's output enable), what the speaker recorded, the agent's decision
records (each over-limit warning, child warning, blanked display, mode change), and what the
reference consumer received from the real broker (events per stream, faults reported and
recovered, historical deliveries, gaps). ``check`` compares that ``Outcome`` with a scenario's
``Expected`` and returns one line per difference (none: the scenario told the truth).
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pole_agent.app import Agent
from pole_agent.board_profile import default_hw_dirs, resolve_profile
from pole_agent.decisions.warning_policy import DecisionRecord
from pole_agent.drivers.mqtt_link import MqttSubscriber
from pole_agent.fleet.consumer import FleetConsumer
from pole_agent.fleet.store import FleetStore
from pole_agent.telemetry import topics
from simulator.broker import MosquittoBroker
from simulator.scenarios.spec import Count, Expected

if TYPE_CHECKING:
    from simulator.scenarios.pole import ScenarioPole

SETTLE_S = 0.3
"""Real time for the broker to deliver what it acknowledged to the consumer (loopback)."""
SPEED_TOLERANCE_KMH = 3.0
"""How far a vehicle event's speed may be from the vehicle's true speed (``vehicle_speeds_kmh``):
the radar's noise and FFT bins, the mounting angle's cosine."""


class EventLog:
    """The reference consumer (``fleet listen``'s logic) on a persistent session, keeping every
    message of one pole as it arrived."""

    def __init__(self, broker: MosquittoBroker, pole_id: str, folder: Path) -> None:
        self.consumer = FleetConsumer(FleetStore(folder / "fleet.sqlite3"))
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self._subscriber = MqttSubscriber(
            host=broker.host,
            port=broker.port,
            client_id=f"scenario-fleet-{uuid.uuid4().hex[:8]}",
            filters=[topics.all_of(pole_id)],
            on_message=self._take,
        )

    def _take(self, topic: str, payload: bytes, retain: bool) -> None:
        self.consumer.handle(topic, payload, retain)
        parsed = topics.parse(topic)
        if parsed is not None:
            self.messages.append((parsed[1], json.loads(payload)))

    def start(self) -> None:
        self._subscriber.start()
        if not self._subscriber.wait_subscribed(10.0):
            raise TimeoutError("the reference consumer could not subscribe")

    def stop(self) -> None:
        self._subscriber.stop()

    def drain(self, agent: Agent, timeout_s: float) -> bool:
        """Wait (real time) until the agent's spool is empty, every message made so far
        acknowledged by the broker, and give the broker ``SETTLE_S`` to hand them on; whether
        that happened in time."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if agent.outbox.stats().depth == 0:
                time.sleep(SETTLE_S)
                return True
            time.sleep(0.02)
        return False

    def of(self, stream: str) -> list[dict[str, Any]]:
        return [body for name, body in self.messages if name == stream]


@dataclass
class Outcome:
    """What a run did; ``check`` compares it with a promise."""

    beacons: bool
    signs: frozenset[str]
    speed_shown: bool
    voice: int
    voice_volumes: frozenset[float]
    over_limit: int
    child_warnings: int
    first_child_warning_t: float | None
    display_blanked: int
    modes: tuple[str, ...]
    events: dict[str, int]
    faults: frozenset[str]
    recovered: frozenset[str]
    historical: int
    limits: frozenset[float]
    vehicle_speeds: tuple[float, ...]
    """Every vehicle event's speed (km/h), sorted."""
    zone_active: frozenset[bool]
    missing: int
    """Messages the reference consumer found missing (a hole in a stream's seqs)."""
    origin: float = 0.0
    """The pole's clock time of the scenario's time 0."""
    records: list[DecisionRecord] = field(default_factory=list)
    """Every decision record, stamped with the pole's clock (``at`` gives scenario time)."""
    steps: list[str] = field(default_factory=list)

    def at(self, record: DecisionRecord) -> float:
        """When ``record`` was made, in the scenario's time."""
        return record.t - self.origin

    def summary(self) -> list[str]:
        """One line per observed point, for people."""
        return [
            f"beacons lit: {self.beacons}; sign messages: {sorted(self.signs) or 'none'}; "
            f"speed shown: {self.speed_shown}; voice messages: {self.voice} "
            f"(volume {sorted(self.voice_volumes)})",
            f"over-limit warnings: {self.over_limit}; child warnings: {self.child_warnings}; "
            f"display blanked: {self.display_blanked}; modes: {' -> '.join(self.modes)}",
            f"events: {dict(sorted(self.events.items()))}; historical: {self.historical}; "
            f"missing: {self.missing}; vehicle speeds {list(self.vehicle_speeds)}",
            f"faults: {sorted(self.faults) or 'none'}; "
            f"recovered: {sorted(self.recovered) or 'none'}; vehicle events' limits "
            f"{sorted(self.limits)}, zone active {sorted(self.zone_active)}",
        ]


def _rose(states: list[Any], active_high: bool) -> bool:
    """Whether a mock pin's history shows it switched on (not merely its initial level)."""
    return any(
        (cur.state if active_high else not cur.state)
        and not (prev.state if active_high else not prev.state)
        for prev, cur in pairwise(states)
    )


def _pins(pole: ScenarioPole) -> tuple[bool, frozenset[str], bool]:
    profile = resolve_profile(pole.agent.config.outputs.board, default_hw_dirs())

    def lit(line: Any) -> bool:
        return _rose(list(pole.factory.pin(line.gpio).states), line.active_high)

    beacons = any(lit(line) for line in profile.lines("beacon"))
    signs = frozenset(str(line.message) for line in profile.lines("sign_message") if lit(line))
    shown = any(lit(line) for line in profile.lines("display_enable"))
    return beacons, signs, shown


def observe(pole: ScenarioPole) -> Outcome:
    """Read what happened (call before the pole is stopped: stopping resets the pins)."""
    beacons, signs, shown = _pins(pole)
    records = list(pole.records)
    kinds = Counter(r.kind for r in records)
    origin = pole.world.origin
    child = [r.t - origin for r in records if r.kind == "child_warning"]
    warnings = pole.agent.warnings
    played = getattr(warnings.voice if warnings else None, "played", [])
    events: dict[str, int] = {}
    faults: set[str] = set()
    recovered: set[str] = set()
    historical = missing = 0
    limits: set[float] = set()
    speeds: list[float] = []
    active: set[bool] = set()
    log = pole.events
    if log is not None:
        events = dict(Counter(name for name, _ in log.messages if name != "status"))
        for body in log.of("events/fault"):
            (faults if body["phase"] == "fault" else recovered).add(str(body["component"]))
        recovered &= faults
        historical = sum(1 for name, body in log.messages if body.get("historical"))
        missing = log.consumer.report().missing
        for body in log.of("events/vehicle"):
            limits.add(float(body["limit_kmh"]))
            speeds.append(float(body["speed_kmh"]))
            active.add(bool(body["zone_active"]))
    return Outcome(
        beacons=beacons,
        signs=signs,
        speed_shown=shown,
        voice=len(played),
        voice_volumes=frozenset(float(p.volume) for p in played),
        over_limit=kinds["over_limit"],
        child_warnings=len(child),
        first_child_warning_t=min(child, default=None),
        display_blanked=kinds["display_blanked"],
        modes=tuple(str(r.inputs["mode"]) for r in records if r.kind == "mode"),
        events=events,
        faults=frozenset(faults),
        recovered=frozenset(recovered),
        historical=historical,
        limits=frozenset(limits),
        vehicle_speeds=tuple(sorted(speeds)),
        zone_active=frozenset(active),
        missing=missing,
        origin=origin,
        records=records,
        steps=list(pole.log),
    )


def _count(name: str, want: Count | None, got: int) -> list[str]:
    return [] if want is None or want.holds(got) else [f"{name}: expected {want}, got {got}"]


def _same(name: str, want: object, got: object) -> list[str]:
    return [] if want is None or want == got else [f"{name}: expected {want}, got {got}"]


def check(expected: Expected, outcome: Outcome) -> list[str]:
    """Every way ``outcome`` differs from ``expected``; empty when the promise held."""
    e, o = expected, outcome
    problems = [
        *_same("beacons lit", e.beacons, o.beacons),
        *_same("sign messages", e.signs, o.signs),
        *_same("speed shown", e.speed_shown, o.speed_shown),
        *_count("voice messages", e.voice, o.voice),
        *_count("over-limit warnings", e.over_limit, o.over_limit),
        *_count("child warnings", e.child_warnings, o.child_warnings),
        *_count("display blanked", e.display_blanked, o.display_blanked),
        *_same("modes", e.modes, o.modes),
        *_same("faults reported", e.faults, o.faults),
        *_same("faults recovered", e.recovered, o.recovered),
        *_count("historical messages", e.historical, o.historical),
    ]
    for stream, want in sorted(e.events.items()):
        problems += _count(stream, want, o.events.get(stream, 0))
    if e.voice_volume is not None and o.voice_volumes - {e.voice_volume}:
        problems.append(f"voice volume: expected {e.voice_volume}, got {sorted(o.voice_volumes)}")
    if e.limit_kmh is not None and o.limits - {e.limit_kmh}:
        problems.append(f"vehicle events' limit: expected {e.limit_kmh}, got {sorted(o.limits)}")
    if e.zone_active is not None and o.zone_active - {e.zone_active}:
        problems.append(f"vehicle events' zone_active: expected {e.zone_active}")
    after = e.first_child_warning_after_s
    first = o.first_child_warning_t
    if after is not None and first is not None and first < after:
        problems.append(f"first child warning at {first:.2f} s, before {after} s")
    if e.vehicle_speeds_kmh is not None:
        problems += _speeds(e.vehicle_speeds_kmh, o.vehicle_speeds)
    if o.missing:
        problems.append(f"the reference consumer found {o.missing} message(s) missing")
    return problems


def _speeds(true_kmh: frozenset[float], reported: tuple[float, ...]) -> list[str]:
    """One vehicle event per true speed, each (in order) within the tolerance."""
    want = sorted(float(v) for v in true_kmh if isinstance(v, int | float))
    if len(true_kmh) != len(reported) or len(want) != len(true_kmh):
        return [f"vehicle speeds: expected {want}, got {list(reported)}"]
    pairs = zip(want, sorted(reported), strict=True)
    off = [(w, r) for w, r in pairs if abs(w - r) > SPEED_TOLERANCE_KMH]
    return [f"vehicle speeds: {r} km/h reported for a vehicle at {w}" for w, r in off]
