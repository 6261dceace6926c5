"""A lightweight pole: the agent's own ``Reporter`` fed from the simulator's traffic model.

No radar, no pins, no spool: a pole model turns the vehicles ``simulator.world.generate_vehicles``
makes for it into what the agent would publish about them, through the agent's own message
builders (``pole_agent.telemetry.reporter.Reporter``, which numbers every stream per boot and
encodes with ``pole_agent.telemetry.messages``), on the agent's topics
(``pole_agent.telemetry.topics``). So the contract a fleet run exercises is the agent's, and
cannot drift from it.

What the model decides itself, simply: a vehicle is one transit from entering to leaving the
beam (overlapping vehicles are not merged); an approaching vehicle over the limit while the zone
is active is warned ``confirm_frames`` radar frames after it enters (warning start), and the
warning ends with its transit; every pole is in its school morning (zone active, 30 km/h).
Health reports go out every ``health_interval_s`` from a random phase (poles boot at different
times); stats windows close on the wall-clock boundaries, at the same instant on every pole, as
the agent's do.
"""

from __future__ import annotations

import heapq
import math
import random
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pole_agent import __version__
from pole_agent.config import TelemetryConfig, WarningConfig, ZoneConfig
from pole_agent.decisions.beacon_policy import RULE_OVER_LIMIT, WarningStart
from pole_agent.decisions.zone_schedule import ZoneState
from pole_agent.perception.transit import Transit
from pole_agent.ports import Clock
from pole_agent.telemetry import topics
from pole_agent.telemetry.discovery import discovery_messages
from pole_agent.telemetry.messages import StatusOffline
from pole_agent.telemetry.report_messages import ComponentReport, LinkReport, SpoolReport
from pole_agent.telemetry.reporter import Reporter
from simulator.fleet.loop_client import LoopClient
from simulator.world import TrafficScenario, Vehicle, generate_vehicles

FRAME_S = 0.1
"""The radar's frame period (OPS243 at its default ~10 Hz reporting, as the emulator runs)."""
CAPABILITIES = ["radar", "beacons", "sign", "speaker"]
MORNING_WINDOW = "school-morning"
MORNING = ZoneState(
    active=True, limit_kmh=ZoneConfig().speed_limit_kmh, window=MORNING_WINDOW, school_day=True
)
"""The zone in a school morning: active, at the default limit."""
_SEQ = re.compile(rb'"seq":(\d+)')
_SPOOL_MAX_BYTES = TelemetryConfig().spool_max_bytes

PublishStamp = Callable[[str, int], None]
"""Called with (topic, seq) as each counted message is handed to the connection."""


@dataclass(frozen=True, kw_only=True)
class PoleTraffic:
    """What every pole of a run sees (each with its own random seed)."""

    vehicles_per_hour: float = 1500.0
    zone: ZoneState = MORNING
    confirm_frames: int = WarningConfig().confirm_frames
    hold_s: float = WarningConfig().hold_s
    health_interval_s: float = TelemetryConfig().health_interval_s
    stats_interval_s: int = TelemetryConfig().stats_interval_s
    discovery: bool = True


def offered_rate(traffic: PoleTraffic, scenario: TrafficScenario | None = None) -> float:
    """Counted messages a second one pole publishes on average: a vehicle event per vehicle, a
    warning start and end per warned vehicle (approaching, over the limit: the share of the
    traffic model's normal speeds above it), a health report and a stats window per interval."""
    scenario = scenario or TrafficScenario(vehicles_per_hour=traffic.vehicles_per_hour)
    z = (traffic.zone.limit_kmh - scenario.speed_mean_kmh) / scenario.speed_sd_kmh
    over = 0.5 * math.erfc(z / math.sqrt(2.0)) if traffic.zone.active else 0.0
    warned = scenario.approaching_share * over
    per_vehicle = 1.0 + 2.0 * warned
    return (
        traffic.vehicles_per_hour / 3600.0 * per_vehicle
        + 1.0 / traffic.health_interval_s
        + 1.0 / traffic.stats_interval_s
    )


class _ConnectionPublisher:
    """The ``Publisher`` port over a fleet connection, stamping each message's hand-over."""

    def __init__(self, client: LoopClient, stamp: PublishStamp) -> None:
        self._client = client
        self._stamp = stamp

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        found = _SEQ.search(payload)
        self._stamp(topic, int(found.group(1)) if found else 0)
        self._client.publish(topic, payload, retain=retain)

    def link_state(self) -> str:
        return "lost" if self._client.lost else "connected"


class PoleModel:
    """One simulated pole on a shared clock; ``actions`` yields what it does, in time order."""

    def __init__(
        self,
        pole_id: str,
        *,
        clock: Clock,
        traffic: PoleTraffic,
        seed: int,
        duration_s: float,
        stamp: PublishStamp,
        keepalive_s: int = 30,
    ) -> None:
        self.pole_id = pole_id
        self.boot_id = uuid.uuid4().hex[:16]
        self._clock = clock
        self._traffic = traffic
        self._seed = seed
        self._duration_s = duration_s
        self._origin = clock.monotonic()
        """The clock's monotonic reading at the timeline's start (set by ``actions``)."""
        self.client = LoopClient(
            client_id=f"spole-{pole_id}",
            username=pole_id,
            will_topic=topics.status(pole_id),
            will_payload=StatusOffline(pole_id=pole_id, boot_id=self.boot_id)
            .model_dump_json()
            .encode(),
            keepalive_s=keepalive_s,
        )
        self.reporter = Reporter(
            pole_id,
            self.boot_id,
            clock,
            _ConnectionPublisher(self.client, stamp),
            CAPABILITIES,
            stats_interval_s=traffic.stats_interval_s,
            warning_hold_s=traffic.hold_s,
        )

    # -- connect and stop ----------------------------------------------------------------------

    def birth(self) -> None:
        """What the agent's link publishes on every connect: the birth and the discovery
        configs, retained, outside the counted streams."""
        self.client.publish(topics.status(self.pole_id), self.reporter.online(), retain=True)
        if self._traffic.discovery:
            for topic, payload in discovery_messages(self.pole_id, __version__):
                self.client.publish(topic, payload, retain=True)

    def stop(self, reason: str) -> None:
        """A clean stop, as the agent's: the open stats window, then ``stopped`` (retained)."""
        self.reporter.close_stats()
        self.client.publish(topics.status(self.pole_id), self.reporter.stopped(reason), retain=True)

    # -- the timeline ----------------------------------------------------------------------------

    def actions(self, origin: float) -> Iterator[tuple[float, Callable[[], None]]]:
        """``(due, act)`` in order of ``due``: simulated seconds from ``origin``, the clock's
        monotonic reading when the traffic starts."""
        self._origin = origin
        rng = random.Random(self._seed)
        timers: list[tuple[float, int, Callable[[], None]]] = []
        order = 0

        def add(due: float, act: Callable[[], None]) -> None:
            nonlocal order
            if due < self._duration_s:
                heapq.heappush(timers, (due, order, act))
                order += 1

        scenario = TrafficScenario(
            vehicles_per_hour=self._traffic.vehicles_per_hour, seed=self._seed
        )
        for index, vehicle in enumerate(generate_vehicles(scenario, self._duration_s)):
            self._plan_vehicle(index + 1, vehicle, add)
        health_every = self._traffic.health_interval_s
        due = rng.uniform(0.0, health_every)
        while due < self._duration_s:
            add(due, self._health)
            due += health_every
        interval = self._traffic.stats_interval_s
        start_epoch = self._clock.wall().timestamp()
        due = (start_epoch // interval + 1) * interval - start_epoch
        while due < self._duration_s:
            add(due, self._roll_stats)
            due += interval
        while timers:
            due, _, act = heapq.heappop(timers)
            yield due, act

    def _plan_vehicle(
        self, transit_id: int, vehicle: Vehicle, add: Callable[[float, Callable[[], None]], None]
    ) -> None:
        zone = self._traffic.zone
        start = self._origin + vehicle.enter_s
        end = self._origin + vehicle.exit_s
        speed = round(vehicle.speed_kmh, 1)
        transit = Transit(
            transit_id=transit_id,
            direction=vehicle.direction,
            start_t=start,
            end_t=end,
            peak_kmh=speed,
            median_kmh=speed,
            samples=max(1, round(vehicle.dwell_s / FRAME_S)),
        )
        warning: WarningStart | None = None
        confirm_s = self._traffic.confirm_frames * FRAME_S
        if (
            vehicle.direction == "approaching"
            and zone.active
            and speed > zone.limit_kmh
            and vehicle.dwell_s > confirm_s
        ):
            warning = WarningStart(
                transit_id=transit_id,
                t=start + confirm_s,
                rule=RULE_OVER_LIMIT,
                speed_kmh=speed,
                limit_kmh=zone.limit_kmh,
                confirm_frames=self._traffic.confirm_frames,
            )
            warned = warning
            add(vehicle.enter_s + confirm_s, lambda: self.reporter.warning_start(warned, zone))

        def transit_ends() -> None:
            self.reporter.vehicle(transit, zone, warning)
            if warning is not None:
                self.reporter.warning_end(warning, transit, zone)

        add(vehicle.exit_s, transit_ends)

    def _health(self) -> None:
        since = self._clock.wall()
        ok = ComponentReport(state="ok", reason="fleet model", since=since)
        self.reporter.health(
            overall="ok",
            components={"mqtt": ok, "radar.road": ok, "spool": ok},
            cpu_temp_c=None,
            load=None,
            memory=None,
            disk=None,
            spool=SpoolReport(
                state="ok",
                depth=self.client.unacked,
                bytes=0,
                disk_bytes=0,
                max_bytes=_SPOOL_MAX_BYTES,
                oldest_s=None,
                dropped={},
                dropped_total=0,
                dropped_safety=0,
                write_errors=0,
                drops=[],
            ),
            link=LinkReport(
                state="lost" if self.client.lost else "connected",
                connects=1,
                delivered=self.client.acked,
                rejected=0,
            ),
            clock_trusted=True,
            uptime_s=round(self._clock.monotonic() - self._origin, 1),
        )

    def _roll_stats(self) -> None:
        self.reporter.roll_stats(self._traffic.zone)
