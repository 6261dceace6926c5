"""The warning path in memory, for radar tests: a real pipeline, tracker, policy and reporter,
beacons that record their calls and a publisher that keeps what it is given."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pole_agent.clock import ManualClock
from pole_agent.config import RadarConfig, TrackingConfig, WarningConfig, ZoneConfig
from pole_agent.decisions.beacon_policy import BeaconPolicy
from pole_agent.decisions.zone_schedule import ZoneSchedule
from pole_agent.perception.transit import TransitTracker
from pole_agent.radar_pipeline import RadarPipeline
from pole_agent.telemetry.reporter import Reporter


@dataclass
class Beacons:
    calls: list[str] = field(default_factory=list)
    lit: bool = False

    def activate(self) -> None:
        self.calls.append("activate")
        self.lit = True

    def deactivate(self) -> None:
        self.calls.append("deactivate")
        self.lit = False

    @property
    def active(self) -> bool:
        return self.lit

    def close(self) -> None:
        self.lit = False


@dataclass
class Publisher:
    messages: list[tuple[str, bytes]] = field(default_factory=list)

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        self.messages.append((topic, payload))

    def link_state(self) -> str:
        return "connected"

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(p) for t, p in self.messages if t.endswith("/events/vehicle")]


@dataclass
class PipelineRig:
    clock: ManualClock
    beacons: Beacons
    publisher: Publisher
    pipeline: RadarPipeline
    tracker: TransitTracker


def pipeline_rig(
    radar: RadarConfig | None = None,
    clock: ManualClock | None = None,
    beacons: Beacons | None = None,
) -> PipelineRig:
    radar = radar or RadarConfig()
    clock = clock or ManualClock()
    beacons = beacons or Beacons()
    publisher = Publisher()
    zone = ZoneConfig.model_validate({"active": {"start": "00:00", "end": "00:00"}})
    tracker = TransitTracker(
        TrackingConfig(), radar.mounting_angle_deg, lateral_offset_m=radar.lateral_offset_m
    )
    pipeline = RadarPipeline(
        clock=clock,
        schedule=ZoneSchedule(zone),
        tracker=tracker,
        policy=BeaconPolicy(WarningConfig()),
        beacons=beacons,
        reporter=Reporter("radar-pole", "boot-1", clock, publisher, ["radar", "beacons"]),
        max_speed_kmh=radar.max_speed_kmh,
        has_range=radar.has_range,
    )
    return PipelineRig(clock, beacons, publisher, pipeline, tracker)
