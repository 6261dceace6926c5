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


def decode(stream: str, payload: bytes, ignored: list[str] | None = None) -> Payload:
    """The message ``payload`` on ``stream`` (e.g. ``events/vehicle``) carries.

    Fields this reader does not know are ignored (docs/mqtt.md, "Versions": a field may be
    added within a schema version; only a change of meaning bumps it), so a consumer older than
    the poles still reads their messages; their paths (``components.radar.road.x``) are added
    to ``ignored`` when it is given. Everything else that does not fit is a ``DecodeError``."""
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
        try:
            return model.model_validate(data)
        except ValidationError as err:
            unknown = _unknown_fields(err)
            if not unknown or not all(_drop(data, loc) for loc in unknown):
                raise
        message = model.model_validate(data)  # the same, without the fields it does not know
        if ignored is not None:
            ignored.extend(".".join(str(part) for part in loc) for loc in unknown)
        return message
    except ValidationError as err:
        errors = err.errors()  # the first that is not a field this reader does not know
        first = next((e for e in errors if e["type"] != "extra_forbidden"), errors[0])
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise DecodeError(
            f"{stream}: {where}: {first['msg'][:160]} ({err.error_count()} problem(s))"
        ) from None
    except (RecursionError, OverflowError) as err:
        raise DecodeError(f"{stream}: {type(err).__name__}") from None


def _unknown_fields(err: ValidationError) -> list[tuple[int | str, ...]]:
    """Where the fields the model does not know are, when that is all that is wrong."""
    errors = err.errors()
    if any(error["type"] != "extra_forbidden" for error in errors):
        return []
    return [tuple(error["loc"]) for error in errors]


def _drop(data: Any, loc: tuple[int | str, ...]) -> bool:
    """Remove the field at ``loc`` from the parsed JSON; False when it is not there."""
    for part in loc[:-1]:
        in_dict = isinstance(data, dict) and isinstance(part, str) and part in data
        in_list = isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        if not (in_dict or in_list):
            return False
        data = data[part]
    if not loc or not isinstance(data, dict) or loc[-1] not in data:
        return False
    del data[loc[-1]]
    return True
