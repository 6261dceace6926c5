"""One JSON Schema file per payload, generated from the pydantic models into
``pole_agent/telemetry/schemas/`` (shipped in the package, so a city can validate against the
exact contract of the version it runs). ``python -m pole_agent.telemetry.schema_files`` rewrites
them; a test fails when a model and its file disagree.
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from pole_agent.telemetry.discovery import DiscoveryConfig
from pole_agent.telemetry.messages import (
    DecisionEvent,
    FaultEvent,
    PedestrianEvent,
    StatusOffline,
    StatusOnline,
    StatusStopped,
    VehicleEvent,
    WarningEvent,
)
from pole_agent.telemetry.report_messages import HealthReport, StatsReport

#: schema file stem -> (model, the topic it is published on)
PAYLOADS: dict[str, tuple[type[BaseModel], str]] = {
    "status-online": (StatusOnline, "spole/<pole_id>/status"),
    "status-stopped": (StatusStopped, "spole/<pole_id>/status"),
    "status-offline": (StatusOffline, "spole/<pole_id>/status"),
    "event-vehicle": (VehicleEvent, "spole/<pole_id>/events/vehicle"),
    "event-pedestrian": (PedestrianEvent, "spole/<pole_id>/events/pedestrian"),
    "event-warning": (WarningEvent, "spole/<pole_id>/events/warning"),
    "event-decision": (DecisionEvent, "spole/<pole_id>/events/decision"),
    "event-fault": (FaultEvent, "spole/<pole_id>/events/fault"),
    "stats": (StatsReport, "spole/<pole_id>/stats"),
    "health": (HealthReport, "spole/<pole_id>/health"),
    "ha-discovery": (DiscoveryConfig, "homeassistant/<component>/spole-<pole_id>/<object>/config"),
}

#: stream under spole/<pole_id>/ -> schema stems (status has one per state)
BY_STREAM: dict[str, tuple[str, ...]] = {
    "status": ("status-online", "status-stopped", "status-offline"),
    "events/vehicle": ("event-vehicle",),
    "events/pedestrian": ("event-pedestrian",),
    "events/warning": ("event-warning",),
    "events/decision": ("event-decision",),
    "events/fault": ("event-fault",),
    "stats": ("stats",),
    "health": ("health",),
}


def schema_of(stem: str) -> dict[str, Any]:
    model, topic = PAYLOADS[stem]
    schema = model.model_json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://spole.example/schemas/{stem}.schema.json",
        "description": f"Published on {topic}. " + schema.get("description", ""),
        **{k: v for k, v in schema.items() if k != "description"},
    }


def render(stem: str) -> str:
    return json.dumps(schema_of(stem), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def schema_dir() -> Path:
    return Path(str(resources.files("pole_agent.telemetry") / "schemas"))


def load(stem: str) -> dict[str, Any]:
    """A shipped schema file."""
    text = (resources.files("pole_agent.telemetry") / "schemas" / f"{stem}.schema.json").read_text(
        encoding="utf-8"
    )
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def write_all(target: Path) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for stem in PAYLOADS:
        path = target / f"{stem}.schema.json"
        path.write_text(render(stem), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_all(Path(sys.argv[1]) if len(sys.argv) > 1 else schema_dir()):
        print(written_path)
