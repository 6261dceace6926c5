"""Payloads the pole publishes on status and events, as pydantic models (docs/mqtt.md is their
contract; pole_agent/telemetry/schemas/ holds the JSON Schema generated from each).

Every message but the Last Will carries ``schema_version``, ``pole_id``, ``boot_id``, ``seq`` (per
topic, per boot, from 1, increasing by one), ``ts`` (ISO 8601, UTC) and ``historical`` (true when
it is delivered from the spool after an outage or a restart), so that a consumer can count what it
lost and tell a restart from a gap.

``historical`` is decided when a message is sent, not when it is made: ``encode`` always puts it
last as ``false``, and ``mark_historical`` flips those last bytes without re-parsing the payload.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

SCHEMA_VERSION = 1

_LIVE_TAIL = b',"historical":false}'
_HISTORICAL_TAIL = b',"historical":true}'

JsonScalar = str | int | float | bool | None


def _in_utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo is not None else value


UtcDatetime = Annotated[datetime, PlainSerializer(_in_utc, return_type=datetime, when_used="json")]
"""Every time on the wire is UTC (``Z``), whatever zone the clock that made it used (a simulated
pole's clock runs in Seoul time). Turned when the message is written, so reading one costs
nothing more (a validator on every field made the consumer's decode 40 % slower)."""


class Payload(BaseModel):
    # The published schema (serialization mode) requires every field: the agent always writes
    # them all, defaults included.
    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_serialization_defaults_required=True
    )


class Message(Payload):
    schema_version: int = Field(default=SCHEMA_VERSION, description="Payload schema version.")
    pole_id: str = Field(description="The publishing pole.")
    boot_id: str = Field(description="Random id of this run of the agent.")
    seq: int = Field(ge=1, description="Per topic and boot, from 1, increasing by one.")
    ts: UtcDatetime = Field(description="When the message's subject happened (UTC).")
    historical: bool = Field(
        default=False,
        description="True when delivered from the spool after an outage or a restart.",
    )


def encode(message: Message) -> bytes:
    """JSON bytes with ``historical`` last, so that ``mark_historical`` can flip it cheaply."""
    body = message.model_dump_json(exclude={"historical"}).encode()
    return body[:-1] + (_HISTORICAL_TAIL if message.historical else _LIVE_TAIL)


def mark_historical(payload: bytes) -> bytes:
    """The same message with ``historical: true`` (payloads not made by ``encode`` unchanged)."""
    if payload.endswith(_LIVE_TAIL):
        return payload[: -len(_LIVE_TAIL)] + _HISTORICAL_TAIL
    return payload


# -- status ------------------------------------------------------------------------------------


class ModelVersion(Payload):
    """One on-device model the agent runs."""

    name: str = Field(description="The model's name, e.g. vehicle-class.")
    version: str = Field(description="Its version from its metadata file.")


class StatusOnline(Message):
    """Birth: published retained on every (re)connect."""

    state: Literal["online"] = "online"
    agent_version: str = Field(description="The agent's version.")
    versions: dict[str, str] = Field(
        default_factory=dict,
        description="Versions of the software the agent runs on (python, paho-mqtt, sqlite ...).",
    )
    models: list[ModelVersion] = Field(
        default_factory=list, description="On-device models and their versions (none yet)."
    )
    radars: dict[str, dict[str, JsonScalar] | None] = Field(
        default_factory=dict,
        description="Each radar's identity by role (road, kerb): model, product, version, uid "
        "...; null while the sensor has not answered.",
    )
    config_version: int = Field(default=0, ge=0, description="The config's config_version.")
    started: UtcDatetime = Field(description="When this boot of the agent started (UTC).")
    capabilities: list[str] = Field(description="What this pole can do, e.g. radar, beacons.")


class StatusStopped(Message):
    """Published retained on a clean stop."""

    state: Literal["stopped"] = "stopped"
    reason: str = Field(description="Why the agent stopped (signal, duration elapsed ...).")


class StatusOffline(Payload):
    """The Last Will: set at connect time, so it has no seq or ts."""

    schema_version: int = Field(default=SCHEMA_VERSION, description="Payload schema version.")
    state: Literal["offline"] = "offline"
    pole_id: str = Field(description="The pole whose connection was lost.")
    boot_id: str = Field(description="The boot whose connection was lost.")


# -- events ------------------------------------------------------------------------------------


class WarningRecord(Payload):
    """Why a warning was given: the decision record."""

    rule: str = Field(description="The rule that fired, e.g. over-limit-approaching.")
    at: UtcDatetime = Field(description="When the warning started (UTC).")
    speed_kmh: float = Field(description="The confirming frame's ground speed.")
    limit_kmh: float = Field(description="The limit in force then.")
    confirm_frames: int = Field(description="Consecutive over-limit frames that confirmed it.")


class VehicleEvent(Message):
    """One vehicle transit past the pole (either direction)."""

    transit_id: int = Field(description="Per boot, increasing.")
    start: UtcDatetime = Field(description="First frame of the transit (UTC); ts is its last.")
    speed_kmh: float = Field(description="Peak ground speed, corrected for the mounting angle.")
    median_kmh: float = Field(description="Median ground speed over the transit.")
    direction: Literal["approaching", "receding"] = Field(description="Relative to the pole.")
    vehicle_class: str = Field(
        default="unclassified",
        description="The vehicle's class from the on-device model; unclassified until it runs.",
    )
    samples: int = Field(description="Radar frames in the transit.")
    limit_kmh: float = Field(description="The speed limit in force at the transit's end.")
    zone_active: bool = Field(description="Whether the school zone was active.")
    over_limit: bool = Field(description="speed_kmh > limit_kmh.")
    warned: bool = Field(description="Whether the beacons warned this vehicle.")
    warning: WarningRecord | None = Field(default=None, description="The decision, if warned.")


class PedestrianEvent(Message):
    """A pedestrian seen near the crossing: one per pedestrian the kerb radar model followed,
    sent when they are gone."""

    pedestrian_id: int = Field(description="Per boot, increasing.")
    start: UtcDatetime = Field(description="When the pedestrian was first seen (UTC).")
    child: bool | None = Field(description="Whether the model judged a child; null if unknown.")
    child_confidence: float | None = Field(
        default=None, ge=0, le=1, description="The model's confidence in `child`."
    )
    crossing: bool = Field(description="Whether the pedestrian was entering the road.")
    source: Literal["radar", "camera"] = Field(description="The sensor that saw them.")
    warned: bool = Field(description="Whether the speaker warned them.")


class WarningEvent(Message):
    """A warning's start (the decision record) and its end, sharing ``warning_id``."""

    phase: Literal["start", "end"] = Field(description="start when decided; end when done.")
    warning_id: int = Field(description="Per boot, increasing; start and end share it.")
    transit_id: int = Field(description="The warned vehicle's transit (events/vehicle).")
    decision: WarningRecord = Field(description="Why it was given.")
    zone_active: bool = Field(description="Whether the school zone was active.")
    peak_kmh: float | None = Field(
        default=None, description="end: the vehicle's peak ground speed over its transit."
    )
    hold_until: UtcDatetime | None = Field(
        default=None, description="end: the beacons keep flashing until then (UTC)."
    )


class DecisionEvent(Message):
    """A decision of the warning rules other than the over-limit warning (which events/warning
    carries): a child warning (voice and sign), the speed display blanked, a fail-safe mode
    change. ``ts`` is when it was decided; the record says what triggered it and why."""

    kind: Literal["child_warning", "display_blanked", "mode"] = Field(
        description="What was decided."
    )
    rule: str = Field(description="The rule that decided it (docs/warnings.md).")
    trigger: str = Field(description="What set it off, in words.")
    inputs: dict[str, str | float | int | bool | None] = Field(
        description="The values the rule looked at (speeds, time to arrival, zone, mode, ...)."
    )
    outputs: list[str] = Field(
        description="What the pole did, e.g. beacons, sign:child_crossing, voice:car_coming_ko."
    )


HealthStateName = Literal["ok", "degraded", "failed"]


class FaultEvent(Message):
    """A component leaving ``ok`` (fault), changing state while not ok (update), or coming back
    (recovery); an episode's messages share ``fault_id``."""

    phase: Literal["fault", "update", "recovery"] = Field(description="What happened.")
    fault_id: int = Field(description="Per boot, increasing; one id per episode.")
    component: str = Field(description="The component, e.g. radar.road, spool, mqtt.")
    state: HealthStateName = Field(description="Its state now.")
    previous: HealthStateName | None = Field(description="Its state before (null: first report).")
    reason: str = Field(description="Why, in words.")
    since: UtcDatetime = Field(description="When it entered this state (UTC).")
