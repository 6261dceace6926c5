"""MQTT topic names: every topic the pole uses is built here (docs/mqtt.md lists them).

A pole publishes under ``spole/<pole_id>/<stream>``; ``stream`` is one of ``STREAMS``. Warnings
and faults are the safety streams: the spool never drops them to make room for routine data.
"""

from __future__ import annotations

import re
from typing import Final, Literal

PREFIX: Final = "spole"

Stream = Literal[
    "status",
    "events/vehicle",
    "events/pedestrian",
    "events/warning",
    "events/decision",
    "events/fault",
    "stats",
    "health",
]

STREAMS: Final[tuple[Stream, ...]] = (
    "status",
    "events/vehicle",
    "events/pedestrian",
    "events/warning",
    "events/decision",
    "events/fault",
    "stats",
    "health",
)

SAFETY_STREAMS: Final[frozenset[str]] = frozenset(
    {"events/warning", "events/decision", "events/fault"}
)
"""Streams whose messages are kept when the spool is full (routine ones are dropped first)."""

_POLE_ID = re.compile(r"^[a-z0-9-]{1,64}$")


def topic(pole_id: str, stream: Stream) -> str:
    return f"{PREFIX}/{pole_id}/{stream}"


def status(pole_id: str) -> str:
    return topic(pole_id, "status")


def vehicle_events(pole_id: str) -> str:
    return topic(pole_id, "events/vehicle")


def pedestrian_events(pole_id: str) -> str:
    return topic(pole_id, "events/pedestrian")


def warning_events(pole_id: str) -> str:
    return topic(pole_id, "events/warning")


def decision_events(pole_id: str) -> str:
    return topic(pole_id, "events/decision")


def fault_events(pole_id: str) -> str:
    return topic(pole_id, "events/fault")


def stats(pole_id: str) -> str:
    return topic(pole_id, "stats")


def health(pole_id: str) -> str:
    return topic(pole_id, "health")


def all_of(pole_id: str) -> str:
    """A subscription filter for everything one pole publishes."""
    return f"{PREFIX}/{pole_id}/#"


def every_pole() -> str:
    """A subscription filter for everything every pole publishes (the city's consumer)."""
    return f"{PREFIX}/+/#"


def parse(name: str) -> tuple[str, Stream] | None:
    """``(pole_id, stream)`` for a pole topic, or None for anything else (never raises)."""
    if not isinstance(name, str) or not name.startswith(PREFIX + "/"):
        return None
    rest = name[len(PREFIX) + 1 :]
    pole_id, sep, stream = rest.partition("/")
    if not sep or not _POLE_ID.match(pole_id):
        return None
    for known in STREAMS:
        if stream == known:
            return pole_id, known
    return None


def is_safety(name: str) -> bool:
    """Whether a topic carries safety events (warnings, faults)."""
    parsed = parse(name)
    return parsed is not None and parsed[1] in SAFETY_STREAMS


# -- remote management (docs/remote.md): the city writes, the pole reads and answers -------------


def config_desired(pole_id: str) -> str:
    """The city's desired config for one pole (the pole reads it)."""
    return f"{PREFIX}/{pole_id}/config/desired"


def config_reported(pole_id: str) -> str:
    """The pole's answer to a desired config: applied version, rejection or rollback (retained)."""
    return f"{PREFIX}/{pole_id}/config/reported"


def command(pole_id: str, name: str) -> str:
    return f"{PREFIX}/{pole_id}/cmd/{name}"


def commands_filter(pole_id: str) -> str:
    """A subscription filter for every command sent to one pole."""
    return f"{PREFIX}/{pole_id}/cmd/+"


def command_result(pole_id: str, name: str) -> str:
    return f"{PREFIX}/{pole_id}/cmd/{name}/result"


def parse_remote(pole_id: str, name: str) -> tuple[Literal["config", "command"], str] | None:
    """``("config", "")`` for the pole's desired config topic, ``("command", <name>)`` for one
    of its command topics, None for anything else (never raises)."""
    if name == config_desired(pole_id):
        return "config", ""
    base = f"{PREFIX}/{pole_id}/cmd/"
    rest = name[len(base) :] if name.startswith(base) else ""
    if rest and "/" not in rest and re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", rest):
        return "command", rest
    return None
