"""The docs must stay true: generated parts current, every payload field documented."""

from __future__ import annotations

from pathlib import Path

from pole_agent.config_reference import render
from pole_agent.telemetry.messages import VehicleEvent, WarningRecord

ROOT = Path(__file__).resolve().parents[1]


def test_configuration_reference_is_current() -> None:
    committed = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == render(), (
        "docs/configuration.md is stale: run "
        ".venv/bin/python -m pole_agent.config_reference > docs/configuration.md"
    )


def test_every_vehicle_event_field_is_documented() -> None:
    mqtt_doc = (ROOT / "docs" / "mqtt.md").read_text(encoding="utf-8")
    for name in [*VehicleEvent.model_fields, *WarningRecord.model_fields]:
        assert f"`{name}`" in mqtt_doc, f"docs/mqtt.md does not describe `{name}`"


def test_readme_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["scripts/demo", "scripts/test"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "exec scripts/test" in ci
