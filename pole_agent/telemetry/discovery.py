"""Home Assistant MQTT discovery: retained config messages under ``<prefix>/<component>/
spole-<pole_id>/<object>/config`` that make a pole's sensors appear on a dashboard with no code.

Each entity reads one of the pole's own topics with a value template; availability follows the
retained status (online; anything else is offline). The link publishes these on every connect,
retained, outside the spool (they describe the pole, they are not records to count).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pole_agent.telemetry import topics


class Availability(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    topic: str = Field(description="The pole's status topic.")
    value_template: str = Field(description="Maps the status payload to online / offline.")


class Device(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    identifiers: list[str] = Field(description="spole-<pole_id>.")
    name: str = Field(description="Shown on the dashboard.")
    manufacturer: str = Field(description="S-Pole.")
    model: str = Field(description="School-zone pole.")
    sw_version: str = Field(description="The agent's version.")


class DiscoveryConfig(BaseModel):
    """One Home Assistant entity (the fields HA's MQTT sensor and binary_sensor take)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="The entity's name under its device.")
    unique_id: str = Field(description="Stable across restarts: spole-<pole_id>-<object>.")
    object_id: str = Field(description="Suggested entity id.")
    state_topic: str = Field(description="The pole topic the entity reads.")
    value_template: str = Field(description="Jinja template over the JSON payload.")
    availability: list[Availability] = Field(description="Follows the pole's status.")
    device: Device = Field(description="The pole.")
    unit_of_measurement: str | None = Field(default=None, description="Unit, if any.")
    device_class: str | None = Field(default=None, description="HA device class, if any.")
    state_class: str | None = Field(default=None, description="measurement, if numeric.")
    payload_on: str | None = Field(default=None, description="binary_sensor: the on value.")
    payload_off: str | None = Field(default=None, description="binary_sensor: the off value.")
    entity_category: Literal["diagnostic"] | None = Field(
        default=None, description="diagnostic for the pole's own health gauges."
    )


Component = Literal["sensor", "binary_sensor"]

# object, component, name, stream, template, unit, device class, state class, diagnostic
_ENTITIES: tuple[tuple[str, Component, str, str, str, str | None, str | None, bool], ...] = (
    ("last_speed", "sensor", "Last vehicle speed", "events/vehicle",
     "{{ value_json.speed_kmh }}", "km/h", "speed", False),
    ("vehicles", "sensor", "Vehicles per window", "stats",
     "{{ value_json.total.count }}", None, None, False),
    ("p85_speed", "sensor", "85th percentile speed", "stats",
     "{{ value_json.total.p85_kmh }}", "km/h", "speed", False),
    ("over_limit", "sensor", "Vehicles over the limit", "stats",
     "{{ value_json.total.over_limit }}", None, None, False),
    ("warnings", "sensor", "Warnings per window", "stats",
     "{{ value_json.warnings }}", None, None, False),
    ("warning_active", "binary_sensor", "Warning", "events/warning",
     "{{ 'ON' if value_json.phase == 'start' else 'OFF' }}", None, None, False),
    ("problem", "binary_sensor", "Problem", "health",
     "{{ 'OFF' if value_json.overall == 'ok' else 'ON' }}", None, "problem", True),
    ("cpu_temperature", "sensor", "CPU temperature", "health",
     "{{ value_json.cpu_temp_c }}", "°C", "temperature", True),
    ("spool_depth", "sensor", "Messages waiting", "health",
     "{{ value_json.spool.depth }}", None, None, True),
)  # fmt: skip


def discovery_messages(
    pole_id: str, agent_version: str, prefix: str = "homeassistant"
) -> list[tuple[str, bytes]]:
    """``(topic, payload)`` of every discovery config for one pole."""
    node = f"spole-{pole_id}"
    device = Device(
        identifiers=[node],
        name=f"S-Pole {pole_id}",
        manufacturer="S-Pole",
        model="School-zone pole",
        sw_version=agent_version,
    )
    availability = [
        Availability(
            topic=topics.status(pole_id),
            value_template="{{ 'online' if value_json.state == 'online' else 'offline' }}",
        )
    ]
    out: list[tuple[str, bytes]] = []
    for obj, component, name, stream, template, unit, device_class, diagnostic in _ENTITIES:
        binary = component == "binary_sensor"
        config = DiscoveryConfig(
            name=name,
            unique_id=f"{node}-{obj}",
            object_id=f"{node.replace('-', '_')}_{obj}",
            state_topic=f"{topics.PREFIX}/{pole_id}/{stream}",
            value_template=template,
            availability=availability,
            device=device,
            unit_of_measurement=unit,
            device_class=device_class,
            state_class=None if binary else "measurement",
            payload_on="ON" if binary else None,
            payload_off="OFF" if binary else None,
            entity_category="diagnostic" if diagnostic else None,
        )
        payload = config.model_dump_json(exclude_none=True).encode()
        out.append((f"{prefix}/{component}/{node}/{obj}/config", payload))
    return out
