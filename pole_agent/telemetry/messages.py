"""Payloads the pole publishes, as pydantic models (docs/mqtt.md is their contract).

Every message but the Last Will carries ``schema_version``, ``pole_id``, ``boot_id``, ``seq`` (per
topic, per boot, from 1, increasing by one) and ``ts`` (ISO 8601, UTC), so that a consumer can count
what it lost and tell a restart from a gap.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = Field(default=SCHEMA_VERSION, description="Payload schema version.")
    pole_id: str = Field(description="The publishing pole.")
    boot_id: str = Field(description="Random id of this run of the agent.")
    seq: int = Field(ge=1, description="Per topic and boot, from 1, increasing by one.")
    ts: datetime = Field(description="When the message's subject happened (UTC).")


class WarningRecord(BaseModel):
    """Why a warning was given: the decision record."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: str = Field(description="The rule that fired, e.g. over-limit-approaching.")
    at: datetime = Field(description="When the warning started (UTC).")
    speed_kmh: float = Field(description="The confirming frame's ground speed.")
    limit_kmh: float = Field(description="The limit in force then.")
    confirm_frames: int = Field(description="Consecutive over-limit frames that confirmed it.")


class VehicleEvent(Message):
    """One vehicle transit past the pole (either direction)."""

    transit_id: int = Field(description="Per boot, increasing.")
    start: datetime = Field(description="First frame of the transit (UTC); ts is its last.")
    speed_kmh: float = Field(description="Peak ground speed, corrected for the mounting angle.")
    median_kmh: float = Field(description="Median ground speed over the transit.")
    direction: Literal["approaching", "receding"]
    samples: int = Field(description="Radar frames in the transit.")
    limit_kmh: float = Field(description="The speed limit in force at the transit's end.")
    zone_active: bool = Field(description="Whether the school zone was active.")
    over_limit: bool = Field(description="speed_kmh > limit_kmh.")
    warned: bool = Field(description="Whether the beacons warned this vehicle.")
    warning: WarningRecord | None = Field(default=None, description="The decision, if warned.")


class StatusOnline(Message):
    """Birth: published retained on every (re)connect."""

    state: Literal["online"] = "online"
    agent_version: str
    started: datetime = Field(description="When this boot of the agent started (UTC).")
    capabilities: list[str] = Field(description="What this pole can do, e.g. radar, beacons.")


class StatusStopped(Message):
    """Published retained on a clean stop."""

    state: Literal["stopped"] = "stopped"
    reason: str


class StatusOffline(BaseModel):
    """The Last Will: set at connect time, so it has no seq or ts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = SCHEMA_VERSION
    state: Literal["offline"] = "offline"
    pole_id: str
    boot_id: str
