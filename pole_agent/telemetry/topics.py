"""MQTT topic names: every topic the pole uses is built here (docs/mqtt.md lists them)."""

from __future__ import annotations

PREFIX = "spole"


def status(pole_id: str) -> str:
    return f"{PREFIX}/{pole_id}/status"


def vehicle_events(pole_id: str) -> str:
    return f"{PREFIX}/{pole_id}/events/vehicle"


def all_of(pole_id: str) -> str:
    """A subscription filter for everything one pole publishes."""
    return f"{PREFIX}/{pole_id}/#"
