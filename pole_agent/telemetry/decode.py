"""Reading a pole's payload back: bytes from the broker to a validated message, or a
``DecodeError`` that says what was wrong. Never raises anything else, whatever the bytes (the
fleet consumer runs it on everything it receives; tests fuzz it).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from pole_agent.telemetry.messages import (
    SCHEMA_VERSION,
    DecisionEvent,
    FaultEvent,
    Payload,
    PedestrianEvent,
    StatusOffline,
    StatusOnline,
    StatusStopped,
    VehicleEvent,
    WarningEvent,
)
from pole_agent.telemetry.report_messages import HealthReport, StatsReport

MAX_PAYLOAD = 256 * 1024

_BY_STREAM: dict[str, type[Payload]] = {
    "events/vehicle": VehicleEvent,
    "events/pedestrian": PedestrianEvent,
    "events/warning": WarningEvent,
    "events/decision": DecisionEvent,
    "events/fault": FaultEvent,
    "stats": StatsReport,
    "health": HealthReport,
}
_BY_STATE: dict[str, type[Payload]] = {
    "online": StatusOnline,
    "stopped": StatusStopped,
    "offline": StatusOffline,
}


class DecodeError(ValueError):
    """A payload that is not a valid message of its stream; the text says why."""


def model_for(stream: str, data: dict[str, Any]) -> type[Payload]:
    if stream == "status":
        state = data.get("state")
        model = _BY_STATE.get(state) if isinstance(state, str) else None
        if model is None:
            raise DecodeError(f"status: unknown state {str(state)[:40]!r}")
        return model
    model = _BY_STREAM.get(stream)
    if model is None:
        raise DecodeError(f"unknown stream {stream[:60]!r}")
    return model


def decode(stream: str, payload: bytes) -> Payload:
    """The message ``payload`` on ``stream`` (e.g. ``events/vehicle``) carries."""
    if len(payload) > MAX_PAYLOAD:
        raise DecodeError(f"payload of {len(payload)} bytes is over {MAX_PAYLOAD}")
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError is a ValueError
        raise DecodeError(f"not JSON: {str(err)[:120]}") from None
    if not isinstance(data, dict):
        raise DecodeError(f"not a JSON object but {type(data).__name__}")
    version = data.get("schema_version")
    if type(version) is not int or not 1 <= version <= SCHEMA_VERSION:
        raise DecodeError(f"schema_version {str(version)[:20]!r} is not one this reader knows")
    model = model_for(stream, data)
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise DecodeError(
            f"{stream}: {where}: {first['msg'][:160]} ({err.error_count()} problem(s))"
        ) from None
    except (RecursionError, OverflowError) as err:
        raise DecodeError(f"{stream}: {type(err).__name__}") from None
